"""Stream a CSV or Parquet dataset as DataFrames, typed the way DSS types them.

DSS streams a dataset to Python as tab-separated text and reads it with pandas (a public copy of
DSS's `dataiku` dataset module, code index id 9881491644: `iter_dataframes(..., na_values=None,
keep_default_na=True)` hands both to `pandas.read_table`). So, by default, an empty cell **and**
pandas' missing-value strings (`NA`, `N/A`, `None`, `null`, `nan`, `NaN`, ...) arrive as missing;
`keep_default_na=False, na_values=[""]` keeps those texts and only empty cells are missing.

With `infer_with_pandas=False` the schema's types are forced, and DSS is strict
(developer.dataiku.com, "Datasets (reading and writing data)", verified on DSS 14.1.0):
- "if a column contains a single missing value, reading will fail" for integer columns, unless
  `use_nullable_integers=True` (or `int_as_float=True`);
- "if your dataset contains invalid values, the whole get_dataframe call will fail".
A boolean column is read as numpy `bool` (DSS's schema-to-pandas map), which has no missing value
either: Dataiku's own dss-visual-edit plugin reads with `bool_as_str=True` "to deal with potentially
missing boolean values" (public copy, code index id 42541595209). localdss fails in these cases
with a `ValueError`, the error pandas raises inside DSS. CSV files are read in chunks and Parquet
files batch by batch, so memory stays flat; a chunk fails when it is read, as in DSS.
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
    na_values: Any = None
    keep_default_na: bool = True
    raw: bool = False  # every cell as text (iter_rows / iter_tuples cast it themselves)


def csv_header(path: str) -> list[str]:
    """The header row of a CSV file ([] for an empty file)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _fail(kind: str, column: str, index: int, detail: str) -> ValueError:
    return ValueError(f"{kind} in column {index} ('{column}') of the dataset: {detail}. DSS fails the whole "
                      "read in this case (developer.dataiku.com, Datasets: reading and writing data)")


def _numbers(series: Any, column: str, index: int) -> Any:
    import pandas as pd

    try:
        return pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as exc:
        raise _fail("Invalid number", column, index, str(exc)) from None


def _coerce(df: Any, types: dict[str, str], opts: ReadOptions) -> Any:
    """Force the schema's types (infer_with_pandas=False), failing where DSS fails."""
    for index, column in enumerate(df.columns):
        dss_type = types.get(column, "string")
        series = df[column]
        if dss_type in INT_TYPES:
            numbers = _numbers(series, column, index)
            whole = numbers.dropna()
            if len(whole) and not (whole == whole.round()).all():
                raise _fail("Non-integer value", column, index, f"the {dss_type} column holds decimals")
            if opts.int_as_float:
                df[column] = numbers.astype("float64")
            elif opts.use_nullable_integers:
                df[column] = numbers.astype("Int64")
            elif numbers.isna().any():
                raise _fail("Integer column has NA values", column, index,
                            "read with use_nullable_integers=True to get missing integers as <NA>")
            else:
                df[column] = numbers.astype("int64")
        elif dss_type in FLOAT_TYPES:
            df[column] = _numbers(series, column, index).astype("float32" if dss_type == "float" else "float64")
        elif dss_type == "boolean" and not opts.bool_as_str:
            flags = series.map(_flag)
            bad = series.notna() & flags.isna()
            if bad.any():
                raise _fail("Invalid boolean", column, index, f"{series[bad].iloc[0]!r} is neither true nor false")
            if flags.isna().any():
                raise _fail("Bool column has NA values", column, index, "read with bool_as_str=True to keep them")
            df[column] = flags.astype(bool)
        elif dss_type == "date" and opts.parse_dates:
            parsed = _dates(series)
            bad = series.notna() & parsed.isna()
            if bad.any():
                raise _fail("Invalid date", column, index, f"{series[bad].iloc[0]!r} is not a date")
            df[column] = parsed
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
    if opts.raw:
        pass
    elif opts.infer_with_pandas:
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
        path, dtype=str if opts.raw or not opts.infer_with_pandas else None,
        keep_default_na=opts.keep_default_na, na_values=opts.na_values,
        chunksize=chunksize, nrows=opts.limit, usecols=list(opts.columns) if opts.columns is not None else None,
        encoding="utf-8-sig",
    ) as reader:
        yield from reader


def _missing_texts(opts: ReadOptions) -> set[str]:
    """The texts pandas reads as missing with these options (empty text included by default)."""
    from pandas._libs.parsers import STR_NA_VALUES

    texts = set(STR_NA_VALUES) if opts.keep_default_na else set()
    if opts.na_values is not None:
        texts |= {opts.na_values} if isinstance(opts.na_values, str) else {str(v) for v in opts.na_values}
    return texts


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
            missing = _missing_texts(opts)
            for column in df.columns:
                if df[column].dtype.kind == "O":
                    # Arrow gives None for a null string; DSS's readers give NaN. DSS streams a Parquet
                    # dataset as text too, so the missing-value strings apply to it as well.
                    series = df[column]
                    is_text = series.map(lambda v: isinstance(v, str))
                    df[column] = series.where(series.notna() & ~(is_text & series.isin(missing)), np.nan)
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
