import pytest
from openai_compatible.columns import ColumnLayout, OutputColumn
from openai_compatible.errors import SettingsError
from openai_compatible.progress import ProgressReporter, RunSummary
from openai_compatible.store import AnswerStore, request_key

COLUMNS = [OutputColumn("response", "string", "answer"), OutputColumn("field:model", "string", "p", suffix="model"),
           OutputColumn("model", "string", "model")]


def test_added_columns_never_clash_with_input_columns():
    layout = ColumnLayout("llm", ["llm_response", "llm_response_1", "text"], COLUMNS)
    assert layout.names == {"response": "llm_response_2", "field:model": "llm_model", "model": "llm_model_1"}
    assert [c["comment"] for c in layout.schema()] == ["answer", "p", "model"]
    assert layout.rename({"response": "hi"}) == {"llm_response_2": "hi", "llm_model": None, "llm_model_1": None}


@pytest.mark.parametrize("prefix", ["", "  ", "bad prefix", "a.b"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(SettingsError, match="output_prefix"):
        ColumnLayout(prefix, [], COLUMNS)


def test_store_persists_answers_and_tells_this_run_from_older_ones(tmp_path):
    path = str(tmp_path / "answers.sqlite")
    first = AnswerStore(path)
    first.put_many([("k1", {"text": "a"}), ("k2", {"text": "b"})])
    assert first.get_many(["k1", "nope"]) == {"k1": ({"text": "a"}, True)}
    first.close()
    second = AnswerStore(path)
    assert len(second) == 2
    assert second.get_many(["k2"]) == {"k2": ({"text": "b"}, False)}
    second.close()


def test_store_finds_every_answer_of_a_long_list_of_keys(tmp_path):
    # SQLite caps the placeholders of one statement, so the keys are looked up in batches: each key of a
    # list several batches long is found once, with a repeated key and keys without answer in between
    store = AnswerStore(str(tmp_path / "answers.sqlite"))
    store.put_many([(f"k{i}", i) for i in range(0, 2600, 2)])
    keys = [f"k{i}" for i in range(2600)] + ["k0"]
    found = store.get_many(keys)
    store.close()
    assert found == {f"k{i}": (i, True) for i in range(0, 2600, 2)}


def test_temporary_store_is_removed_on_close():
    import os
    import tempfile

    store = AnswerStore()
    store.put_many([("k", 1)])
    path = store.path
    # named for what it is, in the temporary directory: a file a killed process leaves there is recognisable
    assert os.path.dirname(path) == tempfile.gettempdir()
    assert os.path.basename(path).startswith("oc-answers-") and path.endswith(".sqlite")
    store.close()
    assert not os.path.exists(path)


def _set_version(path: str, value: str) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (value,))
    db.commit()
    db.close()


def test_store_records_its_schema_version_and_reads_it_back(tmp_path):
    from openai_compatible.store import SCHEMA_VERSION

    path = str(tmp_path / "answers.sqlite")
    store = AnswerStore(path)
    store.put_many([("k", 1)])
    store.close()
    again = AnswerStore(path)
    assert again.schema_version == SCHEMA_VERSION and again.get_many(["k"]) == {"k": (1, False)}
    again.close()


def test_a_store_from_a_newer_plugin_is_refused_naming_the_file(tmp_path):
    from openai_compatible.store import SCHEMA_VERSION

    path = str(tmp_path / "answers.sqlite")
    AnswerStore(path).close()
    _set_version(path, str(SCHEMA_VERSION + 1))
    with pytest.raises(SettingsError) as caught:
        AnswerStore(path, label="'answers.sqlite' in the managed folder 'cache'")
    message = str(caught.value)
    assert "'answers.sqlite' in the managed folder 'cache'" in message and "newer version" in message
    assert "Update the plugin" in message and "start a new cache" in message


@pytest.mark.parametrize("version", ["0", "two", ""])
def test_a_store_with_an_unknown_version_is_refused(tmp_path, version):
    path = str(tmp_path / "answers.sqlite")
    AnswerStore(path).close()
    _set_version(path, version)
    with pytest.raises(SettingsError, match="unknown schema version") as caught:
        AnswerStore(path)
    assert path in str(caught.value) and "start a new cache" in str(caught.value)
    assert f"({version!r}; this version of the plugin reads 1)" in str(caught.value)  # the value found


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    path = tmp_path / "answers.sqlite"
    path.write_bytes(b"this is a text file, not SQLite" * 10)
    with pytest.raises(SettingsError, match="not a cache this plugin can read") as caught:
        AnswerStore(str(path))
    assert str(path) in str(caught.value)


def test_request_keys_depend_on_content_only():
    assert request_key("chat", "m", [{"role": "user", "content": "x"}], {"a": 1, "b": 2}) == request_key(
        "chat", "m", [{"role": "user", "content": "x"}], {"b": 2, "a": 1})
    assert request_key("chat", "m", "x") != request_key("chat", "m2", "x")


def test_progress_reports_rate_and_eta_at_most_every_interval():
    now = [100.0]
    lines = []
    reporter = ProgressReporter(total=1000, every_s=5, emit=lines.append, clock=lambda: now[0])
    summary = RunSummary()
    now[0] = 102.0
    reporter.maybe_report(summary, 100)
    assert lines == []
    now[0] = 110.0
    summary.errors["timeout"] = 3
    reporter.maybe_report(summary, 500)
    assert lines == ["Progress: 500/1000 rows (50%), ETA 10s, 50.0 rows/s, 3 errors, 0 tokens"]


def test_a_row_limit_is_shown_as_a_bound_until_the_input_ends():
    """A row limit bounds the rows, the input may hold fewer: the line says "at most" (no percentage, which would
    stop short of 100%), then the exact total once the whole input has been read."""
    now = [100.0]
    lines = []
    reporter = ProgressReporter(at_most=100000, every_s=5, emit=lines.append, clock=lambda: now[0])
    now[0] = 110.0
    reporter.maybe_report(RunSummary(), 500)
    reporter.input_ended(2000)
    now[0] = 120.0
    reporter.maybe_report(RunSummary(), 1000)
    assert lines == ["Progress: 500 of at most 100000 rows, ETA at most 33m10s, 50.0 rows/s, 0 errors, 0 tokens",
                     "Progress: 1000/2000 rows (50%), ETA 20s, 50.0 rows/s, 0 errors, 0 tokens"]


def test_a_total_given_is_kept_and_an_unknown_one_is_learnt_when_the_input_ends():
    now = [0.0]
    lines = []
    given = ProgressReporter(total=1000, every_s=0, emit=lines.append, clock=lambda: now[0])
    given.input_ended(400)  # the caller's count stands: the engine only learns what nobody said
    unknown = ProgressReporter(every_s=0, emit=lines.append, clock=lambda: now[0])
    now[0] = 10.0
    unknown.maybe_report(RunSummary(), 100)
    unknown.input_ended(400)
    given.maybe_report(RunSummary(), 100)
    unknown.maybe_report(RunSummary(), 100)
    assert lines == ["Progress: 100 rows, 10.0 rows/s, 0 errors, 0 tokens",
                     "Progress: 100/1000 rows (10%), ETA 1m30s, 10.0 rows/s, 0 errors, 0 tokens",
                     "Progress: 100/400 rows (25%), ETA 30s, 10.0 rows/s, 0 errors, 0 tokens"]


def test_a_slow_job_shows_its_rate_instead_of_zero():
    now = [0.0]
    lines = []
    reporter = ProgressReporter(every_s=5, emit=lines.append, clock=lambda: now[0])
    now[0] = 160.0
    reporter.maybe_report(RunSummary(), 7)  # 7 rows in 160 s: 0.044 rows/s, not "0.0 rows/s"
    now[0] = 170.0
    reporter.maybe_report(RunSummary(), 0)
    assert lines == ["Progress: 7 rows, 0.044 rows/s, 0 errors, 0 tokens",
                     "Progress: 0 rows, 0.0 rows/s, 0 errors, 0 tokens"]
    assert "(0.5 rows/s)" in RunSummary(rows=5, seconds=10.0).describe()


def test_summary_describes_everything_a_user_asks_after_a_run():
    summary = RunSummary(rows=10, answered=8, from_cache=2, deduplicated=1, requests_sent=5, http_calls=7,
                         retries=2, rate_limited=1, prompt_tokens=30, completion_tokens=40, seconds=2.0)
    summary.errors.update({"timeout": 1, "input": 1})
    text = summary.describe()
    for part in ("10 rows", "8 answered", "2 from the cache", "2 errors", "timeout: 1", "7 HTTP calls",
                 "2 retries", "1 rate-limited", "30 in", "40 out"):
        assert part in text
    assert summary.as_dict()["failed"] == 2


def test_progress_and_summary_show_the_concurrency_in_use():
    now = [0.0]
    lines = []
    reporter = ProgressReporter(total=10, every_s=1, emit=lines.append, clock=lambda: now[0])
    summary = RunSummary(rows=10, seconds=1.0, concurrency="automatic, 37 now (peak 52, bound 256)")
    now[0] = 2.0
    reporter.maybe_report(summary, 4)
    assert lines[0].endswith(", concurrency automatic, 37 now (peak 52, bound 256)")
    assert summary.describe().endswith("; concurrency automatic, 37 now (peak 52, bound 256)")
    assert summary.as_dict()["concurrency"].startswith("automatic")


def test_store_opening_waits_for_another_process_lock(tmp_path) -> None:
    """Two activities creating the cache file at once: the second waits instead of failing."""
    import sqlite3

    path = str(tmp_path / "shared.sqlite")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # the other process is creating the file
    waits: list[float] = []

    def other_finishes(seconds: float) -> None:
        waits.append(seconds)
        other.execute("COMMIT")

    store = AnswerStore(path, busy_timeout_s=0.01, sleep=other_finishes)
    store.put_many([("k", {"text": "kept"})])
    assert len(waits) == 1 and len(store) == 1
    store.close()
    other.close()


def test_store_merge_and_snapshot(tmp_path) -> None:
    first, second = AnswerStore(str(tmp_path / "a.sqlite")), AnswerStore(str(tmp_path / "b.sqlite"))
    first.put_many([("a", 1), ("shared", "first")])
    second.put_many([("b", 2), ("shared", "second")])
    second.close()
    assert first.merge_from(str(tmp_path / "b.sqlite")) == 1
    first.snapshot(str(tmp_path / "copy.sqlite"))
    copy = AnswerStore(str(tmp_path / "copy.sqlite"))
    assert {k: v for k, (v, _) in copy.get_many(["a", "b", "shared"]).items()} == {"a": 1, "b": 2, "shared": "first"}
    copy.close()
    first.close()


def test_request_keys_never_change_between_versions():
    # a cache kept across plugin updates keeps answering only if the same request gets the same key
    assert request_key("chat", "m", [{"role": "user", "content": "x"}], {"temperature": 0}) == (
        "d9b90803ab25a212b96b94626d02c541")


def test_a_closed_store_drops_late_answers_and_closes_once(tmp_path):
    path = str(tmp_path / "answers.sqlite")
    store = AnswerStore(path)
    store.put_many([("k1", {"text": "kept"})])
    store.close()
    store.put_many([("k2", {"text": "late"})])  # a worker of a stopped run answering afterwards: not kept
    store.close()
    reopened = AnswerStore(path)
    try:
        assert set(reopened.get_many(["k1", "k2"])) == {"k1"} and len(reopened) == 1
    finally:
        reopened.close()


def test_a_short_runs_time_has_a_tenth_and_matches_its_rate():
    assert "10 rows in 0.6s (15.8 rows/s)" in RunSummary(rows=10, seconds=0.633).describe()
    assert "300 rows in 12s (25.0 rows/s)" in RunSummary(rows=300, seconds=12.0).describe()
