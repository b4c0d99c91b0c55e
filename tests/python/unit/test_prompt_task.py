"""The prompt task's settings from apply() options, and the columns it adds."""
from __future__ import annotations

import json

import pytest
from openai_compatible import Client, SettingsError, UnknownModelError
from openai_compatible.engine import RowEngine
from openai_compatible.tasks.classify import ClassifySpec, ClassifyTask
from openai_compatible.tasks.embed import EmbedSpec, EmbedTask
from openai_compatible.tasks.prompt import APPLY_OPTIONS, PromptSpec, PromptTask

from tests.servers.fault_server import Fault


def test_apply_options_become_the_spec():
    spec = PromptSpec.from_options("Say {{text}}", "m", {
        "system_prompt": "Be brief", "examples": [{"from": "a", "to": "b"}], "temperature": 0.5,
        "max_output_tokens": 20, "top_p": 0.9, "stop": "END", "seed": 7, "output_format": "json_object",
        "raw_response": 1, "reasoning_effort": "low", "reasoning_column": "yes"})
    assert (spec.model, spec.prompt_template, spec.system_prompt) == ("m", "Say {{text}}", "Be brief")
    assert spec.examples == [{"from": "a", "to": "b"}]
    assert (spec.temperature, spec.max_output_tokens, spec.top_p, spec.seed) == (0.5, 20, 0.9, 7)
    assert spec.stop == ["END"]  # one stop sequence given as a string
    assert (spec.output_format, spec.raw_response, spec.reasoning_effort) == ("json_object", True, "low")
    assert spec.reasoning_column is True


def test_apply_defaults_are_plain_text_without_extra_columns():
    spec = PromptSpec.from_options("Say {{text}}", "m", {})
    assert (spec.system_prompt, spec.output_format, spec.stop) == ("", "text", [])
    assert spec.raw_response is False and spec.reasoning_column is False


def test_an_unknown_apply_option_is_named_with_the_known_ones():
    with pytest.raises(SettingsError) as caught:
        PromptSpec.from_options("{{text}}", "m", {"temprature": 0.2, "system_prompt": "x"}, caller="spark.apply()")
    assert str(caught.value) == (f"spark.apply(): unknown option(s) temprature. Known: {', '.join(APPLY_OPTIONS)}.")


def test_an_unknown_option_of_apply_is_named_under_apply():
    # the notebook's apply() gives no caller: the message names apply(), the call the user wrote
    with pytest.raises(SettingsError) as caught:
        PromptSpec.from_options("{{text}}", "m", {"max_tokens": 5, "temprature": 0.2})
    assert str(caught.value) == f"apply(): unknown option(s) max_tokens, temprature. Known: {', '.join(APPLY_OPTIONS)}."


@pytest.mark.parametrize("task", [
    PromptTask(PromptSpec(model="other", prompt_template="{{text}}"), ["text"]),
    ClassifyTask(ClassifySpec(model="other", text_column="text", classes=["positive", "negative"]), ["text"]),
    EmbedTask(EmbedSpec(model="other", text_column="text"), ["text"]),
], ids=["prompt", "classify", "embed"])
def test_a_model_the_connection_does_not_offer_is_refused_before_any_row_is_sent(task, fault_server):
    # each row task hands its model to the check the engine runs before the first row
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"]}) as client, \
            pytest.raises(UnknownModelError) as caught:
        task.check(client)
    assert str(caught.value) == ("Model 'other' is not offered by this preset. Offered: m. Add it to the preset's "
                                 "'models' list or turn on 'discover_models'.")
    assert fault_server.calls == 0

def test_the_reasoning_and_raw_response_columns_are_described():
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", raw_response=True, reasoning_column=True),
                      ["text"])
    columns = {c.name: (c.type, c.description) for c in task.output_columns()}
    assert columns["reasoning"] == ("string", "What a reasoning model thought before answering (empty when the "
                                              "model or provider gives none)")
    assert columns["raw_response"] == ("string", "The provider's full JSON response")
    plain = PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["text"])
    assert not {"reasoning", "raw_response"} & {c.name for c in plain.output_columns()}


def task_for(**changes) -> PromptTask:
    spec = dict(model="m", prompt_template="{{text}}")
    spec.update(changes)
    return PromptTask(PromptSpec(**spec), ["text"])


def test_an_empty_model_is_refused_before_any_request():
    with pytest.raises(SettingsError, match="^Parameter 'model' is empty: choose a model of the connection.$"):
        task_for(model="")


@pytest.mark.parametrize("system_prompt, template, system", [
    ("", "{{text}}", "Answer with a JSON object."),
    ("Be brief.", "{{text}}", "Be brief.\n\nAnswer with a JSON object."),
    ("", "Reply in Json: {{text}}", None),  # the prompt mentions JSON already
    ("Answer in JSON.", "{{text}}", "Answer in JSON."),
])
def test_json_mode_makes_sure_the_prompt_mentions_json(system_prompt, template, system):
    # several providers refuse JSON mode unless the prompt says JSON
    messages = task_for(output_format="json_object", system_prompt=system_prompt,
                        prompt_template=template)._fixed_messages
    assert messages == ([{"role": "system", "content": system}] if system else [])


def test_examples_become_user_and_assistant_turns_before_the_row():
    task = task_for(system_prompt="Add.", examples=[{"input": "1+1", "output": "2"}, {"from": "2+2", "to": "4"}])
    assert task.messages_for({"text": "3+3"}) == [
        {"role": "system", "content": "Add."},
        {"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": "2+2"}, {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3"}]


@pytest.mark.parametrize("example", [{"input": "1+1"}, {"output": "2"}, {"from": " ", "to": "2"}, {}])
def test_an_example_without_input_or_output_is_refused(example):
    with pytest.raises(SettingsError, match="'examples' entry 2 needs both an input and an output"):
        task_for(examples=[{"input": "a", "output": "b"}, example])


def test_the_raw_response_and_the_model_that_answered_are_kept(fault_server):
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "served-model-é",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}
    fault_server.script(Fault.error(200, body))
    task = task_for(raw_response=True)
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0})
    with client:
        [out] = list(RowEngine(task, client, concurrency=1).run([[{"text": "hi"}]]))[0]
    assert (out["response"], out["model"], out["prompt_tokens"]) == ("hello", "served-model-é", 4)
    assert json.loads(out["raw_response"]) == body
    assert "served-model-é" in out["raw_response"]  # written as is, not as \\u escapes


def test_sampling_settings_are_sent_as_the_api_names_them():
    options = task_for(temperature="0.3", top_p=0.5, max_output_tokens=64, stop=["END", ""], seed="42",
                       reasoning_effort="low")._options
    assert options == {"temperature": 0.3, "top_p": 0.5, "max_tokens": 64, "stop": ["END"], "seed": 42,
                       "reasoning_effort": "low"}


def test_a_json_object_answer_fills_the_json_column_with_normalised_json_text():
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", output_format="json_object"), ["text"])
    assert [c.name for c in task.output_columns() if c.name == "json"] == ["json"]
    values, error = task.row_values({"text": '{ "city": "Zürich", "n": [1, 2] }', "finish_reason": "stop"})
    assert error is None
    assert values["json"] == '{"city": "Zürich", "n": [1, 2]}' and json.loads(values["json"])["n"] == [1, 2]


def test_the_latency_column_is_the_answers_latency():
    from openai_compatible.results import ChatResult
    from openai_compatible.tasks.base import chat_answer

    answer = chat_answer(ChatResult(text="hi", finish_reason="stop", model="m", latency_ms=123.456))
    assert answer["latency_ms"] == 123.5


def test_a_json_schema_is_sent_strict_and_adds_its_fields_after_the_usual_columns():
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    plain = [c.name for c in task_for().output_columns()]
    task = task_for(output_format="json_schema", json_schema=schema)
    fmt = task._options["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "row"
    assert fmt["json_schema"]["strict"] is True
    assert [c.name for c in task.output_columns()] == plain + ["field:city", "field:n"]


def test_the_whole_output_schema_with_every_optional_column():
    # the columns' names, types and descriptions are what DSS shows in the output dataset's schema
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}} as json", output_format="json_object",
                                 raw_response=True, reasoning_column=True), ["text"])
    assert [(c.name, c.type, c.description) for c in task.output_columns()] == [
        ("response", "string", "The model's answer (raw text, also when JSON parsing failed)"),
        ("reasoning", "string", "What a reasoning model thought before answering (empty when the model or provider "
                                "gives none)"),
        ("error_message", "string", "What failed for this row (empty when the row was answered)"),
        ("error_type", "string", "Kind of failure: input, rate_limited, server_error, timeout, context_length, "
                                 "invalid_output, ... (empty when answered)"),
        ("finish_reason", "string", "Why the model stopped: stop, length (output token limit), content_filter, ..."),
        ("prompt_tokens", "bigint", "Input tokens, as reported by the provider"),
        ("completion_tokens", "bigint", "Output tokens, as reported by the provider"),
        ("reasoning_tokens", "bigint", "Output tokens a reasoning model spent thinking (part of completion_tokens; "
                                       "empty when the provider doesn't report them)"),
        ("model", "string", "Model that answered, as reported by the provider"),
        ("latency_ms", "double", "Time from the first request to the answer, retries included, in milliseconds (0 "
                                 "when the answer came from the cache or a duplicate row)"),
        ("cost", "double", "Estimated cost of the request, from the preset's prices per million tokens (empty when "
                           "the model has no price or the provider reported no token counts)"),
        ("raw_response", "string", "The provider's full JSON response"),
        ("json", "string", "The answer parsed as a JSON object (normalised text)"),
    ]


def test_the_error_kinds_the_error_type_column_names_are_real_ones():
    import re

    from openai_compatible import errors
    from openai_compatible.tasks.base import RowInputError
    kinds = {getattr(cls, "kind", None) for cls in vars(errors).values() if isinstance(cls, type)} | {
        RowInputError.kind}
    described = PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["text"]).output_columns()
    text = next(c.description for c in described if c.name == "error_type")
    named = re.findall(r"[a-z_]+", text.split(":", 1)[1].split("...")[0])
    assert named and set(named) <= kinds, set(named) - kinds
