"""Turn a user's config file and preset files into the exact config dict DSS gives a component."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localdss.errors import ConfigError
from localdss.params import resolve_values
from localdss.plugin import Component, Plugin


def resolve_preset(
    plugin: Plugin, param: Mapping[str, Any], values: Mapping[str, Any], problems: list[str], warnings: list[str]
) -> dict[str, Any]:
    """A preset's values checked against its parameter set (unknown keys rejected), as a flat dict.

    CREDENTIAL_REQUEST params take the per-user value straight from the preset file, as DSS
    resolves them for the running user: SINGLE_FIELD and OAUTH2 a string, BASIC {"user","password"}.
    """
    pset = plugin.parameter_set(param["parameterSetId"])
    where = f"preset '{param['name']}' (parameter set {pset.set_id})"
    return resolve_values(pset.params, values, where=where, reject_unknown=True, problems=problems,
                          warnings=warnings)


def resolve_config(
    plugin: Plugin,
    component: Component,
    config: Mapping[str, Any],
    presets: Mapping[str, Mapping[str, Any]],
    warnings: list[str],
) -> dict[str, Any]:
    """The component's config with presets resolved in place, defaults filled and types checked."""
    preset_params = {p["name"]: p for p in component.params if p.get("type") == "PRESET"}
    unknown = sorted(set(presets) - set(preset_params))
    if unknown:
        names = ", ".join(preset_params) or "none"
        raise ConfigError(f"{component.label} has no PRESET parameter {unknown[0]!r} (its PRESET params: {names})")
    problems: list[str] = []
    merged = dict(config)
    for name, param in preset_params.items():
        if name in presets:
            merged[name] = resolve_preset(plugin, param, presets[name], problems, warnings)
        elif isinstance(merged.get(name), dict) and "mode" not in merged[name]:
            merged[name] = resolve_preset(plugin, param, merged[name], problems, warnings)
        elif merged.get(name) is not None:
            problems.append(
                f"{component.label}: parameter '{name}' must be given with --preset {name}=PRESET.json "
                "(a JSON object of the preset's param values)"
            )
            merged.pop(name)
    resolved = resolve_values(component.params, merged, where=component.label, reject_unknown=False,
                              problems=problems, warnings=warnings)
    if problems:
        raise ConfigError(f"invalid configuration for {component.label}", problems)
    return resolved


def resolve_plugin_config(plugin: Plugin, values: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    """plugin.json's admin-level params (what get_plugin_config() returns), defaults filled."""
    problems: list[str] = []
    resolved = resolve_values(plugin.params, values, where="plugin settings", reject_unknown=False,
                              problems=problems, warnings=warnings)
    if problems:
        raise ConfigError("invalid plugin settings", problems)
    return resolved
