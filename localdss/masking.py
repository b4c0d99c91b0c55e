"""Mask secrets before a config is shown: DSS hands PASSWORD and credential values to code in clear."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from localdss.plugin import Plugin
from tools.dss_param_types import SECRET_TYPES

MASK = "********"
# Header-like entries of MAP / KEY_VALUE_LIST params (extra headers, query params) often carry keys.
_SECRET_KEY = re.compile(r"auth|key|token|secret|passw|cookie|signature|credential", re.IGNORECASE)


def _mask_value(value: Any) -> Any:
    return value if value in (None, "", {}) else MASK


def _mask_pairs(ptype: str, value: Any) -> Any:
    if ptype == "MAP" and isinstance(value, dict):
        return {k: (_mask_value(v) if _SECRET_KEY.search(str(k)) else v) for k, v in value.items()}
    if ptype == "KEY_VALUE_LIST" and isinstance(value, list):
        return [
            {**item, "to": _mask_value(item.get("to"))}
            if isinstance(item, dict) and _SECRET_KEY.search(str(item.get("from", "")))
            else item
            for item in value
        ]
    return value


def mask_values(values: Mapping[str, Any], params: list[dict], plugin: Plugin | None = None) -> dict[str, Any]:
    """A copy of `values` with secret params masked, recursing into presets and OBJECT_LIST items."""
    by_name = {p.get("name"): p for p in params if isinstance(p, dict)}
    masked = copy.deepcopy(dict(values))
    for name, value in masked.items():
        desc = by_name.get(name)
        if desc is None:
            if _SECRET_KEY.search(name) and isinstance(value, str):
                masked[name] = _mask_value(value)
            continue
        ptype = desc.get("type")
        if ptype in SECRET_TYPES:
            masked[name] = _mask_value(value)
        elif ptype in ("MAP", "KEY_VALUE_LIST"):
            masked[name] = _mask_pairs(ptype, value)
        elif ptype == "OBJECT_LIST" and isinstance(value, list):
            masked[name] = [
                mask_values(v, desc.get("subParams", []), plugin) if isinstance(v, dict) else v for v in value
            ]
        elif ptype in ("PRESET", "PRESETS"):
            items = value if isinstance(value, list) else [value]
            done = [_mask_preset(v, plugin, desc.get("parameterSetId")) if isinstance(v, dict) else v for v in items]
            masked[name] = done if isinstance(value, list) else done[0]
    return masked


def _mask_preset(values: dict, plugin: Plugin | None, set_id: Any) -> dict:
    try:
        set_params = plugin.parameter_set(str(set_id)).params if plugin is not None else None
    except Exception:
        set_params = None
    if set_params is None:
        # Unknown parameter set: mask every value, better too much than a leaked key.
        return {k: _mask_value(v) for k, v in values.items()}
    return mask_values(values, set_params, plugin)
