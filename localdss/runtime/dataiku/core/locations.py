"""Where the datasets and folders of this run live, as set by the localdss launcher.

DSS resolves a name through its backend; localdss reads `LOCALDSS_LOCATIONS`, a JSON map from full
name to a file or directory. In a recipe (a flow spec is set), only the recipe's inputs and outputs
may be used, as in DSS.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from dataiku.core import flow


def default_project_key() -> str:
    """The current project key (`DKU_CURRENT_PROJECT_KEY`, LOCALPROJECT under localdss)."""
    key = os.environ.get("DKU_CURRENT_PROJECT_KEY")
    if not key:
        raise Exception("Default project key is not specified (no DKU_CURRENT_PROJECT_KEY in env)")
    return key


def full_name(name: str, project_key: Optional[str] = None) -> tuple[str, str, str]:
    """(full name, project key, short name) of `name` or `PROJECT.name`."""
    if "." in name:
        key, short = name.split(".", 1)
    else:
        key, short = project_key or default_project_key(), name
    return f"{key}.{short}", key, short


def _all() -> dict[str, dict[str, Any]]:
    return json.loads(os.environ.get("LOCALDSS_LOCATIONS") or "{}")


def find(object_type: str, name: str, project_key: Optional[str], ignore_flow: bool) -> dict[str, Any]:
    """The location of a DATASET or MANAGED_FOLDER; raises as DSS does for an object out of the flow."""
    full, _, _ = full_name(name, project_key)
    what = "Dataset" if object_type == "DATASET" else "Managed folder"
    location = _all().get(full)
    if location is None or location["type"] != object_type:
        spec = flow.get_flow()
        if spec is not None and not ignore_flow:
            raise Exception(f"{what} {full} cannot be used : declare it as input or output of your recipe")
        raise Exception(
            f"{what} {full} is not available in localdss: only the inputs and outputs given to the "
            "localdss command are backed by files"
        )
    return location
