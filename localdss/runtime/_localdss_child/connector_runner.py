"""Read a plugin dataset as DSS does: instantiate the Connector, get its schema, drain its rows.

The rows go to the output file in chunks. Without a read schema, rows are spooled to a temporary
JSON-lines file first and the schema is inferred from all of them, so memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from _localdss_child.loading import find_subclass, load_module

CHUNK = 1000


def _value_type(value: Any) -> Optional[str]:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, (dt.datetime, dt.date)):
        return "date"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "string"


def _merge(types: set[str]) -> str:
    if not types:
        return "string"
    if len(types) == 1:
        return next(iter(types))
    return "double" if types <= {"bigint", "double"} else "string"


def _chunks(rows: Iterable[dict[str, Any]], names: list[str]) -> Iterator[Any]:
    import pandas as pd

    batch: list[list[Any]] = []
    for row in rows:
        batch.append([row.get(n) for n in names])
        if len(batch) >= CHUNK:
            yield pd.DataFrame(batch, columns=names, dtype=object)
            batch = []
    if batch:
        yield pd.DataFrame(batch, columns=names, dtype=object)


def _limited(rows: Iterable[Any], limit: int) -> Iterator[dict[str, Any]]:
    for count, row in enumerate(rows):
        if limit > 0 and count >= limit:
            return
        if not isinstance(row, dict):
            raise TypeError(f"generate_rows must yield dicts, got {type(row).__name__}")
        yield row


def _write(location: dict[str, Any], schema: list[dict[str, Any]], chunks: Iterable[Any]) -> int:
    from dataiku.core.schema import write_schema_file
    from dataiku.core.writing import TableFile

    write_schema_file(Path(location["schemaPath"]), schema)
    table = TableFile(location["path"], location["format"], schema)
    try:
        for df in chunks:
            table.append(df)
    finally:
        table.close()
    return table.rows


def _declared(rows: Iterator[dict[str, Any]], schema: list[dict[str, Any]], location: dict[str, Any]) -> int:
    names = [c["name"] for c in schema]
    warned: set[str] = set()

    def checked() -> Iterator[dict[str, Any]]:
        for row in rows:
            extra = set(row) - set(names) - warned
            if extra:
                warned.update(extra)
                print(f"[localdss] warning: rows carry columns not in the read schema, dropped: {sorted(extra)}",
                      file=sys.stderr)
            yield row

    return _write(location, schema, _chunks(checked(), names))


def _inferred(rows: Iterator[dict[str, Any]], location: dict[str, Any]) -> int:
    seen: dict[str, set[str]] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for row in rows:
            for key, value in row.items():
                kinds = seen.setdefault(str(key), set())
                kind = _value_type(value)
                if kind:
                    kinds.add(kind)
            spool.write(json.dumps({str(k): v for k, v in row.items()}, default=str) + "\n")
        spool.seek(0)
        schema = [{"name": name, "type": _merge(kinds)} for name, kinds in seen.items()]
        return _write(location, schema, _chunks((json.loads(line) for line in spool), list(seen)))


def run(job: dict[str, Any]) -> None:
    from dataiku.connector import Connector
    from dataiku.core.schema import normalize_columns

    module = load_module(job["code_path"], job["module_name"])
    cls = find_subclass(module, (Connector,), "connector.py")
    connector = cls(job["config"], job["plugin_config"])
    read_schema = connector.get_read_schema()
    limit = int(job["options"].get("limit") or -1)
    rows = connector.generate_rows(dataset_schema=read_schema, dataset_partitioning=connector.get_partitioning(),
                                   partition_id=None, records_limit=limit)
    location = job["options"]["output"]
    if read_schema is not None:
        schema = normalize_columns(read_schema, "the connector's read schema")
        count = _declared(_limited(rows, limit), schema, location)
    else:
        count = _inferred(_limited(rows, limit), location)
    print(f"[localdss] connector wrote {count} rows to {location['path']}", file=sys.stderr)
