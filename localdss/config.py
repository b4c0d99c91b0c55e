"""Turn a user's config file and preset files into the exact config dict DSS gives a component."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localdss.errors import ConfigError
from localdss.params import resolve_values
from localdss.plugin import Component, Plugin

LEVELS = ("instance", "project")


@dataclass(frozen=True)
class Preset:
    """A preset given to a component's PRESET param, with where it is defined: ``level`` "instance" (the plugin's
    settings, by an admin) or "project" (a project's plugin presets). ``values`` is a dict of the preset's param
    values or a JSON file path; CREDENTIAL_REQUEST params hold the running user's value. A bare dict or path given
    instead of a Preset is an instance-level preset."""

    values: Any
    level: str = "instance"
    name: str = "preset"


def resolve_preset(
    plugin: Plugin, param: Mapping[str, Any], values: Mapping[str, Any], problems: list[str], warnings: list[str],
    *, level: str = "instance", inline: bool = False,
) -> dict[str, Any]:
    """A preset's values checked against its parameter set (unknown keys rejected), as a flat dict.

    CREDENTIAL_REQUEST params take the per-user value straight from the preset file, as DSS
    resolves them for the running user: SINGLE_FIELD and OAUTH2 a string, BASIC {"user","password"}.
    Where the preset is defined must be allowed by its set: ``inline`` values (written in the component's config)
    need a set definable inline, a ``level`` "project" preset a set definable at project level, and a per-user
    credential cannot reach a project-level preset.
    """
    pset = plugin.parameter_set(param["parameterSetId"])
    where = f"preset '{param['name']}' (parameter set {pset.set_id})"
    if level not in LEVELS:
        problems.append(f"{where}: level {level!r} is not one of {list(LEVELS)}")
    # DSS docs plugins/reference/params.rst, "Preset parameters": a component's PRESET param offers inline values
    # only when the set allows it (defaultDefinableInline), and project-level presets only when the set allows
    # them (defaultDefinableAtProjectLevel)
    if inline and not pset.definable_inline:
        problems.append(f"{where}: the set is not definable inline (defaultDefinableInline is false): DSS only offers "
                        f"a preset here; give one with --preset {param['name']}=PRESET.json")
    if level == "project" and not pset.definable_at_project_level:
        problems.append(f"{where}: the set is not definable at project level (defaultDefinableAtProjectLevel is "
                        "false): DSS lets only an admin define its presets, in the plugin's settings")
    elif level == "project":
        # DSS stores a user's plugin credential under ["PLUGIN", plugin id, set id, preset name, param name], with
        # no project key (dataiku-api-client dataikuapi/dss/admin.py, DSSUserSettings.set_basic_plugin_credential
        # and set_oauth2_plugin_credential), so a project-level preset has no per-user credential to receive
        given = [p["name"] for p in pset.credential_requests if values.get(p["name"]) not in (None, "")]
        if given:
            problems.append(f"{where}: a project-level preset cannot receive the per-user credential "
                            f"{given[0]!r}: DSS keys per-user plugin credentials by plugin, set, preset and param, "
                            "without a project")
    return resolve_values(pset.params, values, where=where, reject_unknown=True, problems=problems,
                          warnings=warnings)


def resolve_config(
    plugin: Plugin,
    component: Component,
    config: Mapping[str, Any],
    presets: Mapping[str, Mapping[str, Any] | Preset],
    warnings: list[str],
) -> dict[str, Any]:
    """The component's config with presets resolved in place, defaults filled and types checked. ``presets``
    maps a PRESET param to a :class:`Preset` (or a dict of values: an instance-level preset); a dict written in
    ``config`` under a PRESET param is an inline value."""
    preset_params = {p["name"]: p for p in component.params if p.get("type") == "PRESET"}
    unknown = sorted(set(presets) - set(preset_params))
    if unknown:
        names = ", ".join(preset_params) or "none"
        raise ConfigError(f"{component.label} has no PRESET parameter {unknown[0]!r} (its PRESET params: {names})")
    problems: list[str] = []
    merged = dict(config)
    for name, param in preset_params.items():
        if name in presets:
            given = presets[name]
            preset = given if isinstance(given, Preset) else Preset(given)
            merged[name] = resolve_preset(plugin, param, preset.values, problems, warnings, level=preset.level)
        elif isinstance(merged.get(name), dict) and "mode" not in merged[name]:
            merged[name] = resolve_preset(plugin, param, merged[name], problems, warnings, inline=True)
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
