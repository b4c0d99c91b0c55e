"""Runs a row task from a custom recipe: the input dataset in chunks through the row engine, and the
output written chunk by chunk with its column descriptions."""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..client import Client
from ..columns import ColumnLayout, typed_column
from ..engine import RowEngine
from ..tasks.base import Task
from .config import client_for, optional_int
from .datasets import input_frames, write_output_schema
from .folder import FolderStore
from .logs import setup_logging

log = logging.getLogger("openai_compatible")

TaskBuilder = Callable[[Mapping[str, Any], Sequence[str]], Task]


def run_row_recipe(build_task: TaskBuilder, *, input_role: str = "input", output_role: str = "output",
                   cache_role: str = "cache", chunk_rows: int = 1000) -> None:
    """Runs the row task ``build_task(config, input_columns)`` builds: validates everything before any
    request, then streams the input through the engine and writes the output chunk by chunk. Every
    input row yields exactly one output row, in order. ``cache_role``'s optional managed folder keeps
    the answer cache."""
    setup_logging()
    import dataiku
    from dataiku.customrecipe import get_input_names_for_role, get_output_names_for_role, get_recipe_config

    config = get_recipe_config()
    input_dataset = dataiku.Dataset(get_input_names_for_role(input_role)[0])
    output_dataset = dataiku.Dataset(get_output_names_for_role(output_role)[0])
    input_schema = input_dataset.read_schema()
    input_columns = [c["name"] for c in input_schema]
    client = client_for(config)
    task = build_task(config, input_columns)  # validates parameters against the input, before any request
    task.check(client)
    layout = ColumnLayout(config.get("output_prefix") or "llm", input_columns, task.output_columns())
    rows_limit = optional_int(config, "rows_limit", 1)
    # read so that typed columns with nulls pass and 'NA' stays text; a read DSS would fail fails here, before
    # any request, not midway through a paid job
    chunk_size = max(chunk_rows, 4 * (client.settings.max_concurrency or 16))
    input_chunks = input_frames(input_dataset, input_schema, chunk_size, rows_limit)
    cache_names = get_output_names_for_role(cache_role) if cache_role else []
    folder_store = FolderStore(dataiku.Folder(cache_names[0]), output_dataset) if cache_names else None
    # the row count: the limit bounds it, the end of the input gives it; DSS offers no count that is both cheap and
    # sure (the records metric is the last one computed, if ever, possibly before the input changed)
    engine = RowEngine(task, client, on_error=config.get("on_error") or "record", max_rows=rows_limit,
                       store=folder_store.store if folder_store else None)
    _log_start(input_dataset.full_name, client, folder_store is not None)
    write_output_schema(output_dataset, list(input_schema) + layout.schema())
    try:
        _write_output(engine, input_chunks, output_dataset, layout)
    finally:
        client.close()
        if folder_store:
            folder_store.close()
    summary = engine.summary
    log.info("Summary: %s", summary.describe())
    if summary.failed:
        log.warning("%d of %d rows have an error; see the '%s' and '%s' columns.", summary.failed, summary.rows,
                    layout.names["error_message"], layout.names["error_type"])


def _log_start(dataset_name: str, client: Client, cached: bool) -> None:
    s = client.settings
    log.info("Running on %s with %s, concurrency %s%s%s.", dataset_name, client, client.concurrency.describe(),
             f", {s.requests_per_minute} requests/min" if s.requests_per_minute else "",
             ", with the answer cache" if cached else "")


def _write_output(engine: RowEngine, input_chunks: Iterator[Any], output_dataset: Any,
                  layout: ColumnLayout) -> None:
    """Streams the input's chunks through ``engine`` and writes each one, with its added columns."""
    import pandas as pd

    frames: deque = deque()

    def row_chunks() -> Iterator[list]:
        for frame in input_chunks:
            frame = frame.reset_index(drop=True)
            frames.append(frame)
            yield frame.to_dict("records")

    types = {c["name"]: c["type"] for c in layout.schema()}
    with output_dataset.get_writer() as writer:
        for outputs in engine.run(row_chunks()):
            frame = frames.popleft()
            renamed = [layout.rename(v) for v in outputs]
            added = pd.DataFrame({name: typed_column([r[name] for r in renamed], types[name]) for name in types})
            writer.write_dataframe(pd.concat([frame, added], axis=1))
