"""DSS column types and schemas: checking, the `<stem>.schema.json` file, and pandas/Arrow mappings."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

DSS_TYPES = frozenset({
    "string", "int", "bigint", "smallint", "tinyint", "double", "float", "boolean", "date", "array",
    "object", "map", "geopoint", "geometry",
})
INT_TYPES = frozenset({"int", "bigint", "smallint", "tinyint"})
FLOAT_TYPES = frozenset({"double", "float"})
JSON_TYPES = frozenset({"array", "object", "map"})

Schema = list[dict[str, Any]]


def normalize_columns(columns: Any, dataset: str) -> Schema:
    """Check a schema given to write_schema and keep what DSS stores: name, type and comment."""
    if isinstance(columns, dict) and isinstance(columns.get("columns"), list):
        columns = columns["columns"]
    if not isinstance(columns, list):
        raise TypeError(f"Schema of {dataset} must be a list of {{'name', 'type'}} dicts, not {type(columns).__name__}")
    out: Schema = []
    seen: set[str] = set()
    for index, column in enumerate(columns):
        if not isinstance(column, dict) or not isinstance(column.get("name"), str) or not column["name"]:
            raise ValueError(f"Schema of {dataset}: column #{index + 1} needs a non-empty string 'name'")
        name, ctype = column["name"], column.get("type", "string")
        if ctype not in DSS_TYPES:
            raise ValueError(f"Schema of {dataset}: column {name!r} has unknown type {ctype!r} "
                             f"(DSS types: {', '.join(sorted(DSS_TYPES))})")
        if name in seen:
            raise ValueError(f"Schema of {dataset}: duplicate column name {name!r}")
        seen.add(name)
        entry: dict[str, Any] = {"name": name, "type": ctype}
        comment = column.get("comment")
        if comment not in (None, ""):
            entry["comment"] = str(comment)
        out.append(entry)
    return out


def read_schema_file(path: Path) -> Schema | None:
    """The schema stored beside a dataset, or None when there is none."""
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        return normalize_columns(json.load(handle), path.name)


def write_schema_file(path: Path, schema: Schema) -> None:
    """Replace the schema file atomically, so a reader never sees half of it. The partitions of one dataset share
    its schema and may be built at once (several activities), so each writer has a temporary file of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(schema, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def dss_type_of_dtype(dtype: Any) -> str:
    """The DSS type `write_schema_from_dataframe` gives a pandas dtype."""
    import pandas.api.types as ptypes

    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        size = getattr(dtype, "itemsize", 8)
        return {1: "tinyint", 2: "smallint", 4: "int"}.get(size, "bigint")
    if ptypes.is_float_dtype(dtype):
        return "float" if getattr(dtype, "itemsize", 8) == 4 else "double"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "date"
    return "string"


def schema_of_dataframe(df: Any) -> Schema:
    """A schema from a DataFrame's columns and dtypes (no comments, as in DSS)."""
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"DataFrame has duplicate column names: {names}")
    return [{"name": str(name), "type": dss_type_of_dtype(dtype)} for name, dtype in df.dtypes.items()]


def dss_type_of_arrow(arrow_type: Any) -> str:
    """The DSS type of a Parquet/Arrow column, for a Parquet file without a schema file."""
    import pyarrow as pa

    checks = [
        (pa.types.is_boolean, "boolean"), (pa.types.is_int8, "tinyint"), (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "int"), (pa.types.is_integer, "bigint"), (pa.types.is_float32, "float"),
        (pa.types.is_floating, "double"), (pa.types.is_timestamp, "date"), (pa.types.is_date, "date"),
        (pa.types.is_list, "array"), (pa.types.is_large_list, "array"), (pa.types.is_struct, "object"),
        (pa.types.is_map, "map"),
    ]
    for check, dss_type in checks:
        if check(arrow_type):
            return dss_type
    return "string"


def arrow_type_of(dss_type: str) -> Any:
    """The Arrow type localdss writes a DSS column as in Parquet (JSON text for nested types)."""
    import pyarrow as pa

    return {
        "boolean": pa.bool_(), "tinyint": pa.int8(), "smallint": pa.int16(), "int": pa.int32(),
        "bigint": pa.int64(), "float": pa.float32(), "double": pa.float64(),
        "date": pa.timestamp("ms", tz="UTC"),
    }.get(dss_type, pa.string())
