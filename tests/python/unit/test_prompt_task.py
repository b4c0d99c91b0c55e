"""The prompt task's settings from apply() options, and the columns it adds."""
from __future__ import annotations

import pytest
from openai_compatible import SettingsError
from openai_compatible.tasks.prompt import APPLY_OPTIONS, PromptSpec, PromptTask


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


def test_the_reasoning_and_raw_response_columns_are_described():
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", raw_response=True, reasoning_column=True),
                      ["text"])
    columns = {c.name: (c.type, c.description) for c in task.output_columns()}
    assert columns["reasoning"] == ("string", "What a reasoning model thought before answering (empty when the "
                                              "model or provider gives none)")
    assert columns["raw_response"] == ("string", "The provider's full JSON response")
    plain = PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["text"])
    assert not {"reasoning", "raw_response"} & {c.name for c in plain.output_columns()}
