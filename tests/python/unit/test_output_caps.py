"""Every task that generates text sends an output cap by default, and a cut answer names the setting to raise."""
from __future__ import annotations

import pytest
from openai_compatible import Client, OutputValidationError
from openai_compatible.engine import RowEngine
from openai_compatible.tasks.base import cut_off_advice, output_cap
from openai_compatible.tasks.classify import ClassifySpec, ClassifyTask
from openai_compatible.tasks.generate import GenerateSpec, GenerateTask
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

SENTIMENT = [{"from": "positive", "to": ""}, {"from": "negative", "to": ""}]


def test_output_cap_rules():
    assert output_cap(None, 256) == 256
    assert output_cap(40, 256) == 40
    assert output_cap(0, 256) is None  # 0: no cap sent, the provider's default
    assert cut_off_advice(256) == "raise 'max_output_tokens' (now 256)"


def sent_max_tokens(fault_server, task) -> object:
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"]})
    with client:
        list(RowEngine(task, client).run([[{"text": "good"}]]))
    return fault_server.requests[-1].json.get("max_tokens", "not sent")


@pytest.mark.parametrize("spec, expected", [
    ({}, 1024), ({"max_output_tokens": 50}, 50), ({"max_output_tokens": 0}, "not sent")])
def test_prompt_task_cap(fault_server, spec, expected):
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", **spec), ["text"])
    assert sent_max_tokens(fault_server, task) == expected


@pytest.mark.parametrize("spec, expected", [
    ({}, 256), ({"explanation": True}, 512), ({"max_output_tokens": 30}, 30),
    ({"explanation": True, "max_output_tokens": 900}, 900)])
def test_classify_task_cap(fault_server, spec, expected):
    task = ClassifyTask(ClassifySpec(model="m", text_column="text", classes=SENTIMENT, **spec), ["text"])
    assert sent_max_tokens(fault_server, task) == expected


def test_generate_task_cap():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    _, options = GenerateTask(GenerateSpec(model="m", prompt="people", row_schema=schema)).request_body(3, [])
    assert options["max_tokens"] == 2048
    _, options = GenerateTask(GenerateSpec(model="m", prompt="people", row_schema=schema,
                                           max_output_tokens=99)).request_body(3, [])
    assert options["max_tokens"] == 99


def test_a_cut_answer_names_the_setting_of_its_task():
    classify = ClassifyTask(ClassifySpec(model="m", text_column="text", classes=SENTIMENT, explanation=True), ["text"])
    _, problem = classify.row_values({"text": '{"label": "pos', "finish_reason": "length"})
    assert "raise 'max_output_tokens' (now 512)" in str(problem)
    prompt = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", output_format="json_object",
                                   max_output_tokens=64), ["text"])
    _, problem = prompt.row_values({"text": '{"a": ', "finish_reason": "length"})
    assert "raise 'max_output_tokens' (now 64)" in str(problem)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    generate = GenerateTask(GenerateSpec(model="m", prompt="people", row_schema=schema))
    with pytest.raises(OutputValidationError, match=r"raise 'max_output_tokens' \(now 2048\), or ask for fewer rows"):
        generate.parse_rows('{"rows": [', "length")
