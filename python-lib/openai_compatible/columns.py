"""Output columns: logical names ('response', 'error_type') mapped to unique dataset column names."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from .errors import SettingsError


@dataclass(frozen=True)
class OutputColumn:
    """One column a task adds: its logical name, DSS storage type and description."""

    name: str
    type: str
    description: str
    suffix: str = ""  # the dataset column is <prefix>_<suffix or name>


class ColumnLayout:
    """Gives each added column a name ``<prefix>_<name>`` that never clashes with an input column."""

    def __init__(self, prefix: str, input_columns: Iterable[str], columns: Sequence[OutputColumn]) -> None:
        prefix = (prefix or "").strip()
        if not prefix:
            raise SettingsError("Parameter 'output_prefix' is empty: give a prefix for the added columns, e.g. llm.")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", prefix):
            raise SettingsError(f"Parameter 'output_prefix' is '{prefix}': use letters, digits, '_' or '-'.")
        taken = set(input_columns)
        self.columns = list(columns)
        self.names: dict[str, str] = {}
        for column in self.columns:
            base = f"{prefix}_{column.suffix or column.name}"
            name, suffix = base, 1
            while name in taken:
                name, suffix = f"{base}_{suffix}", suffix + 1
            taken.add(name)
            self.names[column.name] = name

    def schema(self) -> list[dict]:
        """DSS schema entries (name, type, comment) for the added columns."""
        return [{"name": self.names[c.name], "type": c.type, "comment": c.description} for c in self.columns]

    def rename(self, values: dict) -> dict:
        """A row's added values keyed by their dataset column names (missing ones become None)."""
        return {self.names[c.name]: values.get(c.name) for c in self.columns}


def typed_column(values: list, dss_type: str, index: Optional[Any] = None) -> Any:
    """A pandas Series of ``values`` with the nullable dtype matching a DSS storage type."""
    import pandas as pd

    if dss_type in ("bigint", "int"):
        array = pd.array(values, dtype="Int64")
    elif dss_type in ("double", "float"):
        array = pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    elif dss_type == "boolean":
        array = pd.array(values, dtype="boolean")
    else:
        return pd.Series(values, dtype="object", index=index)
    return pd.Series(array, index=index)
