"""Project-level helpers of `dataiku`: project key, variables and the DSS API client."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from dataiku.core.locations import default_project_key

__all__ = ["api_client", "default_project_key", "get_custom_variables", "get_flow_variables",
           "import_from_plugin", "set_remote_dss", "use_plugin_libs"]


class NotAvailableInLocalDSSError(RuntimeError):
    """A DSS service localdss cannot provide (there is no DSS behind it)."""


def get_custom_variables(project_key: Any = None, typed: bool = False) -> dict[str, Any]:
    """Project variables; localdss has none."""
    return {}


def get_flow_variables() -> dict[str, Any]:
    """The activity's flow variables (DKU_DST_<dimension>, DKU_SRC_...; DSS partitions/variables.rst),
    from `DKUFLOW_VARIABLES` as Dataiku.jl reads them (src/flow.jl); {} outside partitioned flows."""
    import json

    return json.loads(os.environ.get("DKUFLOW_VARIABLES") or "{}")


def set_remote_dss(url: str, api_key: str, no_check_certificate: bool = False) -> None:
    """Point api_client() at a real DSS, as in DSS's own package."""
    os.environ["DKU_DSS_URL"] = url
    os.environ["DKU_API_KEY"] = api_key
    if no_check_certificate:
        os.environ["DKU_NO_CHECK_CERTIFICATE"] = "1"


def api_client() -> Any:
    """A dataikuapi.DSSClient when DKU_DSS_URL and DKU_API_KEY are set; else a clear error."""
    url, key = os.environ.get("DKU_DSS_URL"), os.environ.get("DKU_API_KEY")
    if not url or not key:
        raise NotAvailableInLocalDSSError(
            "dataiku.api_client() is not available in localdss: there is no DSS instance. "
            "Set DKU_DSS_URL and DKU_API_KEY to talk to a real DSS."
        )
    import dataikuapi

    client = dataikuapi.DSSClient(url, key)
    if os.environ.get("DKU_NO_CHECK_CERTIFICATE"):
        client._session.verify = False
    return client


def use_plugin_libs(plugin_id: str) -> None:
    """The plugin's python-lib is already on sys.path under localdss; nothing to add."""


def import_from_plugin(plugin_id: str, package_name: str) -> Any:
    """Import a package of the plugin's python-lib."""
    if package_name in sys.modules:
        return sys.modules[package_name]
    return importlib.import_module(package_name)
