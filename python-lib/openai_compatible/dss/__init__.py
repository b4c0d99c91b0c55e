"""The bridge to DSS: the only package of the plugin that imports ``dataiku`` (lazily, so that
notebooks outside DSS only need ``dataikuapi``).

Components call one function here and stay a few lines long:

- :mod:`.config`: a component's config to a preset, numbers and a client (``client_for``);
- :mod:`.preset_sets`: the two connection parameter sets (shared key, per-user keys) and which one is chosen;
- :mod:`.logs`: job-log friendly logging;
- :mod:`.recipe`: runs a row task over an input dataset in chunks (``run_row_recipe``);
- :mod:`.folder`: the answer cache kept in a managed folder;
- :mod:`.task_config`: the recipes' and the generate connector's parameters as tasks;
- :mod:`.choices`: the model list of a component's form;
- :mod:`.macro`: the test-connection macro's report;
- :mod:`.presets`: connection presets and user secrets through the DSS API client (notebooks);
- :mod:`.mesh_client`: the notebook calls over a project's LLM Mesh, for users who may not read presets;
- :mod:`.mesh_base`: the LLM Mesh base classes of the running DSS, or the DSS version the components need.
"""
from .choices import model_choices
from .config import client_for, optional_float, optional_int, preset_from_config
from .folder import CACHE_FILE, FolderStore
from .logs import setup_logging
from .macro import connection_test_report
from .presets import (
    PARAMETER_SET_ID,
    PLUGIN_ID,
    current_project_key,
    dss_api_client,
    find_connection_preset,
    notebook_preset,
    user_secret,
    user_secret_name,
)
from .recipe import run_row_recipe
from .task_config import (
    classify_task_from_config,
    embed_task_from_config,
    generate_task_from_config,
    prompt_task_from_config,
)

__all__ = [
    "CACHE_FILE", "FolderStore", "PARAMETER_SET_ID", "PLUGIN_ID", "classify_task_from_config", "client_for",
    "connection_test_report", "current_project_key", "dss_api_client", "embed_task_from_config",
    "find_connection_preset", "generate_task_from_config", "model_choices", "notebook_preset", "optional_float",
    "optional_int", "preset_from_config", "prompt_task_from_config", "run_row_recipe", "setup_logging",
    "user_secret", "user_secret_name",
]
