"""`dataiku.customrecipe`: what a plugin recipe knows about its run (env vars set by the launcher)."""

from __future__ import annotations

import json
import os
from typing import Any

from dataiku.core.flow import get_flow


def _flow() -> dict[str, Any]:
    spec = get_flow()
    if spec is None:
        raise Exception("Not running inside a recipe: no flow spec (DKUFLOW_SPEC)")
    return spec


def _names(side: str, role: Any, full: bool) -> list[str]:
    key = "fullName" if full else "smartName"
    return [entry[key] for entry in _flow()[side] if role is None or entry["role"] == role]


def get_input_names(full: bool = True) -> list[str]:
    return _names("in", None, full)


def get_output_names(full: bool = True) -> list[str]:
    return _names("out", None, full)


def get_input_names_for_role(role: str, full: bool = True) -> list[str]:
    """Full names (`PROJECT.name`) of the datasets/folders given for an input role, in order."""
    return _names("in", role, full)


def get_output_names_for_role(role: str, full: bool = True) -> list[str]:
    """Full names (`PROJECT.name`) of the datasets/folders given for an output role, in order."""
    return _names("out", role, full)


def _env_json(name: str) -> Any:
    value = os.environ.get(name)
    if value is None:
        raise Exception(f"Not running inside a recipe: {name} is not set")
    return json.loads(value)


def get_recipe_config() -> dict[str, Any]:
    """The recipe's params, presets resolved; INT values arrive as floats, as in DSS."""
    return _env_json("DKU_CUSTOM_RECIPE_CONFIG")


def get_plugin_config() -> dict[str, Any]:
    """The plugin-level (admin) settings from plugin.json params."""
    return _env_json("DKU_CUSTOM_RECIPE_PLUGIN_CONFIG")


def get_recipe_resource() -> str:
    """The plugin's resource/ directory."""
    return os.environ.get("DKU_CUSTOM_RESOURCE_FOLDER", "")
