"""The prompt recipe's engine over a Spark DataFrame, for data that outgrows one machine.

    from openai_compatible import spark as oc_spark

    out = oc_spark.apply(df, "my-preset", "Summarise: {{text}}", "llama3", cache_dir="/shared/llm-cache")

Each Spark task runs the row engine (:class:`~openai_compatible.engine.RowEngine`) over its partition
through ``mapInPandas``: identical requests of a partition are sent once, failed calls are retried, and
every input row yields exactly one output row with either an answer or its error. Everything that can be
wrong with the call (an unknown column, option or model, a bad JSON schema, a preset that doesn't
validate) is raised on the driver, before any row is sent.

Secrets: the preset travels to the executors in a Spark broadcast variable, inside an object whose
``repr`` hides it, so it is neither in the function Spark serialises into the plan nor in the plan's
text, the UI or the logs. (A broadcast is kept in the executors' memory and block manager files like
any data; set ``spark.io.encryption.enabled`` where local disks must not hold it in clear.)

pyspark is not a dependency of the plugin's code env: DSS and Spark clusters provide it. It is imported
when :func:`apply` is called.
"""
from __future__ import annotations

import glob
import hashlib
import io
import logging
import os
import tempfile
import zipfile
from collections import deque
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

from .client import Client
from .columns import ColumnLayout, typed_column
from .engine import ON_ERROR, RowEngine
from .errors import SettingsError
from .notebook import preset_config
from .numeric import whole_number
from .settings import ConnectionSettings
from .store import AnswerStore
from .tasks.prompt import PromptSpec, PromptTask

log = logging.getLogger("openai_compatible")

# DSS storage types of the added columns -> Spark SQL type names (pyspark.sql.types._parse_datatype_string)
_SPARK_TYPES = {"string": "string", "bigint": "bigint", "int": "int", "double": "double", "float": "float",
                "boolean": "boolean"}


def _pyspark() -> Any:
    """The pyspark module, or a clear error saying where it comes from."""
    try:
        import pyspark
        import pyspark.sql  # noqa: F401 - the DataFrame API used below
    except ImportError:
        raise ImportError("openai_compatible.spark needs pyspark, which Spark provides: run it in a PySpark recipe "
                          "or notebook (in DSS, with Spark configured), or `pip install pyspark` for a local "
                          "Spark.") from None
    return pyspark


class SealedPreset:
    """A preset dict that never shows itself: its ``repr`` and ``str`` name no field, so printing the
    object, or anything that holds it, cannot leak the key. ``open()`` gives the dict back."""

    __slots__ = ("_config",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)

    def open(self) -> dict:
        """The preset dict (holds the key: never log it)."""
        return dict(self._config)

    def __repr__(self) -> str:
        return "<preset, secrets hidden>"

    __str__ = __repr__

    def __getstate__(self) -> dict:
        return {"config": self._config}

    def __setstate__(self, state: dict) -> None:
        self._config = state["config"]


class PartitionRunner:
    """What each Spark task runs (the ``mapInPandas`` function): the row engine over one partition.

    Holds no secret: the preset comes from ``preset`` (a broadcast of a :class:`SealedPreset`), read on
    the executor. ``cache_dir``: one answer store per partition and task attempt,
    ``answers-p<partition>-a<attempt>.sqlite``; a task reads every attempt's store of its partition, so
    a retried task or a rerun over the same partitioning does not pay twice for an answer.
    """

    def __init__(self, preset: Any, spec: PromptSpec, columns: list[str], prefix: str, on_error: str,
                 concurrency: Optional[int], chunk_rows: int, cache_dir: Optional[str]) -> None:
        self.preset = preset
        self.spec = spec
        self.columns = columns
        self.prefix = prefix
        self.on_error = on_error
        self.concurrency = concurrency
        self.chunk_rows = max(1, int(chunk_rows))
        self.cache_dir = cache_dir

    def __repr__(self) -> str:
        return f"<openai_compatible.spark.PartitionRunner model={self.spec.model!r}>"

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        _log_to_stderr()
        settings = ConnectionSettings.from_preset(self.preset.value.open()).capped(self.concurrency)
        task = PromptTask(self.spec, self.columns)
        layout = ColumnLayout(self.prefix, self.columns, task.output_columns())
        schema = layout.schema()
        workers = settings.concurrency_ceiling
        store = self._store()
        client = Client(settings)
        inputs: deque = deque()

        def chunks() -> Iterator[list[dict]]:
            for batch in batches:
                for start in range(0, len(batch), self.chunk_rows):
                    part = batch.iloc[start:start + self.chunk_rows]
                    inputs.append(part)
                    yield part.to_dict("records")

        try:
            engine = RowEngine(task, client, concurrency=workers, store=store, on_error=self.on_error)
            for values in engine.run(chunks()):
                part = inputs.popleft()
                out = part.reset_index(drop=True)
                rows = [layout.rename(v) for v in values]
                for column in schema:
                    out[column["name"]] = typed_column([row[column["name"]] for row in rows], column["type"])
                yield out
            log.info("spark.apply() partition %s: %s", _partition_label(), engine.summary.describe())
        finally:
            client.close()
            if store is not None:
                store.close()

    def _store(self) -> Optional[Any]:
        if not self.cache_dir:
            return None
        from pyspark import TaskContext

        context = TaskContext.get()
        partition, attempt = (context.partitionId(), context.attemptNumber()) if context else (0, 0)
        os.makedirs(self.cache_dir, exist_ok=True)
        own = os.path.join(self.cache_dir, f"answers-p{partition:05d}-a{attempt}.sqlite")
        earlier = sorted(p for p in glob.glob(os.path.join(self.cache_dir, f"answers-p{partition:05d}-a*.sqlite"))
                         if p != own)
        return PartitionStore(AnswerStore(own), [AnswerStore(p) for p in earlier])


class PartitionStore:
    """The answer store of one task attempt, reading through to the stores of the partition's earlier
    attempts (a failed or speculative attempt, or an earlier run): answers are written to ``own`` only,
    so two attempts running at once never write one SQLite file."""

    def __init__(self, own: AnswerStore, earlier: list[AnswerStore]) -> None:
        self.own = own
        self.earlier = earlier

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[Any, bool]]:
        keys = list(dict.fromkeys(keys))
        found = self.own.get_many(keys)
        for store in self.earlier:
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            found.update((k, (answer, False)) for k, (answer, _) in store.get_many(missing).items())
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        self.own.put_many(items)

    def __len__(self) -> int:
        return len(self.own)

    def __bool__(self) -> bool:
        return True

    def close(self) -> None:
        for store in [self.own] + self.earlier:
            store.close()


def _log_to_stderr() -> None:
    """On an executor nothing configures logging: send the package's INFO lines (progress, the task's
    summary; secrets are masked in them) to stderr, which Spark keeps in the executor's log."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _partition_label() -> str:
    from pyspark import TaskContext

    context = TaskContext.get()
    return f"{context.partitionId()} (attempt {context.attemptNumber()})" if context else "?"


_SHIPPED: set = set()  # (application id, archive path) already added to a Spark application


def ship_library(context: Any) -> str:
    """Adds this package, as a zip, to the Python path of the executors of ``context`` (a SparkContext)
    and returns the archive's path: executors then import the same code as the driver, whether or not
    the plugin's ``python-lib`` is on their path. Its dependencies (``requests``, ``jsonschema``) come from
    the executors' Python environment (in DSS, the recipe's code env). Done once per application and
    version of the code."""
    root = os.path.dirname(os.path.abspath(__file__))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                # a fixed date: the same code gives the same archive, hence the same name
                info = zipfile.ZipInfo(os.path.join("openai_compatible", os.path.relpath(path, root)),
                                       date_time=(2020, 1, 1, 0, 0, 0))
                with open(path, "rb") as handle:
                    archive.writestr(info, handle.read(), zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    path = os.path.join(tempfile.gettempdir(), f"openai_compatible-{hashlib.sha256(data).hexdigest()[:16]}.zip")
    key = (context.applicationId, path)
    if key not in _SHIPPED:
        if not os.path.exists(path):
            with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, path)
        context.addPyFile(path)
        _SHIPPED.add(key)
    return path


def output_schema(df: Any, layout: ColumnLayout) -> Any:
    """The Spark schema of the result: ``df``'s fields, then the added columns (typed like the recipe's)."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    fields = list(df.schema.fields)
    for column in layout.schema():
        kind = _parse_datatype_string(_SPARK_TYPES.get(column["type"], "string"))
        fields.append(StructField(column["name"], kind, nullable=True, metadata={"comment": column["comment"]}))
    return StructType(fields)


def apply(df: Any, preset: Union[str, Mapping[str, Any]], template: str, model: str, *, prefix: str = "llm",
          on_error: str = "record", concurrency: Optional[int] = None, cache_dir: Optional[str] = None,
          chunk_rows: int = 200, ship_code: bool = True, project_key: Optional[str] = None, api_client: Any = None,
          api_key: Optional[str] = None, **options: Any) -> Any:
    """Prompts every row of the Spark DataFrame ``df``; returns a DataFrame (lazy, like any Spark
    transformation) with ``df``'s columns followed by the prompt recipe's output columns.

    ``preset`` is a connection preset name (looked up through the DSS API, as ``openai_compatible.connect``
    does: ``project_key``, ``api_client`` and ``api_key`` work the same) or a preset dict. ``template``
    refers to columns as ``{{column}}``; ``options`` are the recipe's settings (``system_prompt``,
    ``examples``, ``temperature``, ``max_output_tokens``, ``top_p``, ``stop``, ``seed``,
    ``output_format``, ``json_schema``, ``raw_response``).

    The added columns are ``<prefix>_response``, ``<prefix>_error_message``, ``<prefix>_error_type``,
    ``<prefix>_finish_reason``, ``<prefix>_prompt_tokens``/``completion_tokens``/``reasoning_tokens``
    (bigint), ``<prefix>_model``, ``<prefix>_latency_ms`` and ``<prefix>_cost`` (double), plus one typed
    column per property of a JSON schema. A failed row gets its error in the error columns;
    ``on_error="fail"`` fails the Spark task (and so the job) at the first one instead.

    ``concurrency`` is the most requests in flight per Spark task: it lowers the preset's limit (the fixed
    one, or the automatic one's upper bound), never raises it. The provider sees up to tasks running at once
    x that. ``cache_dir`` is a directory every executor can write (a shared mount on a cluster): answers are
    kept there, one store per partition, and a rerun over the same partitioning reuses them. ``chunk_rows``
    is the rows per unit of work inside a task. ``ship_code`` adds this package to the executors' Python path
    (:func:`ship_library`); turn it off where the executors already have the plugin's ``python-lib``.

    Raises :class:`~openai_compatible.errors.SettingsError` (unknown column, option or parameter, bad JSON
    schema, invalid preset) or :class:`~openai_compatible.errors.UnknownModelError` on the driver before any
    row is sent; ``ImportError`` without pyspark.
    """
    _pyspark()
    from pyspark.sql import DataFrame

    spec = PromptSpec.from_options(template, model, options, caller="spark.apply()")
    if not isinstance(df, DataFrame):
        raise SettingsError(f"spark.apply() takes a Spark DataFrame, not {type(df).__name__} "
                            "(for pandas, use openai_compatible.connect(...).apply).")
    if on_error not in ON_ERROR:
        raise SettingsError(f"spark.apply(): parameter 'on_error' is {on_error!r}: use one of {', '.join(ON_ERROR)}.")
    if cache_dir is not None and not (isinstance(cache_dir, str) and cache_dir.strip()):
        raise SettingsError("spark.apply(): parameter 'cache_dir' must be a directory path every executor can write.")
    if concurrency is not None:
        concurrency = whole_number(concurrency, "spark.apply(): parameter 'concurrency'", 1)
    columns = [str(c) for c in df.columns]
    if not isinstance(preset, (str, Mapping)):
        raise SettingsError("spark.apply(): 'preset' takes a preset name (as shown in the plugin's settings) or a "
                            "preset dict.")
    config, _, _ = preset_config(preset, project_key, api_client, api_key)
    settings = ConnectionSettings.from_preset(config)  # an invalid preset fails here, on the driver
    task = PromptTask(spec, columns)  # unknown columns, bad JSON schema
    client = Client(settings)
    try:
        task.check(client)  # an unknown model
    finally:
        client.close()
    layout = ColumnLayout(prefix, columns, task.output_columns())
    schema = output_schema(df, layout)
    try:
        context = df.sparkSession.sparkContext
    except Exception:  # Spark Connect has no SparkContext, so no broadcast
        raise SettingsError("spark.apply() needs a classic Spark session (with a SparkContext), not Spark Connect: "
                            "the preset reaches the executors as a broadcast variable.") from None
    if ship_code:
        ship_library(context)
    sealed = context.broadcast(SealedPreset(config))
    runner = PartitionRunner(sealed, spec, columns, prefix, on_error, concurrency, chunk_rows,
                             cache_dir.strip() if cache_dir else None)
    return df.mapInPandas(runner, schema=schema)
