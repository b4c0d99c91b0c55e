"""Append DataFrames to a CSV or Parquet file in a fixed DSS schema, one flushed chunk at a time.

A CSV output is readable after every chunk, so a killed job leaves the rows written so far (as a
DSS job that dies mid-way). Values are written as DSS stores them: null as an empty cell, booleans
as true/false, integers without a decimal part, dates as ISO-8601 UTC with milliseconds, and
arrays/objects/maps as JSON text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

from dataiku.core.schema import FLOAT_TYPES, INT_TYPES, JSON_TYPES, Schema, arrow_type_of


def is_null(value: Any) -> bool:
    """True for None, NaN, NaT and pd.NA; False for containers (a list is a value)."""
    if value is None or isinstance(value, (str, bytes, list, dict, tuple)):
        return value is None
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        result = pd.isna(value)
        return bool(result) if not hasattr(result, "__len__") else False
    except (TypeError, ValueError):
        return False


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _to_json(value: Any) -> str:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def format_date(value: Any) -> str:
    """ISO-8601 UTC with milliseconds and a Z, DSS's date text."""
    import pandas as pd

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)) or type(value).__name__ == "ndarray":
        return _to_json(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return format_date(value)
    return str(value)


def _integer(value: Any) -> str:
    if isinstance(value, str):
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _floating(value: Any) -> str:
    if isinstance(value, str):
        return value
    number = float(value)
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return str(value) if type(value).__name__ == "float32" else repr(number)


def _boolean(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    return "true" if value else "false"


def _date(value: Any) -> str:
    return value if isinstance(value, str) else format_date(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else _to_json(value)


def text_formatter(dss_type: str) -> Callable[[Any], Optional[str]]:
    """The function that turns one cell into its CSV text (None for null)."""
    if dss_type in INT_TYPES:
        fmt = _integer
    elif dss_type in FLOAT_TYPES:
        fmt = _floating
    elif dss_type == "boolean":
        fmt = _boolean
    elif dss_type == "date":
        fmt = _date
    elif dss_type in JSON_TYPES:
        fmt = _json
    else:
        fmt = _text
    return lambda value: None if is_null(value) else fmt(value)


def format_column(series: Any, dss_type: str) -> Any:
    """A column as CSV cells; plain text, integer, float and boolean columns skip the per-cell path."""
    import numpy as np
    import pandas as pd
    from pandas.api import types as ptypes

    dtype = series.dtype
    if ptypes.is_object_dtype(dtype):
        if dss_type not in JSON_TYPES and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
            return series.where(series.notna(), None)
    elif ptypes.is_bool_dtype(dtype) and dss_type in ("boolean", "string"):
        return series.map({True: "true", False: "false"}).astype(object)
    elif ptypes.is_integer_dtype(dtype) and (dss_type in INT_TYPES or dss_type == "string"):
        if not series.isna().any():
            return series.astype(str).astype(object)
    elif ptypes.is_float_dtype(dtype) and dss_type in FLOAT_TYPES:
        if not np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).any():
            return series
    return series.map(text_formatter(dss_type)).astype(object)


def check_frame_columns(df: Any, schema: Schema, dataset: str) -> None:
    """DSS writes a DataFrame by position: its columns must be the schema's, in the same order."""
    names = [c["name"] for c in schema]
    got = [str(c) for c in df.columns]
    if got != names:
        missing = [n for n in names if n not in got]
        extra = [n for n in got if n not in names]
        detail = f"missing {missing}, " if missing else ""
        detail += f"not in schema {extra}, " if extra else ""
        raise ValueError(
            f"Cannot write to {dataset}: the DataFrame columns {got} do not match the dataset schema {names} "
            f"({detail or 'different order, '}DSS writes DataFrames by position; set the schema first, e.g. "
            "with write_schema_from_dataframe)"
        )


class TableFile:
    """One output data file being written: truncated on open, appended to chunk by chunk."""

    def __init__(self, path: str, fmt: str, schema: Schema) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.schema = [dict(c) for c in schema]
        self.rows = 0
        self._handle: Any = None
        self._parquet: Any = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            self._handle = open(self.path, "w", newline="", encoding="utf-8")
            csv.writer(self._handle, lineterminator="\n").writerow([c["name"] for c in self.schema])
            self._handle.flush()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow_schema = pa.schema([(c["name"], arrow_type_of(c["type"])) for c in self.schema])
            self._parquet = pq.ParquetWriter(str(self.path), arrow_schema)

    def append(self, df: Any) -> None:
        """Write the rows of `df` (columns already checked) and flush them to the OS."""
        if len(df.index) == 0:
            return
        if self.fmt == "csv":
            import pandas as pd

            cells = {c["name"]: format_column(df.iloc[:, i], c["type"]) for i, c in enumerate(self.schema)}
            pd.DataFrame(cells).to_csv(self._handle, header=False, index=False, na_rep="", lineterminator="\n")
            self._handle.flush()
        else:
            self._parquet.write_table(_arrow_table(df, self.schema, self._parquet.schema))
        self.rows += len(df.index)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


def _arrow_column(series: Any, dss_type: str, arrow_type: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    if dss_type == "date":
        stamps = series.map(lambda v: None if is_null(v) else format_date(v))
        parsed = pd.to_datetime(stamps, utc=True, errors="coerce", format="ISO8601")
        return pa.array(parsed, type=arrow_type, from_pandas=True, safe=False)
    if dss_type in INT_TYPES:
        values = [None if is_null(v) else int(float(v)) for v in series]
    elif dss_type in FLOAT_TYPES:
        values = [None if is_null(v) else float(v) for v in series]
    elif dss_type == "boolean":
        values = [None if is_null(v) else (_boolean(v) == "true" if isinstance(v, str) else bool(v)) for v in series]
    else:
        fmt = text_formatter(dss_type)
        values = [fmt(v) for v in series]
    return pa.array(values, type=arrow_type)


def _arrow_table(df: Any, schema: Schema, arrow_schema: Any) -> Any:
    import pyarrow as pa

    columns = [
        _arrow_column(df.iloc[:, i], c["type"], arrow_schema.field(i).type) for i, c in enumerate(schema)
    ]
    return pa.Table.from_arrays(columns, schema=arrow_schema)
