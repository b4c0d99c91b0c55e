"""Stream a CSV or Parquet dataset as DataFrames, typed the way DSS types them.

The DSS rule for text: an empty cell is null; any other text, including `None`, `NaN`, `N/A` or
`null`, stays text. CSV files are read in chunks and Parquet files batch by batch, so memory stays
flat on large files.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from dataiku.core.schema import FLOAT_TYPES, INT_TYPES, Schema


@dataclass
class ReadOptions:
    """The typing knobs of get_dataframe / iter_dataframes."""

    infer_with_pandas: bool = True
    parse_dates: bool = True
    bool_as_str: bool = False
    int_as_float: bool = False
    use_nullable_integers: bool = False
    columns: Optional[Sequence[str]] = None
    limit: Optional[int] = None


def csv_header(path: str) -> list[str]:
    """The header row of a CSV file ([] for an empty file)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _coerce(df: Any, types: dict[str, str], opts: ReadOptions) -> Any:
    """Type text columns by the schema (infer_with_pandas=False); invalid cells become null."""
    import pandas as pd

    for column in df.columns:
        dss_type = types.get(column, "string")
        series = df[column]
        if dss_type in INT_TYPES:
            numbers = pd.to_numeric(series, errors="coerce")
            if opts.int_as_float:
                df[column] = numbers.astype("float64")
            elif opts.use_nullable_integers:
                df[column] = numbers.round().astype("Int64")
            else:
                df[column] = numbers.astype("float64") if numbers.isna().any() else numbers.astype("int64")
        elif dss_type in FLOAT_TYPES:
            df[column] = pd.to_numeric(series, errors="coerce").astype("float32" if dss_type == "float" else "float64")
        elif dss_type == "boolean" and not opts.bool_as_str:
            flags = series.map(_flag)
            df[column] = flags.astype(bool) if flags.notna().all() else flags.astype(object)
        elif dss_type == "date" and opts.parse_dates:
            df[column] = _dates(series)
    return df


def _flag(value: Any) -> Optional[bool]:
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    if value is True or value is False or type(value).__name__ == "bool_":
        return bool(value)
    return None


def _dates(series: Any) -> Any:
    import pandas as pd

    try:
        return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    except (TypeError, ValueError):
        return pd.to_datetime(series, utc=True, errors="coerce")


def _finish(df: Any, types: dict[str, str], opts: ReadOptions) -> Any:
    if opts.infer_with_pandas:
        if opts.parse_dates:
            for column in df.columns:
                if types.get(column) == "date" and df[column].dtype.kind == "O":
                    df[column] = _dates(df[column])
    else:
        df = _coerce(df, types, opts)
    if opts.columns is not None:
        df = df[list(opts.columns)]
    return df


def _csv_frames(path: str, schema: Schema, chunksize: int, opts: ReadOptions) -> Iterator[Any]:
    import pandas as pd

    if os.path.getsize(path) == 0:
        return
    header = csv_header(path)
    names = [c["name"] for c in schema]
    if header != names:
        raise ValueError(f"the header of {path} {header} does not match the dataset schema {names}")
    with pd.read_csv(
        path, dtype=None if opts.infer_with_pandas else str, keep_default_na=False, na_values=[""],
        chunksize=chunksize, nrows=opts.limit, usecols=list(opts.columns) if opts.columns is not None else None,
        encoding="utf-8-sig",
    ) as reader:
        yield from reader


def _parquet_frames(path: str, chunksize: int, opts: ReadOptions) -> Iterator[Any]:
    import numpy as np
    import pyarrow.parquet as pq

    remaining = opts.limit
    with pq.ParquetFile(path) as parquet:
        columns = list(opts.columns) if opts.columns is not None else None
        for batch in parquet.iter_batches(batch_size=chunksize, columns=columns):
            if remaining is not None:
                if remaining <= 0:
                    return
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            df = batch.to_pandas()
            for column in df.columns:
                if df[column].dtype.kind == "O":
                    # Arrow gives None for a null string; DSS's readers give NaN.
                    df[column] = df[column].where(df[column].notna(), np.nan)
            yield df


def iter_frames(path: str, fmt: str, schema: Schema, chunksize: int, opts: ReadOptions) -> Iterator[Any]:
    """DataFrames of at most `chunksize` rows, in file order, typed per `opts` and `schema`."""
    if chunksize is None or int(chunksize) <= 0:
        raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}")
    if opts.limit is not None and opts.limit <= 0:
        opts.limit = None if opts.limit < 0 else 0
    if opts.limit == 0 or not os.path.exists(path):
        return
    known = [c["name"] for c in schema]
    if opts.columns is not None:
        missing = [c for c in opts.columns if c not in known]
        if missing:
            raise ValueError(f"column(s) {missing} not in the dataset schema {known}")
    types = {c["name"]: c["type"] for c in schema}
    frames = (_csv_frames(path, schema, int(chunksize), opts) if fmt == "csv"
              else _parquet_frames(path, int(chunksize), opts))
    for df in frames:
        yield _finish(df, types, opts)
