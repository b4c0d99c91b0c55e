"""The prompt recipe run by localdss, the way DSS runs it, against the fault server and llama.cpp."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import localdss
from tests.python.integration.localdss_cli import read_rows, write_rows
from tests.servers.fault_server import Fault, when_text

REPO = Path(__file__).resolve().parents[3]
SCHEMA = {"type": "object", "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative"], "description": "Sentiment"},
    "stars": {"type": "integer", "description": "Stars from 1 to 5"}}}


def preset_for(server, **extra) -> dict:
    return {"base_url": server.url, "models": ["m"], "api_key": "sk-test-prompt", **extra}


def run(tmp_path: Path, preset: dict, config: dict, rows: list[dict], cache: bool = False, **kw):
    source = write_rows(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    folders = {"cache": str(tmp_path / "cache")} if cache else {}
    done = localdss.run_recipe("openai-compatible-prompt", config=dict({"model": "m"}, **config),
                               presets={"connection": preset}, inputs={"input": str(source)},
                               outputs={"output": str(out)}, folders=folders, timeout=300, **kw)
    return done, out


def test_rows_kept_in_order_with_their_own_answers(tmp_path, fault_server):
    rows = [{"id": str(i), "text": f"item {i}"} for i in range(250)]
    done, out = run(tmp_path, preset_for(fault_server, max_concurrency=16),
                    {"prompt_template": "Say {{text}}"}, rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    assert all(r["llm_response"] == f"echo: Say item {r['id']}" for r in result)
    assert all(r["llm_error_type"] == "" for r in result)
    assert fault_server.calls == 250
    schema = json.loads((tmp_path / "out.schema.json").read_text())
    added = {c["name"]: c for c in schema if c["name"].startswith("llm_")}
    assert {"llm_response", "llm_error_message", "llm_error_type", "llm_finish_reason", "llm_prompt_tokens",
            "llm_completion_tokens", "llm_model", "llm_latency_ms"} <= set(added)
    assert all(c.get("comment") for c in added.values())
    assert added["llm_prompt_tokens"]["type"] == "bigint"


def test_row_errors_are_recorded_and_the_job_succeeds(tmp_path, fault_server):
    fault_server.add_rule(Fault.error(400), when_text("BOOM"))
    rows = [{"text": "fine"}, {"text": "BOOM here"}, {"text": ""}, {"text": "None"}, {"text": "also fine"}]
    done, out = run(tmp_path, preset_for(fault_server), {"prompt_template": "{{text}}"}, rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == 5
    assert [r["llm_error_type"] for r in result] == ["", "bad_request", "input", "", ""]
    assert "column 'text' is empty" in result[2]["llm_error_message"]
    assert result[3]["llm_response"] == "echo: None"  # the text "None" is text, not a null
    assert fault_server.calls == 4  # no request for the empty cell; the 400 is never retried
    assert "2 of 5 rows have an error" in done.stderr


def test_fail_mode_stops_with_the_rows_error(tmp_path, fault_server):
    fault_server.add_rule(Fault.error(400), when_text("BOOM"))
    rows = [{"text": "fine"}, {"text": "BOOM"}, {"text": "fine too"}]
    done, _ = run(tmp_path, preset_for(fault_server), {"prompt_template": "{{text}}", "on_error": "fail"}, rows)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "Row 2 failed (bad_request)" in last


@pytest.mark.parametrize("config, expected", [
    ({"prompt_template": "Say {{txt}}"}, "{{txt}} names no input column. Did you mean 'text'?"),
    ({"prompt_template": "Say {{text}"}, "unbalanced braces"),
    ({"prompt_template": "x {{text}}", "output_format": "json_schema", "json_schema": "{not json"},
     "'json_schema' is not valid JSON"),
    ({"prompt_template": "x {{text}}", "output_format": "json_schema",
      "json_schema": '{"type": "object", "properties": {"a": {"type": "strin"}}}'}, "not a valid JSON Schema"),
    ({"prompt_template": "x {{text}}", "model": "other"}, "Model 'other' is not offered by this preset"),
])
def test_bad_parameters_fail_before_any_request(tmp_path, fault_server, config, expected):
    done, out = run(tmp_path, preset_for(fault_server), config, [{"text": "a"}])
    assert done.returncode != 0
    assert expected in done.stderr
    assert fault_server.calls == 0


def test_missing_preset_fails_before_any_request(tmp_path, fault_server):
    done, _ = run(tmp_path, {}, {"prompt_template": "{{text}}"}, [{"text": "a"}])
    assert done.returncode != 0
    assert "connection" in done.stderr
    assert fault_server.calls == 0


def test_duplicates_are_sent_once(tmp_path, fault_server):
    rows = [{"text": f"t{i % 7}"} for i in range(70)]
    done, out = run(tmp_path, preset_for(fault_server), {"prompt_template": "{{text}}"}, rows)
    assert done.returncode == 0, done.stderr
    assert fault_server.calls == 7
    result = read_rows(out)
    assert [r["llm_response"] for r in result] == [f"echo: {r['text']}" for r in rows]


def test_cache_folder_makes_a_rerun_free(tmp_path, fault_server):
    rows = [{"text": f"t{i}"} for i in range(40)]
    preset = preset_for(fault_server)
    done, out = run(tmp_path, preset, {"prompt_template": "{{text}}"}, rows, cache=True)
    assert done.returncode == 0, done.stderr
    first = read_rows(out)
    assert fault_server.calls == 40
    rows += [{"text": "new row"}]
    done, out = run(tmp_path, preset, {"prompt_template": "{{text}}"}, rows, cache=True)
    assert done.returncode == 0, done.stderr
    assert fault_server.calls == 41  # only the added row was sent
    second = read_rows(out)
    assert [r["llm_response"] for r in second[:40]] == [r["llm_response"] for r in first]


def test_a_cache_from_a_newer_plugin_stops_the_job_before_any_request(tmp_path, fault_server):
    import sqlite3

    preset = preset_for(fault_server)
    done, _ = run(tmp_path, preset, {"prompt_template": "{{text}}"}, [{"text": "a"}], cache=True)
    assert done.returncode == 0, done.stderr
    cache_file = tmp_path / "cache" / "openai-compatible-answers.sqlite"
    db = sqlite3.connect(str(cache_file))
    db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    db.commit()
    db.close()
    done, _ = run(tmp_path, preset, {"prompt_template": "{{text}}"}, [{"text": "b"}], cache=True)
    assert done.returncode != 0
    assert "'openai-compatible-answers.sqlite' in the managed folder 'cache'" in done.stderr
    assert "newer version of the plugin" in done.stderr
    assert fault_server.calls == 1  # only the first run's row


def test_killed_run_resumes_without_paying_twice(tmp_path, fault_server):
    fault_server.latency_ms = 50
    rows = [{"id": str(i), "text": f"row {i}"} for i in range(300)]
    source = write_rows(tmp_path / "in.csv", rows)
    (tmp_path / "config.json").write_text(json.dumps({"model": "m", "prompt_template": "{{text}}"}))
    (tmp_path / "preset.json").write_text(json.dumps(preset_for(fault_server, max_concurrency=4)))
    command = [sys.executable, "-m", "localdss", "recipe", "openai-compatible-prompt",
               "--config", str(tmp_path / "config.json"), "--preset", f"connection={tmp_path / 'preset.json'}",
               "--input", f"input={source}", "--output", f"output={tmp_path / 'out.csv'}",
               "--folder", f"cache={tmp_path / 'cache'}"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "python-lib")]))
    gate = fault_server.hold(after=100)  # the 101st request waits for the kill: the run cannot end first
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        reached = gate.wait(120)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        gate.release()
    assert reached, "the run never sent its 101st request"
    assert fault_server.wait_idle(60), "the killed run's connections never closed"
    sent_before = fault_server.calls
    assert 0 < sent_before < 300, "the run must be killed half way"
    answered_before = {r.json["messages"][-1]["content"] for r in fault_server.requests if r.route == "chat"}

    fault_server.reset()
    fault_server.latency_ms = 0
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resent = [r.json["messages"][-1]["content"] for r in fault_server.requests]
    # answers received before the kill are committed at once; at most the few in flight are lost
    assert len(set(resent) & answered_before) <= 4
    assert len(resent) == len(set(resent)) and len(resent) <= 300 - sent_before + 4
    result = read_rows(tmp_path / "out.csv")
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    assert all(r["llm_response"] == f"echo: row {r['id']}" for r in result)


def test_requests_per_minute_keeps_the_provider_below_its_limit(tmp_path, fault_server):
    fault_server.rpm_limit = 600  # the server answers 429 above 10 requests per second
    rows = [{"text": f"t{i}"} for i in range(30)]
    done, out = run(tmp_path, preset_for(fault_server, max_concurrency=16),
                    {"prompt_template": "{{text}}", "requests_per_minute": 480}, rows)
    assert done.returncode == 0, done.stderr
    refused = [r.fault for r in fault_server.requests if r.fault != "ok"]
    assert refused == [] and fault_server.calls == 30
    result = read_rows(out)
    assert len(result) == len(rows)
    assert all(r["llm_error_type"] == "" for r in result)


def test_json_schema_output_to_typed_columns_with_llama(tmp_path, llama_server):
    rows = [{"review": "I love it, wonderful and perfect, best purchase ever!"},
            {"review": "Terrible, broken after a day, awful waste of money."}]
    preset = {"base_url": llama_server.base_url, "models": ["smollm2"], "auth_scheme": "none"}
    config = {"model": "smollm2", "prompt_template": "Review: {{review}}\nGive the sentiment and stars.",
              "output_format": "json_schema", "json_schema": json.dumps(SCHEMA), "temperature": 0,
              "max_output_tokens": 64}
    source = write_rows(tmp_path / "in.csv", rows)
    done = localdss.run_recipe("openai-compatible-prompt", config=config, presets={"connection": preset},
                               inputs={"input": str(source)}, outputs={"output": str(tmp_path / "out.csv")},
                               timeout=600)
    assert done.returncode == 0, done.stderr
    result = read_rows(tmp_path / "out.csv")
    assert len(result) == 2
    for row in result:
        assert row["llm_error_type"] == "", row["llm_error_message"]
        assert row["llm_sentiment"] in ("positive", "negative")
        assert int(row["llm_stars"]) == json.loads(row["llm_response"])["stars"]
    schema = {c["name"]: c for c in json.loads((tmp_path / "out.schema.json").read_text())}
    assert schema["llm_stars"]["type"] == "bigint"
    assert schema["llm_sentiment"]["comment"] == "Sentiment"


# Every JSON type of a schema property, with the value the fault server answers (it follows `const`) and
# what the typed column must hold: scalars typed, arrays and objects as their JSON text, null as empty.
EVERY_JSON_TYPE = {
    "type": "object",
    "properties": {
        "s": {"type": "string", "const": "text, \"quoted\""},
        "i": {"type": "integer", "const": 42},
        "n": {"type": "number", "const": 2.5},
        "b": {"type": "boolean", "const": False},
        "a": {"type": "array", "items": {}, "const": [1, "two", None]},
        "o": {"type": "object", "const": {"k": [1, 2], "v": None}},
        "z": {"type": "null"},
    },
}


def test_every_json_type_reaches_its_typed_column(tmp_path, fault_server):
    done, out = run(tmp_path, preset_for(fault_server),
                    {"prompt_template": "{{text}}", "output_format": "json_schema",
                     "json_schema": json.dumps(EVERY_JSON_TYPE)}, [{"text": "a"}, {"text": "b"}])
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == 2
    schema = {c["name"]: c["type"] for c in json.loads((tmp_path / "out.schema.json").read_text())}
    assert {name: schema[f"llm_{name}"] for name in "sinbaoz"} == {
        "s": "string", "i": "bigint", "n": "double", "b": "boolean", "a": "string", "o": "string", "z": "string"}
    for row in result:
        assert row["llm_error_type"] == "", row
        assert row["llm_s"] == 'text, "quoted"' and row["llm_i"] == "42" and float(row["llm_n"]) == 2.5
        assert row["llm_b"].lower() == "false"
        assert json.loads(row["llm_a"]) == [1, "two", None] and json.loads(row["llm_o"]) == {"k": [1, 2], "v": None}
        assert row["llm_z"] == ""


# --- reasoning models (issue 10 §2.7 and §3) ----------------------------------------------------------------

def recorded(body: dict) -> Fault:
    """A provider's 200 answer replayed as recorded (built with the provider corpus's builders)."""
    return Fault.error(200, body, label="recorded answer")


THINK_THEN_JSON = '<think>\nThe user wants JSON.\n</think>\n\n{"sentiment": "negative"}'


@pytest.mark.parametrize("output_format, column, expected", [
    ("json_object", "llm_json", '{"sentiment": "negative"}'),
    ("json_schema", "llm_sentiment", "negative"),
])
def test_json_is_read_after_an_inline_think_block(tmp_path, fault_server, output_format, column, expected):
    """§2.7: a <think> block before the JSON answer (Fireworks, llama.cpp --reasoning-format none) is skipped,
    kept in the reasoning column, and the JSON after it gives the typed column."""
    from tests.providers.case import completion, usage

    fault_server.add_rule(recorded(completion(THINK_THEN_JSON, usage=usage(30, 25, completion_tokens_details={
        "reasoning_tokens": 9}))), when_text("awful"))
    config = {"prompt_template": "Sentiment of: {{text}}", "output_format": output_format,
              "json_schema": json.dumps({"type": "object", "properties": {"sentiment": {"type": "string"}}}),
              "reasoning_column": True, "reasoning_effort": "low"}
    done, out = run(tmp_path, preset_for(fault_server, json_mode="json_object"), config,
                    [{"text": "The service was awful."}])
    assert done.returncode == 0, done.stderr
    [row] = read_rows(out)
    assert row["llm_error_message"] == ""
    assert row[column] == expected
    assert row["llm_response"] == '{"sentiment": "negative"}'
    assert row["llm_reasoning"] == "The user wants JSON."
    assert row["llm_reasoning_tokens"] == "9"
    [request] = fault_server.requests
    assert request.json["reasoning_effort"] == "low"
    assert request.json["response_format"] == {"type": "json_object"}
    assert "9 of them reasoning" in done.stderr  # the run summary counts reasoning tokens


def test_reasoning_that_used_the_whole_limit_is_a_row_error(tmp_path, fault_server):
    """§3: content empty, finish_reason length, the reasoning took every token: an error naming the recipe's
    max_output_tokens, never an empty answer; the other rows are answered, the reasoning column stays optional."""
    from tests.providers.case import completion, usage

    fault_server.add_rule(recorded(completion("<think>\nA haiku needs five syllables first, then", "length",
                                              usage=usage(20, 16))), when_text("haiku"))
    fault_server.add_rule(recorded(completion(None, "length", message={"reasoning_content": "Let me count."},
                                              usage=usage(20, 16, completion_tokens_details={
                                                  "reasoning_tokens": 16}))), when_text("count"))
    rows = [{"text": "write a haiku"}, {"text": "hello"}, {"text": "count to ten"}]
    done, out = run(tmp_path, preset_for(fault_server), {"prompt_template": "{{text}}", "max_output_tokens": 16},
                    rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_error_type"] for r in result] == ["reasoning_budget", "", "reasoning_budget"]
    for row in (result[0], result[2]):
        assert "raise 'max_output_tokens' (now 16)" in row["llm_error_message"]
        assert row["llm_response"] == ""
    assert "16 reasoning tokens" in result[2]["llm_error_message"]
    assert result[1]["llm_response"] == "echo: hello"
    assert "llm_reasoning" not in result[0]
    assert fault_server.calls == 3  # not retried: the same limit would be spent the same way


def test_cost_column_and_run_total_from_the_preset_prices(tmp_path, fault_server):
    prices = [{"model": "m", "input_per_million": 1000.0, "output_per_million": 2000.0}]
    rows = [{"text": "a b"}, {"text": "c"}, {"text": "a b"}]  # the third row is a duplicate: paid once
    done, out = run(tmp_path, preset_for(fault_server, prices=prices), {"prompt_template": "{{text}}"}, rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    # cost = prompt tokens * 1000 / 1e6 + completion tokens * 2000 / 1e6, from the provider's counts
    for row in result:
        expected = (int(row["llm_prompt_tokens"]) * 1000 + int(row["llm_completion_tokens"]) * 2000) / 1e6
        assert float(row["llm_cost"]) == pytest.approx(expected)
    schema = {c["name"]: c for c in json.loads((tmp_path / "out.schema.json").read_text())}
    assert schema["llm_cost"]["type"] == "double" and schema["llm_cost"].get("comment")
    paid = float(result[0]["llm_cost"]) + float(result[1]["llm_cost"])
    assert f"estimated cost: {paid:.6g}" in done.stderr
    done, out = run(tmp_path, preset_for(fault_server), {"prompt_template": "{{text}}"}, rows)
    assert [r["llm_cost"] for r in read_rows(out)] == ["", "", ""]  # no price, no cost
    assert "estimated cost" not in done.stderr
