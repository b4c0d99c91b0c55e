"""The flow spec of the running recipe (`DKUFLOW_SPEC`), read when asked so tests can change it."""

from __future__ import annotations

import json
import os
from typing import Any, Optional


def get_flow() -> Optional[dict[str, Any]]:
    """The recipe's `{"in": [...], "out": [...]}`, or None outside a recipe."""
    spec = os.environ.get("DKUFLOW_SPEC")
    return json.loads(spec) if spec else None


def entry(full_name: str, io: str) -> Optional[dict[str, Any]]:
    """The flow spec entry of an input ("in") or output ("out") object, None when absent."""
    spec = get_flow()
    for item in (spec or {}).get(io, []):
        if item.get("fullName") == full_name:
            return item
    return None


def in_recipe() -> bool:
    return get_flow() is not None


def __getattr__(name: str) -> Any:
    if name == "FLOW":
        return get_flow()
    raise AttributeError(name)
