"""localdss: run a DSS plugin's real components outside DSS, on local files.

A development tool, never shipped in the plugin: it validates descriptors and configs as DSS does,
resolves presets, and runs recipe.py / connector.py / runnable.py / llm.py unchanged in a child
process with a stand-in `dataiku` package (localdss/runtime/dataiku). See localdss/README.md.
"""

from localdss.api import (
    list_components,
    parse_json_lines,
    run_connector,
    run_llm,
    run_macro,
    run_partitions,
    run_recipe,
)
from localdss.config import Preset
from localdss.credentials import CredentialRequest, profile_credentials
from localdss.errors import EXIT_COMPONENT_FAILED, EXIT_CONFIG_ERROR, EXIT_OK, ConfigError
from localdss.launcher import RUNTIME_DIR
from localdss.masking import mask_values
from localdss.plugin import load_plugin
from localdss.session import session

__all__ = [
    "CredentialRequest", "Preset", "profile_credentials",
    "EXIT_COMPONENT_FAILED", "EXIT_CONFIG_ERROR", "EXIT_OK", "RUNTIME_DIR", "ConfigError", "list_components",
    "load_plugin", "mask_values", "parse_json_lines", "run_connector", "run_llm", "run_macro", "run_partitions",
    "run_recipe",
    "session",
]
