"""Warn when a COLUMN/COLUMNS param names a column its input role does not have.

DSS's form only offers existing columns but does not re-check a saved config when the input schema
changes; the plugin code then fails. localdss warns before the run so the cause is obvious.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localdss.plugin import Component
from localdss.roles import Flow


def dataset_columns(location: Mapping[str, Any]) -> list[str] | None:
    """Column names of an input dataset (schema file first), or None when unreadable."""
    try:
        schema_file = Path(location["schemaPath"])
        if schema_file.is_file():
            return [c["name"] for c in json.loads(schema_file.read_text(encoding="utf-8"))]
        if location["format"] == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(location["path"]).names)
        with open(location["path"], newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except Exception:
        return None


def check_column_params(component: Component, config: Mapping[str, Any], flow: Flow, warnings: list[str]) -> None:
    """Append a warning for each COLUMN(S) value missing from the datasets of its `columnRole`."""
    for desc in component.params:
        if desc.get("type") not in ("COLUMN", "COLUMNS") or not desc.get("columnRole"):
            continue
        value = config.get(desc["name"])
        wanted = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        wanted = [w for w in wanted if w]
        locations = [
            loc for loc in flow.locations.values()
            if loc["io"] == "in" and loc["role"] == desc["columnRole"] and loc["type"] == "DATASET"
        ]
        columns: set[str] = set()
        for loc in locations:
            names = dataset_columns(loc)
            if names is None:
                return
            columns.update(names)
        for column in wanted:
            if locations and column not in columns:
                warnings.append(
                    f"parameter '{desc['name']}': column {column!r} is not in input role "
                    f"'{desc['columnRole']}' (columns: {', '.join(sorted(columns))})"
                )
