"""`dataiku.Dataset` backed by a CSV or Parquet file and its `<stem>.schema.json`.

As in DSS: a recipe may read only its inputs and write only its outputs (read_schema works on
both); one writer at a time per dataset; the schema is set before rows are written, and a
DataFrame is written by position, so its columns must match the schema.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

from dataiku.core import flow, locations
from dataiku.core.reading import ReadOptions, csv_header, iter_frames
from dataiku.core.schema import (
    Schema,
    dss_type_of_arrow,
    normalize_columns,
    read_schema_file,
    schema_of_dataframe,
    write_schema_file,
)
from dataiku.core.writing import TableFile, check_frame_columns

_active_writers: dict[str, DatasetWriter] = {}
_writers_lock = threading.Lock()


class Dataset:
    """A dataset of the flow (`name` or `PROJECT.name`)."""

    def __init__(self, name: str, project_key: Optional[str] = None, ignore_flow: bool = False) -> None:
        self.name, self.project_key, self.short_name = locations.full_name(name, project_key)
        self._location = locations.find("DATASET", name, project_key, ignore_flow)
        in_recipe = flow.get_flow() is not None and not ignore_flow
        self._in_recipe = in_recipe
        self.readable = not in_recipe or self._location["io"] == "in"
        self.writable = not in_recipe or self._location["io"] == "out"
        self.partitioning = self._location.get("partitioning")
        self.read_partitions: Optional[list[str]] = None
        self.writePartition: Optional[str] = None
        if in_recipe:
            # As DSS's dataset module: read partitions from the flow's input entry, the write
            # partition from its output entry (DOCS py/dataiku/core/dataset.py).
            entry = flow.entry(self.name, self._location["io"]) or {}
            self.read_partitions = entry.get("partitions")
            self.writePartition = entry.get("partition")

    @property
    def full_name(self) -> str:
        return self.name

    @property
    def _path(self) -> str:
        return self._location["path"]

    @property
    def _schema_path(self) -> Path:
        return Path(self._location["schemaPath"])

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}) -> {self._path}"

    # ------------------------------------------------------------ schema

    def read_schema(self, raise_if_empty: bool = True) -> Schema:
        """The columns: from the schema file, else the Parquet schema, else the CSV header as strings."""
        schema = read_schema_file(self._schema_path)
        if schema is None:
            schema = self._file_schema()
        if not schema and raise_if_empty:
            raise Exception(f"No column in schema of {self.name}. Have you set up the schema for this dataset?")
        return schema

    def _file_schema(self) -> Schema:
        path = Path(self._path)
        if self.partitioning:
            files = sorted(path.glob("*.csv")) if path.is_dir() else []
            return [{"name": n, "type": "string"} for n in csv_header(str(files[0]))] if files else []
        if not path.is_file() or path.stat().st_size == 0:
            return []
        if self._location["format"] == "parquet":
            import pyarrow.parquet as pq

            return [{"name": f.name, "type": dss_type_of_arrow(f.type)} for f in pq.read_schema(path)]
        return [{"name": name, "type": "string"} for name in csv_header(str(path))]

    def write_schema(self, columns: Any, dropAndCreate: bool = False, **kwargs: Any) -> None:  # noqa: N803
        """Set the schema (list of {"name", "type", "comment"?}); written to `<stem>.schema.json`."""
        self._check_writable()
        schema = normalize_columns(columns, self.name)
        active = _active_writers.get(self.name)
        if active is not None and active.started:
            raise Exception(f"Cannot change the schema of {self.name} while a writer is writing to it")
        write_schema_file(self._schema_path, schema)

    def write_schema_from_dataframe(self, df: Any, dropAndCreate: bool = False) -> None:  # noqa: N803
        """Set the schema from a DataFrame's columns and dtypes (comments are dropped, as in DSS)."""
        self.write_schema(schema_of_dataframe(df), dropAndCreate=dropAndCreate)

    # ------------------------------------------------------------ reading

    def _check_readable(self) -> None:
        if not self.readable:
            raise Exception(f"You cannot read dataset {self.name}, it is not declared as an input")

    def _options(self, sampling: Any, ratio: Any, **kwargs: Any) -> ReadOptions:
        if sampling not in (None, "head", "full") or ratio is not None:
            raise NotImplementedError(f"localdss reads datasets from the head only (sampling={sampling!r})")
        limit = kwargs.pop("limit", None)
        return ReadOptions(limit=None if limit is None else int(limit), **kwargs)

    def iter_dataframes(
        self,
        chunksize: int = 10000,
        infer_with_pandas: bool = True,
        sampling: str = "head",
        sampling_column: Optional[str] = None,
        parse_dates: bool = True,
        limit: Optional[int] = None,
        ratio: Optional[float] = None,
        columns: Optional[Sequence[str]] = None,
        bool_as_str: bool = False,
        int_as_float: bool = False,
        use_nullable_integers: bool = False,
        float_precision: Optional[str] = None,
        na_values: Any = None,
        keep_default_na: bool = True,
    ) -> Iterator[Any]:
        """DataFrames of `chunksize` rows, streamed from the file (memory stays flat).

        `na_values` / `keep_default_na` go to pandas as in DSS (default: pandas' missing-value
        strings such as `NA` or `null` are read as missing)."""
        self._check_readable()
        opts = self._options(sampling, ratio, infer_with_pandas=infer_with_pandas, parse_dates=parse_dates,
                             limit=limit, columns=columns, bool_as_str=bool_as_str, int_as_float=int_as_float,
                             use_nullable_integers=use_nullable_integers, na_values=na_values,
                             keep_default_na=keep_default_na)
        return self._frames(int(chunksize), opts)

    def get_dataframe(
        self,
        columns: Optional[Sequence[str]] = None,
        sampling: str = "head",
        sampling_column: Optional[str] = None,
        limit: Optional[int] = None,
        ratio: Optional[float] = None,
        infer_with_pandas: bool = True,
        parse_dates: bool = True,
        bool_as_str: bool = False,
        int_as_float: bool = False,
        use_nullable_integers: bool = False,
        float_precision: Optional[str] = None,
        na_values: Any = None,
        keep_default_na: bool = True,
        **kwargs: Any,
    ) -> Any:
        """The whole dataset (or its first `limit` rows) as one DataFrame."""
        import pandas as pd

        frames = list(self.iter_dataframes(
            chunksize=100000, infer_with_pandas=infer_with_pandas, sampling=sampling, parse_dates=parse_dates,
            limit=limit, ratio=ratio, columns=columns, bool_as_str=bool_as_str, int_as_float=int_as_float,
            use_nullable_integers=use_nullable_integers, na_values=na_values, keep_default_na=keep_default_na,
        ))
        if not frames:
            names = list(columns) if columns is not None else [c["name"] for c in self.read_schema(False)]
            return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def iter_rows(
        self,
        sampling: str = "head",
        sampling_column: Optional[str] = None,
        limit: Optional[int] = None,
        ratio: Optional[float] = None,
        log_every: int = -1,
        timeout: int = 30,
        columns: Optional[Sequence[str]] = None,
    ) -> Iterator[dict[str, Any]]:
        """One dict per row, typed by the schema, empty cells as None.

        DSS streams rows without pandas and casts each cell by its column type (int, float, bool
        from "true", ISO dates), so texts such as `NA` stay text and a missing integer is None."""
        self._check_readable()
        opts = self._options(sampling, ratio, limit=limit, columns=columns, raw=True, keep_default_na=False,
                             na_values=[""])
        casters = {c["name"]: cast_cell(c["type"]) for c in self.read_schema(raise_if_empty=False)}
        for df in self._frames(10000, opts):
            clean = df.astype(object).where(df.notna(), None)
            for row in clean.to_dict("records"):
                yield {name: casters.get(name, _same)(value) for name, value in row.items()}

    def iter_tuples(
        self,
        sampling: str = "head",
        sampling_column: Optional[str] = None,
        limit: Optional[int] = None,
        ratio: Optional[float] = None,
        log_every: int = -1,
        timeout: int = 30,
        columns: Optional[Sequence[str]] = None,
    ) -> Iterator[tuple]:
        """One tuple per row, in schema (or `columns`) order."""
        for row in self.iter_rows(sampling=sampling, limit=limit, ratio=ratio, columns=columns):
            yield tuple(row.values())

    def _frames(self, chunksize: int, opts: ReadOptions) -> Iterator[Any]:
        schema = self.read_schema(raise_if_empty=False)
        remaining = None if opts.limit is None or opts.limit < 0 else opts.limit
        for path in self._read_paths():
            if remaining is not None and remaining <= 0:
                return
            for df in iter_frames(path, self._location["format"], schema, chunksize,
                                  dataclasses.replace(opts, limit=remaining)):
                if remaining is not None:
                    remaining -= len(df)
                yield df

    # ------------------------------------------------------------ partitions

    def list_partitions(self) -> list[str]:
        """The partition ids that hold data ([] for a dataset that is not partitioned)."""
        folder = Path(self._path)
        if not self.partitioning or not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.csv"))

    def _read_paths(self) -> list[str]:
        if not self.partitioning:
            return [self._path]
        ids = self.read_partitions if self.read_partitions is not None else self.list_partitions()
        return [str(Path(self._path) / f"{i}.csv") for i in ids]

    def _write_path(self) -> str:
        if not self.partitioning:
            return self._path
        if self.writePartition is None:
            raise Exception(f"Dataset {self.name} is partitioned: writing needs a partition (the Flow sets it in a "
                            "recipe; elsewhere call set_write_partition)")
        Path(self._path).mkdir(parents=True, exist_ok=True)
        return str(Path(self._path) / f"{self.writePartition}.csv")

    # ------------------------------------------------------------ writing

    def _check_writable(self) -> None:
        if not self.writable:
            raise Exception(f"You cannot write dataset {self.name}, it is not declared as an output")

    def get_writer(self) -> DatasetWriter:
        """A writer that appends DataFrames (or rows) to the dataset, replacing its previous content."""
        self._check_writable()
        return DatasetWriter(self)

    def write_with_schema(self, df: Any, dropAndCreate: bool = False, **kwargs: Any) -> None:  # noqa: N803
        """Set the schema from `df`, then replace the data with its rows."""
        self.write_schema_from_dataframe(df, dropAndCreate=dropAndCreate)
        with self.get_writer() as writer:
            writer.write_dataframe(df)

    def write_dataframe(self, df: Any, infer_schema: bool = False, dropAndCreate: bool = False) -> None:  # noqa: N803
        """Replace the data with `df` (and the schema too when `infer_schema`)."""
        if infer_schema:
            self.write_schema_from_dataframe(df, dropAndCreate=dropAndCreate)
        with self.get_writer() as writer:
            writer.write_dataframe(df)

    def get_location_info(self, sensitive_info: bool = False) -> dict[str, Any]:
        return {"locationInfoType": "FS", "info": {"path": self._path, "format": self._location["format"]}}

    def set_write_partition(self, spec: str) -> None:
        """The partition written outside recipes (DSS: "not allowed in Python recipes, where write is
        controlled by the Flow", doc.dataiku.com Datasets reference)."""
        if self._in_recipe:
            raise Exception("Setting the write partition is not allowed in Python recipes, where write is "
                            "controlled by the Flow")
        if not self.partitioning:
            raise ValueError(f"Dataset {self.name} is not partitioned")
        self.writePartition = str(spec)

    def add_read_partitions(self, spec: Any) -> None:
        """Add partitions to read outside recipes (DSS: "You cannot manually set partitions when
        running inside a Python recipe. They are automatically set using the dependencies.")."""
        if self._in_recipe:
            raise Exception("You cannot manually set partitions when running inside a Python recipe. They are "
                            "automatically set using the dependencies.")
        if not self.partitioning:
            raise ValueError(f"Dataset {self.name} is not partitioned")
        if self.read_partitions is None:
            self.read_partitions = []
        self.read_partitions.extend([spec] if isinstance(spec, str) else list(spec))


def _same(value: Any) -> Any:
    return value


def cast_cell(dss_type: str) -> Any:
    """How iter_rows casts one text cell of a column (None stays None; invalid text raises)."""
    import pandas as pd

    from dataiku.core.schema import FLOAT_TYPES, INT_TYPES

    if dss_type in INT_TYPES:
        kind: Any = int
    elif dss_type in FLOAT_TYPES:
        kind = float
    elif dss_type == "boolean":
        def kind(text: Any) -> bool:
            return str(text).lower() == "true"
    elif dss_type == "date":
        kind = pd.Timestamp
    else:
        return _same
    return lambda value: None if value is None else (value if not isinstance(value, str) else kind(value))


class DatasetWriter:
    """Writes a dataset chunk by chunk; each write is flushed, so rows survive a killed process."""

    def __init__(self, dataset: Dataset) -> None:
        with _writers_lock:
            if dataset.name in _active_writers:
                raise Exception(
                    f"Unable to instantiate a new dataset writer for {dataset.name}. "
                    "There is already another active writer for this dataset."
                )
            _active_writers[dataset.name] = self
        self.dataset = dataset
        self._file: Optional[TableFile] = None
        self._closed = False
        self._buffer: list[Any] = []

    @property
    def started(self) -> bool:
        return self._file is not None

    def _open(self) -> TableFile:
        if self._closed:
            raise Exception(f"The writer of {self.dataset.name} is closed")
        if self._file is None:
            schema = self.dataset.read_schema(raise_if_empty=False)
            if not schema:
                raise Exception(
                    f"Cannot write to {self.dataset.name}: its schema is empty. Call write_schema or "
                    "write_schema_from_dataframe first (or use write_with_schema)"
                )
            self._file = TableFile(self.dataset._write_path(), self.dataset._location["format"], schema)
        return self._file

    def write_dataframe(self, df: Any) -> None:
        """Append the rows of `df`; its columns must be the schema's, in order."""
        self._flush_rows()
        table = self._open()
        check_frame_columns(df, table.schema, self.dataset.name)
        table.append(df)

    def write_row_dict(self, row: dict[str, Any]) -> None:
        """Append one row given as {column: value}; missing columns are null."""
        names = [c["name"] for c in self._open().schema]
        self._buffer.append([row.get(n) for n in names])
        if len(self._buffer) >= 1000:
            self._flush_rows()

    def write_row_array(self, row: Sequence[Any]) -> None:
        """Append one row given as values in schema order."""
        table = self._open()
        if len(row) != len(table.schema):
            raise ValueError(f"row has {len(row)} values, the schema of {self.dataset.name} has {len(table.schema)}")
        self._buffer.append(list(row))
        if len(self._buffer) >= 1000:
            self._flush_rows()

    write_tuple = write_row_array

    def _flush_rows(self) -> None:
        if self._buffer:
            import pandas as pd

            table = self._open()
            rows, self._buffer = self._buffer, []
            table.append(pd.DataFrame(rows, columns=[c["name"] for c in table.schema], dtype=object))

    def close(self) -> None:
        """Finish the file (an empty dataset when nothing was written) and release the dataset."""
        if self._closed:
            return
        try:
            self._flush_rows()
            if self._file is None and self.dataset.read_schema(raise_if_empty=False):
                self._open()
        finally:
            if self._file is not None:
                self._file.close()
            self._closed = True
            with _writers_lock:
                _active_writers.pop(self.dataset.name, None)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()
