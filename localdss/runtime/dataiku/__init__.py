"""localdss stand-in for DSS's `dataiku` package: the API plugin components use, on local files.

Not the real package. Datasets are CSV/Parquet files, folders are directories, and the run's
inputs/outputs come from the localdss launcher (see localdss/README.md).
"""

from __future__ import annotations

from dataiku.core.dataset import Dataset, DatasetWriter
from dataiku.core.managed_folder import Folder
from dataiku.core.platform import (
    NotAvailableInLocalDSSError,
    api_client,
    default_project_key,
    get_custom_variables,
    get_flow_variables,
    import_from_plugin,
    set_remote_dss,
    use_plugin_libs,
)

LOCALDSS = True
# DSS partitions/variables.rst: "all variables are available in a dictionary called dku_flow_variables".
dku_flow_variables = get_flow_variables()

__all__ = [
    "LOCALDSS", "Dataset", "DatasetWriter", "Folder", "NotAvailableInLocalDSSError", "api_client",
    "default_project_key", "get_custom_variables", "get_flow_variables", "import_from_plugin",
    "set_remote_dss", "use_plugin_libs",
]
