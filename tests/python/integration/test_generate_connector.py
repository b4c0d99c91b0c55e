"""The generate connector through ``python -m localdss connector``: fault server, llama.cpp, LiteLLM (Azure style)."""
from __future__ import annotations

import json

import jsonschema
from localdss_cli import read_rows, read_schema, run_connector

from tests.servers.fault_server import Fault

CONNECTOR = "openai-compatible_generate"
PEOPLE = {"type": "object", "properties": {
    "name": {"type": "string", "description": "First name"},
    "age": {"type": "integer", "minimum": 18, "maximum": 90},
    "member": {"type": "boolean"}}}


def rows_answer(rows) -> Fault:
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps({"rows": rows})}}]}
    return Fault.error(200, body, label="rows")


def fault_preset(server) -> dict:
    return {"base_url": server.url, "models": ["m"], "max_retries": 0, "max_concurrency": 1}


def config(**extra) -> dict:
    return {"model": "m", "prompt": "Members of a cycling club", "row_schema": json.dumps(PEOPLE), "rows": 4,
            **extra}


def test_valid_distinct_rows_with_the_schemas_types(tmp_path, fault_server):
    fault_server.script(
        rows_answer([{"name": "Ann", "age": 30, "member": True}, {"name": "Bob", "age": 7, "member": False},
                     {"name": "Ann", "age": 30, "member": True}, {"name": "Cid", "age": 41, "member": False}]),
        rows_answer([{"name": "Dan", "age": 52, "member": True}, {"name": "Eve", "age": 63, "member": False}]))
    done, out = run_connector(tmp_path, CONNECTOR, config(), fault_preset(fault_server))
    assert done.returncode == 0, done.stderr
    assert read_rows(out) == [{"name": "Ann", "age": "30", "member": "true"},
                              {"name": "Cid", "age": "41", "member": "false"},
                              {"name": "Dan", "age": "52", "member": "true"},
                              {"name": "Eve", "age": "63", "member": "false"}]
    schema = read_schema(out)
    assert [(n, c["type"]) for n, c in schema.items()] == [("name", "string"), ("age", "bigint"),
                                                           ("member", "boolean")]
    assert schema["name"]["comment"] == "First name"
    assert fault_server.calls == 2
    assert "1 invalid and 1 duplicate rows dropped" in done.stderr


def test_records_limit_means_fewer_calls(tmp_path, fault_server):
    fault_server.script(rows_answer([{"name": "Ann", "age": 30, "member": True}]))
    done, out = run_connector(tmp_path, CONNECTOR, config(rows=500), fault_preset(fault_server), limit=1)
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in read_rows(out)] == ["Ann"]
    assert fault_server.calls == 1
    asked = fault_server.requests[0].json["response_format"]["json_schema"]["schema"]["properties"]["rows"]
    assert asked["maxItems"] == 1


def test_stops_with_a_clear_error_when_nothing_new_comes(tmp_path, fault_server):
    done, _ = run_connector(tmp_path, CONNECTOR, config(rows=3), fault_preset(fault_server))
    assert done.returncode != 0
    assert "calls in a row brought no new valid row" in done.stderr
    assert fault_server.calls == 6  # one row, then five fruitless calls


def test_bad_schema_fails_before_any_call(tmp_path, fault_server):
    done, _ = run_connector(tmp_path, CONNECTOR, config(row_schema='{"type": "object", "properties": {"a": '
                                                                   '{"type": "text"}}}'), fault_preset(fault_server))
    assert done.returncode != 0 and "'row_schema' is not a valid JSON Schema" in done.stderr
    assert fault_server.calls == 0


def test_real_generation_with_llama(tmp_path, llama_server):
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                               "city": {"type": "string", "maxLength": 20},
                                               "age": {"type": "integer", "minimum": 18, "maximum": 90}}}
    preset = {"base_url": llama_server.base_url, "models": ["smollm2"], "auth_scheme": "none", "read_timeout_s": 600,
              "max_concurrency": 2}
    conf = {"model": "smollm2", "prompt": "Customers of a bike shop: a first name, a city and an age.",
            "row_schema": json.dumps(schema), "rows": 5}
    done, out = run_connector(tmp_path, CONNECTOR, conf, preset)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert len(rows) == 5
    typed = [{"name": r["name"], "city": r["city"], "age": int(r["age"])} for r in rows]
    for row in typed:
        jsonschema.validate(row, schema)
    assert len({json.dumps(r, sort_keys=True) for r in typed}) == 5


def test_azure_style_through_litellm(tmp_path, litellm_proxy):
    preset = {"style": "azure", "target_uri": litellm_proxy.target_uri, "auth_scheme": "api_key_header",
              "api_key": litellm_proxy.master_key, "max_retries": 0,
              "endpoints": [{"name": "json", "kind": "azure_deployment", "deployment": "mock-json"}]}
    schema = {"type": "object", "properties": {"sentiment": {"type": "string"}}}
    conf = {"model": "json", "prompt": "Sentiments", "row_schema": json.dumps(schema), "rows": 1}
    done, out = run_connector(tmp_path, CONNECTOR, conf, preset)
    assert done.returncode == 0, done.stderr
    assert read_rows(out) == [{"sentiment": "positive"}]  # the mock's answer, one row
    assert litellm_proxy.master_key not in done.stderr
