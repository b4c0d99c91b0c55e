"""Check param descriptors and resolve a config against them the way DSS hands it to plugin code.

What DSS does and localdss reproduces: defaults fill missing params; a mandatory param must have a
value (even when its form hides it); values keep their JSON types except numbers of INT/DOUBLE params,
which reach the code as Python floats (DSS round-trips them through Java doubles); unknown keys are
passed through (a stale config keeps them) with a warning.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Callable

from tools.dss_param_types import KNOWN_TYPES, STRING_LIST_TYPES, STRING_TYPES

CREDENTIAL_KINDS = frozenset({"SINGLE_FIELD", "BASIC", "OAUTH2"})


class InvalidValueError(ValueError):
    """A value that does not fit its param; the message never contains the value of a secret."""


def describe(desc: Mapping[str, Any]) -> str:
    """`'name' (Label)` for messages."""
    label = desc.get("label")
    return f"'{desc.get('name')}'" + (f" ({label})" if label and label != desc.get("name") else "")


# ---------------------------------------------------------------- descriptors


def check_descriptors(params: Any, where: str, *, in_parameter_set: bool, problems: list[str]) -> None:
    """Append to `problems` what DSS would reject when loading the descriptor's params."""
    if not isinstance(params, list):
        problems.append(f"{where}: 'params' must be a list")
        return
    seen: set[str] = set()
    for index, desc in enumerate(params):
        at = f"{where}: param #{index + 1}"
        if not isinstance(desc, dict):
            problems.append(f"{at} must be an object")
            continue
        ptype = desc.get("type")
        if ptype not in KNOWN_TYPES:
            problems.append(f"{at} {describe(desc)} has unknown type {ptype!r}")
            continue
        name = desc.get("name")
        if ptype != "SEPARATOR":
            if not isinstance(name, str) or not name:
                problems.append(f"{at} ({ptype}) needs a 'name'")
                continue
            if name in seen:
                problems.append(f"{at}: duplicate param name {name!r}")
            seen.add(name)
        _check_type_keys(desc, f"{where}: param {describe(desc)}", in_parameter_set, problems)


def _check_type_keys(desc: dict, at: str, in_parameter_set: bool, problems: list[str]) -> None:
    ptype = desc["type"]
    if ptype in ("SELECT", "MULTISELECT") and not desc.get("getChoicesFromPython"):
        choices = desc.get("selectChoices")
        if not isinstance(choices, list) or not all(isinstance(c, dict) and "value" in c for c in choices):
            problems.append(f"{at}: {ptype} needs 'selectChoices' [{{'value', 'label'}}] or getChoicesFromPython")
    elif ptype in ("PRESET", "PRESETS") and not isinstance(desc.get("parameterSetId"), str):
        problems.append(f"{at}: {ptype} needs a 'parameterSetId'")
    elif ptype == "CREDENTIAL_REQUEST":
        # DSS docs plugins/reference/params.rst, "Credential requests": a credential request is a param of a
        # parameter set's presets (what users fill in Profile & Settings > Credentials); Dataiku's api-connect
        # plugin declares its credential requests in parameter-sets/*/parameter-set.json "params" only
        if not in_parameter_set:
            problems.append(f"{at}: CREDENTIAL_REQUEST is only allowed in parameter sets, directly in their "
                            "'params' (not in a component, pluginParams or subParams)")
        kind = (desc.get("credentialRequestSettings") or {}).get("type")
        if kind not in CREDENTIAL_KINDS:
            problems.append(f"{at}: credentialRequestSettings.type must be one of {sorted(CREDENTIAL_KINDS)}")
    elif ptype == "OBJECT_LIST":  # a credential is per preset and param, never per list item
        check_descriptors(desc.get("subParams", []), at, in_parameter_set=False, problems=problems)
    if "defaultValue" in desc and ptype not in ("SEPARATOR", "PRESET", "PRESETS", "OBJECT_LIST"):
        try:
            convert(desc, desc["defaultValue"])
        except InvalidValueError as exc:
            problems.append(f"{at}: invalid defaultValue: {exc}")


# ---------------------------------------------------------------- values


def _number(desc: Mapping[str, Any], value: Any, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValueError(f"expects a number, got {type(value).__name__}")
    if integer and not float(value).is_integer():
        raise InvalidValueError(f"expects an integer, got {value!r}")
    low, high = (desc.get("minI"), desc.get("maxI")) if integer else (desc.get("minD"), desc.get("maxD"))
    if isinstance(low, (int, float)) and value < low:
        raise InvalidValueError(f"must be >= {low}, got {value!r}")
    if isinstance(high, (int, float)) and value > high:
        raise InvalidValueError(f"must be <= {high}, got {value!r}")
    return float(value)


def _choice_values(desc: Mapping[str, Any]) -> list[Any] | None:
    if desc.get("getChoicesFromPython"):
        return None
    return [c.get("value") for c in desc.get("selectChoices") or []]


def _check_choice(desc: Mapping[str, Any], value: Any) -> Any:
    choices = _choice_values(desc)
    if choices is not None and value not in choices:
        raise InvalidValueError(f"value {value!r} is not one of the choices {choices}")
    return value


def _string(desc: Mapping[str, Any], value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"expects a string, got {type(value).__name__}")
    return value


def _string_list(desc: Mapping[str, Any], value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValueError("expects a list of strings")
    return list(value)


def _credential(desc: Mapping[str, Any], value: Any) -> Any:
    kind = (desc.get("credentialRequestSettings") or {}).get("type")
    if kind == "BASIC":
        if not isinstance(value, dict):
            raise InvalidValueError('BASIC credential expects {"user": ..., "password": ...}')
        user = value.get("user", value.get("username"))
        if not isinstance(user, str) or not isinstance(value.get("password"), str):
            raise InvalidValueError('BASIC credential expects string "user" and "password"')
        return {"user": user, "password": value["password"]}
    if not isinstance(value, str):
        raise InvalidValueError(f"{kind} credential expects a string")
    return value


def _map(desc: Mapping[str, Any], value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidValueError(f"expects an object {{key: value}}, got {type(value).__name__}")
    return dict(value)


def _key_value_list(desc: Mapping[str, Any], value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) and "from" in v for v in value):
        raise InvalidValueError('expects a list of {"from": key, "to": value}')
    return [dict(v) for v in value]


def _multiselect(desc: Mapping[str, Any], value: Any) -> list:
    if not isinstance(value, list):
        raise InvalidValueError("expects a list")
    return [_check_choice(desc, v) for v in value]


def _list(desc: Mapping[str, Any], value: Any) -> list:
    if not isinstance(value, list):
        raise InvalidValueError(f"expects a list, got {type(value).__name__}")
    return list(value)


def _boolean(desc: Mapping[str, Any], value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"expects true or false, got {type(value).__name__}")
    return value


def _preset(desc: Mapping[str, Any], value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidValueError("expects a resolved preset; give it with --preset NAME=PRESET.json")
    return value


_CONVERTERS: dict[str, Callable[[Mapping[str, Any], Any], Any]] = {
    "INT": lambda d, v: _number(d, v, integer=True),
    "DOUBLE": lambda d, v: _number(d, v, integer=False),
    "INTS": lambda d, v: [_number({}, x, integer=True) for x in _list(d, v)],
    "DOUBLES": lambda d, v: [_number({}, x, integer=False) for x in _list(d, v)],
    "BOOLEAN": _boolean,
    "SELECT": _check_choice,
    "MULTISELECT": _multiselect,
    "MAP": _map,
    "KEY_VALUE_LIST": _key_value_list,
    "ARRAY": _list,
    "OBJECT_LIST": _list,
    "PRESET": _preset,
    "PRESETS": lambda d, v: [_preset(d, x) for x in _list(d, v)],
    "CREDENTIAL_REQUEST": _credential,
}


def convert(desc: Mapping[str, Any], value: Any) -> Any:
    """Check one non-null value against its param and return it as DSS would deliver it."""
    ptype = desc["type"]
    if ptype in STRING_TYPES:
        return _string(desc, value)
    if ptype in STRING_LIST_TYPES:
        return _string_list(desc, value)
    return _CONVERTERS[ptype](desc, value)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def resolve_values(
    params: list[dict],
    given: Mapping[str, Any],
    *,
    where: str,
    reject_unknown: bool,
    problems: list[str],
    warnings: list[str],
) -> dict[str, Any]:
    """Return the config the component sees; append errors to `problems`, notices to `warnings`."""
    known = {d["name"]: d for d in params if d.get("type") != "SEPARATOR"}
    resolved: dict[str, Any] = {}
    for key, value in given.items():
        if key in known:
            resolved[key] = copy.deepcopy(value)
        elif reject_unknown:
            problems.append(f"{where}: unknown parameter {key!r} (known: {', '.join(known) or 'none'})")
        else:
            warnings.append(f"{where}: unknown parameter {key!r} is passed through unchanged")
            resolved[key] = copy.deepcopy(value)
    for name, desc in known.items():
        if name not in resolved and "defaultValue" in desc:
            resolved[name] = copy.deepcopy(desc["defaultValue"])
    for name, desc in known.items():
        value = resolved.get(name)
        if _is_empty(value):
            # DSS docs (plugins/reference/params.rst): a mandatory parameter "must be supplied to use the
            # component". Whether DSS skips one its form hides is not documented, so localdss takes the stricter
            # reading and asks for it even when hidden: a component must not hide a mandatory parameter.
            if desc.get("mandatory"):
                hint = f": give --preset {name}=PRESET.json" if desc["type"] == "PRESET" else ""
                problems.append(f"{where}: parameter {describe(desc)} is mandatory but has no value{hint}")
            if value is None:
                continue
        try:
            resolved[name] = convert(desc, value)
        except InvalidValueError as exc:
            problems.append(f"{where}: parameter {describe(desc)} {exc}")
            continue
        if desc["type"] == "OBJECT_LIST":
            resolved[name] = _resolve_items(desc, resolved[name], where, problems, warnings)
    return resolved


def _resolve_items(desc: dict, items: list, where: str, problems: list[str], warnings: list[str]) -> list:
    out = []
    for index, item in enumerate(items):
        at = f"{where}: {desc['name']}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at} must be an object")
            continue
        sub = desc.get("subParams", [])
        out.append(
            resolve_values(sub, item, where=at, reject_unknown=False, problems=problems, warnings=warnings)
        )
    return out
