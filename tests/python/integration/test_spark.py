"""openai_compatible.spark on a local Spark (pyspark from PyPI, Java from the system) against the fault server
and the real llama.cpp server: one output row per input row, errors per row, typed JSON columns, de-duplication,
the answer cache, and no secret in the plan, the event log (what the UI shows) or the logs."""
from __future__ import annotations

import glob
import io
import json
import os
import shutil
import sys
from contextlib import redirect_stdout

import pytest

if shutil.which("java") is None:
    pytest.fail("Spark needs Java: `make java` installs a JRE", pytrace=False)

from openai_compatible import spark as oc_spark  # noqa: E402
from openai_compatible.errors import SettingsError, UnknownModelError  # noqa: E402
from pyspark import cloudpickle  # noqa: E402 - pyspark comes from requirements-dev.txt
from pyspark.sql import DataFrame, SparkSession, types  # noqa: E402

from tests.python.integration.test_prompt_recipe import EVERY_JSON_TYPE  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning")  # pyspark 3.5's own

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
KEY = "sk-spark-secret-8d1f3a"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """One local Spark for the module: 2 cores, no UI, an event log (what the UI and history server show) and the
    JVM's stderr (Spark's logs and the Python workers' output) in files the secrets test reads."""
    base = tmp_path_factory.mktemp("spark")
    events, log_path = base / "events", base / "spark.log"
    events.mkdir()
    # the executors' Python workers run this interpreter, without python-lib on their path: apply() ships the
    # package to them (as it must on a cluster)
    old_env = {name: os.environ.get(name) for name in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    os.environ["PYTHONPATH"] = REPO
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    saved_stderr = os.dup(2)
    log_fd = os.open(str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log_fd, 2)  # the JVM (and the Python workers it starts) inherit this stderr
    try:
        session = (SparkSession.builder.master("local[2]").appName("openai-compatible-tests")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.default.parallelism", "2")
                   .config("spark.eventLog.enabled", "true")
                   .config("spark.eventLog.dir", events.as_uri())
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .getOrCreate())
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(log_fd)
    session.sparkContext.setLogLevel("WARN")
    session.test_log_path = str(log_path)  # type: ignore[attr-defined]
    session.test_events_dir = str(events)  # type: ignore[attr-defined]
    try:
        yield session
    finally:
        session.stop()
        for name, value in old_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fault_preset(fault_server, **extra):
    return dict({"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none",
                 "max_concurrency": 4}, **extra)


def texts_frame(spark, texts, partitions=2):
    rows = [(i, text) for i, text in enumerate(texts)]
    return spark.createDataFrame(rows, "id long, text string").repartition(partitions, "id")


def by_id(df):
    return sorted((row.asDict() for row in df.collect()), key=lambda r: r["id"])


def test_every_row_gets_its_own_answer_or_error(spark, fault_server):
    texts = [f"row {i}" for i in range(40)] + ["FAIL:400", "FAIL:503*1"]
    out = oc_spark.apply(texts_frame(spark, texts), fault_preset(fault_server, max_retries=2), "Q: {{text}}",
                         "fault-chat", temperature=0)
    assert out.columns[:2] == ["id", "text"]
    assert {"llm_response", "llm_error_message", "llm_error_type", "llm_finish_reason", "llm_prompt_tokens",
            "llm_completion_tokens", "llm_model", "llm_latency_ms"} <= set(out.columns)
    kinds = {f.name: f.dataType for f in out.schema.fields}
    assert kinds["llm_prompt_tokens"] == types.LongType() and kinds["llm_latency_ms"] == types.DoubleType()
    rows = by_id(out)
    assert [r["id"] for r in rows] == list(range(len(texts)))  # one output row per input row, none lost
    for row in rows[:40]:
        assert row["llm_response"] == f"echo: Q: {row['text']}" and row["llm_error_type"] is None
        assert row["llm_prompt_tokens"] > 0 and row["llm_model"]
    failed = rows[40]
    assert failed["llm_error_type"] == "bad_request" and failed["llm_response"] is None
    assert failed["llm_error_message"]
    retried = rows[41]  # the first call failed with a 503, the retry was answered
    assert retried["llm_error_type"] is None and retried["llm_response"] == "echo: Q: FAIL:503*1"


def test_json_schema_gives_typed_spark_columns(spark, fault_server):
    out = oc_spark.apply(texts_frame(spark, ["a", "b", "c"]), fault_preset(fault_server), "{{text}}", "fault-chat",
                         output_format="json_schema", json_schema=EVERY_JSON_TYPE, prefix="ai")
    kinds = {f.name: f.dataType for f in out.schema.fields}
    assert kinds["ai_s"] == types.StringType() and kinds["ai_i"] == types.LongType()
    assert kinds["ai_n"] == types.DoubleType() and kinds["ai_b"] == types.BooleanType()
    assert kinds["ai_a"] == types.StringType() and kinds["ai_o"] == types.StringType()
    rows = by_id(out)
    assert len(rows) == 3
    for row in rows:
        assert row["ai_error_message"] is None
        assert row["ai_s"] == 'text, "quoted"' and row["ai_i"] == 42 and row["ai_n"] == 2.5 and row["ai_b"] is False
        assert json.loads(row["ai_a"]) == [1, "two", None] and json.loads(row["ai_o"]) == {"k": [1, 2], "v": None}
        assert row["ai_z"] is None


def test_duplicates_in_a_partition_are_sent_once(spark, fault_server):
    texts = ["same", "other", "same", "same", "other", "third"]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string").coalesce(1)
    rows = by_id(oc_spark.apply(df, fault_preset(fault_server), "{{text}}", "fault-chat"))
    assert [r["llm_response"] for r in rows] == [f"echo: {t}" for t in texts]
    assert fault_server.calls_to("chat") == 3


def test_a_rerun_with_the_cache_pays_nothing(spark, fault_server, tmp_path):
    texts = [f"cached {i}" for i in range(12)]
    df = texts_frame(spark, texts)
    cache = str(tmp_path / "cache")
    first = by_id(oc_spark.apply(df, fault_preset(fault_server), "{{text}}", "fault-chat", cache_dir=cache))
    assert fault_server.calls_to("chat") == 12
    assert len(glob.glob(os.path.join(cache, "answers-p*-a0.sqlite"))) == 2  # one store per partition
    again = by_id(oc_spark.apply(df, fault_preset(fault_server), "{{text}}", "fault-chat", cache_dir=cache))
    assert fault_server.calls_to("chat") == 12  # every answer came from the cache
    assert [r["llm_response"] for r in again] == [r["llm_response"] for r in first]
    assert all(r["llm_error_type"] is None for r in again)


def test_on_error_fail_stops_the_job(spark, fault_server):
    df = texts_frame(spark, ["fine", "FAIL:400"], partitions=1)
    out = oc_spark.apply(df, fault_preset(fault_server), "{{text}}", "fault-chat", on_error="fail")
    with pytest.raises(Exception, match="bad_request"):
        out.collect()


def test_bad_input_fails_on_the_driver_before_any_request(spark, fault_server):
    df = texts_frame(spark, ["x"])
    preset = fault_preset(fault_server)
    with pytest.raises(SettingsError, match="nope"):
        oc_spark.apply(df, preset, "{{nope}}", "fault-chat")
    with pytest.raises(UnknownModelError):
        oc_spark.apply(df, preset, "{{text}}", "not-offered")
    with pytest.raises(SettingsError, match="json_schema|schema"):
        oc_spark.apply(df, preset, "{{text}}", "fault-chat", output_format="json_schema", json_schema={"type": "array"})
    with pytest.raises(SettingsError, match="temprature"):
        oc_spark.apply(df, preset, "{{text}}", "fault-chat", temprature=1)
    with pytest.raises(SettingsError, match="Spark DataFrame"):
        oc_spark.apply(df.toPandas(), preset, "{{text}}", "fault-chat")
    with pytest.raises(SettingsError, match="base_url|URL|url"):
        oc_spark.apply(df, {"models": ["fault-chat"]}, "{{text}}", "fault-chat")
    for bad in ("abc", 0, 2.5):
        with pytest.raises(SettingsError, match="parameter 'concurrency' must be a whole number|at least 1"):
            oc_spark.apply(df, preset, "{{text}}", "fault-chat", concurrency=bad)
    assert fault_server.calls == 0


def test_the_key_is_in_no_plan_event_log_or_log(spark, fault_server, monkeypatch):
    fault_server.require_auth(KEY)
    captured = []
    real = DataFrame.mapInPandas

    def spy(self, func, schema, *args, **kwargs):
        captured.append(func)
        return real(self, func, schema, *args, **kwargs)

    monkeypatch.setattr(DataFrame, "mapInPandas", spy)
    spark.sparkContext.setLogLevel("INFO")
    try:
        out = oc_spark.apply(texts_frame(spark, ["secret row", "FAIL:500"]),
                             fault_preset(fault_server, api_key=KEY, auth_scheme="bearer", max_retries=0),
                             "{{text}}", "fault-chat")
        rows = by_id(out)
        plan = io.StringIO()
        with redirect_stdout(plan):
            out.explain(True)
        texts = [plan.getvalue(), out._jdf.queryExecution().toString(), repr(captured[0]), str(out.schema)]
    finally:
        spark.sparkContext.setLogLevel("WARN")
    # the key reached the executors (the server refuses calls without it) ...
    assert rows[0]["llm_response"] == "echo: secret row", rows[0]["llm_error_message"]
    assert rows[1]["llm_error_type"] == "server_error"
    # ... yet it is in no text Spark shows, nor in the function Spark serialises into the plan
    assert "MapInPandas" in texts[0]
    for text in texts:
        assert KEY not in text
    assert KEY.encode() not in cloudpickle.dumps(captured[0])
    events = "".join(open(p, encoding="utf-8", errors="replace").read()
                     for p in glob.glob(os.path.join(spark.test_events_dir, "*")))
    assert "SparkListenerSQLExecutionStart" in events and KEY not in events
    with open(spark.test_log_path, encoding="utf-8", errors="replace") as handle:
        log_text = handle.read()
    assert "spark.apply() partition" in log_text  # the executors' own log lines are in it
    assert "INFO" in log_text and KEY not in log_text


def test_llama_cpp_answers_each_row(spark, llama_server):
    preset = {"base_url": llama_server.base_url + "/", "models": [llama_server.model], "auth_scheme": "none",
              "read_timeout_s": 600, "max_retries": 1, "max_concurrency": 2}
    df = texts_frame(spark, ["red", "blue", "green"])
    rows = by_id(oc_spark.apply(df, preset, "Name a thing that is {{text}}.", llama_server.model,
                                max_output_tokens=8, temperature=0))
    assert [r["text"] for r in rows] == ["red", "blue", "green"]
    for row in rows:
        assert row["llm_error_message"] is None, row["llm_error_message"]
        assert row["llm_response"] and row["llm_completion_tokens"] > 0 and row["llm_latency_ms"] > 0


def test_executors_import_the_package_apply_ships(spark, fault_server):
    """The workers' path lacks python-lib (see the fixture), as on a cluster: they run the zip apply() adds."""
    import pandas as pd

    assert by_id(oc_spark.apply(texts_frame(spark, ["x"]), fault_preset(fault_server), "{{text}}",
                                "fault-chat"))[0]["llm_response"] == "echo: x"

    def where(batches):
        import openai_compatible

        for _ in batches:
            yield pd.DataFrame({"file": [openai_compatible.__file__]})

    files = [row.file for row in spark.range(1).mapInPandas(where, "file string").collect()]
    assert files and all(".zip" in f and "python-lib" not in f for f in files), files
