"""A recipe's datasets: reading the input so that every row arrives with its text and types intact,
and writing the output's schema the way Dataiku's dkulib does.

DSS is strict when a dataset is read with the schema's types (``infer_with_pandas=False``,
developer.dataiku.com, "Datasets (reading and writing data)", verified on DSS 14.1.0):
- an integer column holding one missing value fails the read unless ``use_nullable_integers=True``
  (Dataiku's api-connect recipe passes it; their timeseries plugin checks the signature first,
  for DSS versions that lack it);
- a boolean column is read as numpy ``bool``, which has no missing value; Dataiku's dss-visual-edit
  plugin reads with ``bool_as_str=True`` for that reason;
- invalid text in a typed column fails the whole read;
- the reader hands pandas its default missing-value strings unless ``keep_default_na=False`` is
  passed (a public copy of DSS's dataset module forwards ``na_values``/``keep_default_na`` to
  ``pandas.read_table``), so a text cell ``NA`` (Namibia), ``None`` or ``null`` would arrive empty.

So the plugin reads with nullable integers, booleans and dates as their stored text, and only the
empty cell as missing; each option only where this DSS accepts it. A read that would still fail
(invalid text in a number column) is found by a first pass over the input, before any request.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Iterator, Mapping, Optional, Sequence

from ..errors import SettingsError

log = logging.getLogger("openai_compatible")
INT_TYPES = frozenset({"tinyint", "smallint", "int", "bigint"})
# Column types whose forced read can fail on a cell's text (booleans and dates are read as text).
CHECKED_TYPES = INT_TYPES | {"float", "double"}


def _accepts(function: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin or C function: assume the documented signature
        return True
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def read_options(dataset: Any, schema: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``iter_dataframes`` keywords for ``dataset`` on this DSS version (see the module doc)."""
    reader = dataset.iter_dataframes
    types = {c.get("type") for c in schema}
    options: dict[str, Any] = {"infer_with_pandas": False, "parse_dates": False}
    if _accepts(reader, "use_nullable_integers"):
        options["use_nullable_integers"] = True
    elif types & INT_TYPES:
        # An older DSS: let pandas infer, as Dataiku's timeseries plugin falls back to.
        options["infer_with_pandas"] = True
    if _accepts(reader, "bool_as_str"):
        options["bool_as_str"] = True
    elif "boolean" in types:
        options["infer_with_pandas"] = True
    if _accepts(reader, "keep_default_na"):
        options.update(keep_default_na=False, na_values=[""])
    else:
        log.warning("This DSS version reads texts such as 'NA', 'None' or 'null' as empty cells; rows holding "
                    "only such a text in a prompt column get an error instead of an answer.")
    return options


def check_readable(dataset: Any, schema: Sequence[Mapping[str, Any]], options: Mapping[str, Any],
                   limit: Optional[int], chunksize: int = 10000) -> None:
    """Reads the input once when a typed column could fail the read, so that the job fails before
    any request rather than midway. Raises :class:`SettingsError` naming the dataset and the fix."""
    checked = [c["name"] for c in schema if c.get("type") in CHECKED_TYPES]
    if not checked or options.get("infer_with_pandas"):
        return
    try:
        for _ in dataset.iter_dataframes(chunksize=chunksize, limit=limit, columns=checked, **options):
            pass
    except Exception as exc:  # DSS raises pandas' ValueError, or its own read error
        name = getattr(dataset, "full_name", None) or getattr(dataset, "name", "the input")
        raise SettingsError(f"Input dataset {name} cannot be read with its column types: {exc}. Fix the cell, or "
                            f"set the column's type to string in the dataset's schema. No row was sent.") from None


def input_frames(dataset: Any, schema: Sequence[Mapping[str, Any]], chunksize: int,
                 limit: Optional[int] = None) -> Iterator[Any]:
    """The input's DataFrames of ``chunksize`` rows (at most ``limit`` rows in all), read so that
    nulls in typed columns pass through and texts like ``NA`` stay text. Checks the whole input
    first (see :func:`check_readable`); the returned iterator streams."""
    options = read_options(dataset, schema)
    check_readable(dataset, schema, options, limit)
    return iter(dataset.iter_dataframes(chunksize=chunksize, limit=limit, **options))


def write_output_schema(dataset: Any, columns: Sequence[Mapping[str, Any]]) -> None:
    """Sets the output's schema; a non-partitioned output is dropped and recreated, so that a SQL
    table whose columns changed since the last run (another prefix, new JSON-schema properties) gets
    the new definition. Dataiku's dkulib does the same (``chunked_processing``:
    ``dropAndCreate=bool(not output.writePartition)``); a partition is never dropped, since that
    would drop the other partitions' rows."""
    if _accepts(dataset.write_schema, "dropAndCreate"):
        dataset.write_schema(list(columns), dropAndCreate=not getattr(dataset, "writePartition", None))
    else:
        dataset.write_schema(list(columns))
