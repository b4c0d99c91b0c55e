"""The generate task: settings, the request for N rows, row validation, de-duplication, limits, and giving up."""
from __future__ import annotations

import json

import pytest
from openai_compatible import Client, OutputValidationError, SettingsError, UnknownModelError
from openai_compatible.store import request_key
from openai_compatible.tasks.generate import GenerateSpec, GenerateTask, GenerationError, _GenerationCalls

from tests.servers.fault_server import Fault

SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "description": "First name"},
    "age": {"type": "integer", "minimum": 0},
    "score": {"type": "number"},
    "vip": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}}}}


def task_for(**changes) -> GenerateTask:
    spec = dict(model="m", prompt="Customers of a bike shop", row_schema=json.dumps(SCHEMA), rows=5,
                rows_per_call=3)
    spec.update(changes)
    return GenerateTask(GenerateSpec(**spec))


def person(name: str, age=30) -> dict:
    return {"name": name, "age": age, "score": 1.5, "vip": False, "tags": ["a"]}


def rows_answer(rows, finish_reason: str = "stop") -> Fault:
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": json.dumps({"rows": rows})}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    return Fault.error(200, body, label="rows")


def client_for(server) -> Client:
    return Client.from_preset({"base_url": server.url, "models": ["m"], "max_retries": 0})


# --- settings and requests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "'model' is empty"),
    ({"prompt": " "}, "'prompt' is empty"),
    ({"rows": 0}, "'rows' must be between 1"),
    ({"rows": "many"}, "'rows' must be a whole number"),
    ({"row_schema": "{not json"}, "'row_schema' is not valid JSON"),
    ({"row_schema": '{"type": "array"}'}, "'row_schema' must describe an object"),
    ({"row_schema": ""}, "'row_schema' is empty"),
    ({"rows_per_call": 0}, "^Parameter 'rows_per_call' must be"),
    ({"rows_per_call": "ten"}, "^Parameter 'rows_per_call' must be a whole number, not 'ten'.$"),
    ({"max_fruitless_calls": 0}, "^Parameter 'max_fruitless_calls' must be"),
])
def test_bad_settings(changes, message):
    with pytest.raises(SettingsError, match=message):
        task_for(**changes)


def test_read_schema_from_the_row_schema():
    columns = task_for().read_schema()["columns"]
    assert [(c["name"], c["type"]) for c in columns] == [("name", "string"), ("age", "bigint"), ("score", "double"),
                                                          ("vip", "boolean"), ("tags", "string")]
    assert columns[0]["comment"] == "First name"


def test_request_asks_for_a_json_object_holding_n_rows():
    messages, options = task_for().request_body(3, [person("Ann"), person("Bob")])
    wrapper = options["response_format"]["json_schema"]["schema"]
    assert wrapper["required"] == ["rows"]
    rows = wrapper["properties"]["rows"]
    assert rows["minItems"] == rows["maxItems"] == 3
    assert rows["items"]["required"] == list(SCHEMA["properties"])
    assert rows["items"]["additionalProperties"] is False
    assert "exactly 3 rows" in messages[0]["content"]
    assert messages[1]["content"].startswith("Customers of a bike shop\n\nGenerate 3 rows.")
    assert '"name": "Bob"' in messages[1]["content"]  # rows already made, to avoid repeating them
    assert options["temperature"] == 1.0


def test_rows_are_validated_one_by_one():
    task = task_for()
    valid, invalid = task.parse_rows(json.dumps({"rows": [person("Ann"), {"name": "Bob", "age": "old"}, 3]}))
    assert valid == [person("Ann")] and invalid == 2
    assert task.parse_rows(json.dumps([person("Ann")]))[0] == [person("Ann")]
    assert task.parse_rows("```json\n" + json.dumps({"people": [person("Ann")]}) + "\n```")[0] == [person("Ann")]
    assert task.parse_rows(json.dumps(person("Ann")))[0] == [person("Ann")]
    with pytest.raises(OutputValidationError, match="not valid JSON"):
        task.parse_rows("Here are rows: Ann, 30")
    with pytest.raises(OutputValidationError, match="cut off"):
        task.parse_rows('{"rows": [{"name": "A', "length")
    with pytest.raises(OutputValidationError, match="no list of rows"):
        task.parse_rows('{"something": "else"}')


def test_row_values_are_typed():
    values = task_for().row_values({"name": "Ann", "age": 30.0, "score": 2, "vip": True, "tags": ["x", "y"]})
    assert values == {"name": "Ann", "age": 30, "score": 2.0, "vip": True, "tags": '["x", "y"]'}


# --- against the fault server -----------------------------------------------------------------------------------

def test_invalid_and_duplicate_rows_are_dropped_until_there_are_enough(fault_server):
    fault_server.script(
        rows_answer([person("Ann"), {"name": "Bad", "age": -1, "score": 1, "vip": 1, "tags": []}, person("Ann")]),
        rows_answer([person("Ann"), person("Bob"), person("Cid")]),
        rows_answer([person("Dan"), person("Eve"), person("Fay")]),
    )
    task = task_for(rows=5)
    with client_for(fault_server) as client:
        rows = list(task.rows(client, concurrency=1))
    assert [r["name"] for r in rows] == ["Ann", "Bob", "Cid", "Dan", "Eve"]
    assert fault_server.calls == 3
    assert (task.dropped_invalid, task.dropped_duplicates) == (1, 2)
    asked = [req.json["response_format"]["json_schema"]["schema"]["properties"]["rows"]["maxItems"]
             for req in fault_server.requests]
    assert asked == [3, 3, 2]  # 5 wanted: 3; with 1 made, 3 (of the 4 missing); with 3 made, the last 2
    # each call is a system message (the schema and count) then a user one (the prompt): roles as the API spells them
    assert all([m["role"] for m in req.json["messages"]] == ["system", "user"] for req in fault_server.requests)
    assert fault_server.requests[0].json["messages"][1]["content"] == "Customers of a bike shop\n\nGenerate 3 rows."


def test_the_records_limit_caps_the_calls(fault_server):
    fault_server.script(rows_answer([person("Ann"), person("Bob")]))
    task = task_for(rows=1000, rows_per_call=50)
    with client_for(fault_server) as client:
        rows = list(task.rows(client, limit=2))
    assert [r["name"] for r in rows] == ["Ann", "Bob"]
    assert fault_server.calls == 1
    assert fault_server.requests[0].json["response_format"]["json_schema"]["schema"]["properties"]["rows"][
        "maxItems"] == 2


def test_gives_up_after_too_many_fruitless_calls(fault_server):
    # the fault server answers a schema with the same example row every time
    task = task_for(rows=3, max_fruitless_calls=4)
    with client_for(fault_server) as client, pytest.raises(GenerationError) as caught:
        list(task.rows(client, concurrency=1))
    assert str(caught.value) == (
        "Generated 1 of 3 rows, then 4 calls in a row brought no new valid row (last: every row of the answer was a "
        "duplicate). In all, 0 rows broke the schema and 10 were duplicates. Ask for more variety in the prompt, "
        "loosen the schema, ask for fewer rows, or use a stronger model.")
    assert fault_server.calls == 5


def test_invalid_answers_count_as_fruitless(fault_server):
    fault_server.always(Fault.error(200, {"id": "c", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "no JSON here"}}]}))
    task = task_for(rows=2, max_fruitless_calls=2)
    with client_for(fault_server) as client, pytest.raises(GenerationError, match="not valid JSON"):
        list(task.rows(client, concurrency=1))
    assert fault_server.calls == 2


def test_a_provider_error_stops_generation_at_once(fault_server):
    fault_server.always("404")
    with client_for(fault_server) as client, pytest.raises(UnknownModelError):
        list(task_for().rows(client, concurrency=1))
    assert fault_server.calls == 1


def test_parallel_calls_when_many_rows_are_wanted(fault_server):
    answers = [rows_answer([person(f"P{i}-{j}") for j in range(3)]) for i in range(4)]
    fault_server.script(*answers)
    task = task_for(rows=12)
    with client_for(fault_server) as client:
        rows = list(task.rows(client, concurrency=4))
    assert len(rows) == 12 and len({r["name"] for r in rows}) == 12
    assert fault_server.calls == 4


def test_the_row_schema_is_written_whole_in_the_instructions():
    schema = dict(SCHEMA, properties=dict(SCHEMA["properties"], name={"type": "string", "description": "Prénom"}))
    messages, options = task_for(row_schema=json.dumps(schema)).request_body(2, [])
    row_schema = options["response_format"]["json_schema"]["schema"]["properties"]["rows"]["items"]
    assert f"schema: {json.dumps(row_schema, ensure_ascii=False)}. Every row" in messages[0]["content"]
    assert '"description": "Prénom"' in messages[0]["content"]


def test_a_generation_call_is_keyed_by_the_task_kind_and_its_number():
    calls = _GenerationCalls(task_for())
    key, (messages, options) = calls.request({"call": 4, "count": 2, "sample": []})
    assert key == request_key("generate", "m", messages, options, 4)
    assert key != calls.request({"call": 5, "count": 2, "sample": []})[0]


@pytest.mark.parametrize("answer, last", [
    (rows_answer([person("Ann")]), "every row of the answer was a duplicate"),
    (rows_answer([]), "the answer held no rows"),
    (rows_answer([person("Ann"), {"name": 5}]), "every row of the answer was a duplicate"),
    (rows_answer([{"name": 5}]), "all 1 rows of the answer broke the schema"),
])
def test_giving_up_names_what_the_last_fruitless_answer_was(fault_server, answer, last):
    fault_server.script(rows_answer([person("Ann")]), answer, answer)
    task = task_for(rows=3, max_fruitless_calls=2)
    with client_for(fault_server) as client, pytest.raises(GenerationError) as caught:
        list(task.rows(client, concurrency=1))
    assert f"no new valid row (last: {last}). In all" in str(caught.value)
    assert fault_server.calls == 3


def test_giving_up_after_cut_off_answers_says_they_were_cut(fault_server):
    cut = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
           "choices": [{"index": 0, "finish_reason": "length",
                        "message": {"role": "assistant", "content": '{"rows": [{"name": "A'}}]}
    fault_server.always(Fault.error(200, cut, label="cut"))
    task = task_for(rows=3, max_fruitless_calls=2)
    with client_for(fault_server) as client, pytest.raises(GenerationError) as caught:
        list(task.rows(client, concurrency=1))
    assert "(last: " in str(caught.value) and "cut off" in str(caught.value)


def test_the_rows_schema_is_sent_under_its_name():
    _, options = task_for().request_body(2, [])
    assert options["response_format"]["json_schema"]["name"] == "rows"
    assert options["response_format"]["json_schema"]["strict"] is True


def test_a_row_written_with_its_fields_in_another_order_is_a_duplicate(fault_server):
    reordered = dict(reversed(list(person("Ann").items())))
    fault_server.script(rows_answer([person("Ann"), reordered, person("Bob")]))
    task = task_for(rows=2)
    with client_for(fault_server) as client:
        rows = list(task.rows(client, concurrency=1))
    assert [r["name"] for r in rows] == ["Ann", "Bob"]
    assert (task.dropped_invalid, task.dropped_duplicates) == (0, 1)


def test_after_a_fruitless_call_the_next_shows_no_rows_to_copy(fault_server):
    # a small model copies the rows shown as 'already made': the call after a fruitless one shows none
    fault_server.script(
        rows_answer([person("Ann")]),
        rows_answer([person("Ann")]),  # copied from the sample: fruitless
        rows_answer([person("Ann")]),  # fruitless again, this time without a sample
        rows_answer([person("Bob")]),
        rows_answer([person("Cid")]),
    )
    task = task_for(rows=3, rows_per_call=1)
    with client_for(fault_server) as client:
        rows = list(task.rows(client, concurrency=1))
    assert [r["name"] for r in rows] == ["Ann", "Bob", "Cid"]
    shown = ['"name": "Ann"' in req.json["messages"][1]["content"] for req in fault_server.requests]
    assert shown == [False, True, False, True, True]


def test_rows_shown_to_the_model_keep_their_own_characters():
    # the sample is shown as written, not as \\u escapes a model would copy into new rows
    messages, _ = task_for().request_body(2, [person("Zoë"), person("Łukasz")])
    assert '"name": "Zoë"' in messages[1]["content"] and '"name": "Łukasz"' in messages[1]["content"]
    assert "\\u" not in messages[1]["content"]


def test_settings_messages_whole():
    with pytest.raises(SettingsError) as caught:
        task_for(prompt=" ")
    assert str(caught.value) == ("Parameter 'prompt' is empty: describe the rows to generate, e.g. 'customers of a "
                                 "bike shop in Lyon, with realistic names and ages'.")
    with pytest.raises(SettingsError) as caught:
        task_for(model="")
    assert str(caught.value) == "Parameter 'model' is empty: choose a model of the connection."
    assert (task_for(rows_per_call="4").rows_per_call, task_for(max_fruitless_calls=1.0).max_fruitless_calls) == (4, 1)


def test_rows_made_already_are_shown_up_to_1500_characters():
    # each row below is 750 characters of JSON: two fill the allowance exactly, and a third is left out
    rows = [{"name": letter * 738} for letter in "abc"]
    assert [len(json.dumps(r)) for r in rows] == [750] * 3
    messages, _ = task_for().request_body(2, rows)
    assert messages[1]["content"].count('{"name": ') == 2 and "c" * 738 not in messages[1]["content"]
