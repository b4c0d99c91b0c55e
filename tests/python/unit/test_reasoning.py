"""Reasoning models: the reasoning split from the answer (whole and streamed), the budget spent on reasoning,
reasoning_effort (checked, dropped once when refused), reasoning tokens, and the tasks reading after it."""
from __future__ import annotations

import json
import logging

import pytest
from openai_compatible import Client, ReasoningBudgetError, SettingsError
from openai_compatible.compat import Compatibility
from openai_compatible.engine import RowEngine
from openai_compatible.errors import error_from_response
from openai_compatible.http.answers import parse_chat
from openai_compatible.jsonout import parse_json_text
from openai_compatible.progress import RunSummary
from openai_compatible.reasoning import (
    ReasoningSplitter,
    checked_budget,
    checked_effort,
    refuses_reasoning_effort,
    split_inline,
)
from openai_compatible.results import ChatResult, Usage
from openai_compatible.settings import ConnectionSettings
from openai_compatible.tasks.classify import ClassifySpec, ClassifyTask
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

from tests.servers.fault_server import Fault, when_text

# --- inline <think> blocks ---------------------------------------------------------------------------------------

INLINE = [
    # (content, answer, reasoning)
    ("<think>\nPlan.\n</think>\n\nParis.", "Paris.", "Plan."),
    ("  <think>a</think>b", "b", "a"),
    ("<think>\nCut by the token limit", "", "Cut by the token limit"),
    ("The template opened it.\n</think>\n\nHello!", "Hello!", "The template opened it."),
    ("<think></think>\n\nEmpty thinking.", "Empty thinking.", ""),
    ("No reasoning at all.", "No reasoning at all.", ""),
    ("Use <think> tags like <think>x</think> in HTML.", "Use <think> tags like <think>x</think> in HTML.", ""),
    ('{"a": 1}', '{"a": 1}', ""),
    ("", "", ""),
]


@pytest.mark.parametrize("content, answer, reasoning", INLINE)
def test_split_inline(content, answer, reasoning):
    assert split_inline(content) == (answer, reasoning)


def stream_split(pieces):
    splitter = ReasoningSplitter()
    out = [splitter.take({"content": p}, p) for p in pieces]
    out.append(splitter.flush())
    return "".join(out), splitter.text


@pytest.mark.parametrize("content, answer, reasoning", [c for c in INLINE if "</think>" not in c[0]
                                                        or "<think>" in c[0]])
def test_a_stream_splits_like_the_whole_answer_wherever_the_chunks_are_cut(content, answer, reasoning):
    """Every way of cutting the content into three chunks gives the answer and reasoning of the whole text (a
    closing tag without an opening one is the exception: a stream can't hold the whole answer back for it)."""
    for i in range(len(content) + 1):
        for j in range(i, len(content) + 1):
            got_answer, got_reasoning = stream_split([content[:i], content[i:j], content[j:]])
            assert (got_answer, got_reasoning or "") == (answer, reasoning), (content[:i], content[i:j])


def test_a_stream_holds_back_only_what_could_open_a_block():
    splitter = ReasoningSplitter()
    assert splitter.take({}, "\n<th") == ""  # could still be <think>
    assert splitter.take({}, "is is text") == "\n<this is text"
    assert splitter.take({}, " <think>later</think>") == " <think>later</think>"  # only a leading block counts
    assert splitter.text is None


def test_stream_reasoning_fields_and_thinking_parts():
    splitter = ReasoningSplitter()
    assert splitter.take({"reasoning_content": "One, "}, "") == ""
    assert splitter.take({"reasoning": "two. "}, "") == ""
    assert splitter.take({"content": [{"type": "thinking", "thinking": "Three."}]}, "") == ""
    assert splitter.take({"content": "4"}, "4") == "4"
    assert splitter.text == "One, two. Three."


def body(message, finish="stop", usage=None):
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


def test_whole_message_shapes():
    field = parse_chat(body({"content": "4", "reasoning_content": " 2+2 "}), "chat")
    assert (field.text, field.reasoning) == ("4", "2+2")
    ollama = parse_chat(body({"content": "4", "reasoning": "Add."}), "chat")
    assert (ollama.text, ollama.reasoning) == ("4", "Add.")
    parts = parse_chat(body({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm."}]},
                                         {"type": "text", "text": "42"}]}), "chat")
    assert (parts.text, parts.reasoning) == ("42", "Hmm.")
    plain = parse_chat(body({"content": "Hi"}), "chat")
    assert (plain.text, plain.reasoning) == ("Hi", None)
    both = parse_chat(body({"content": "<think>inline</think>Yes", "reasoning_content": "field"}), "chat")
    assert (both.text, both.reasoning) == ("Yes", "field\n\ninline")


# --- the budget spent on reasoning -------------------------------------------------------------------------------

def test_reasoning_that_used_the_whole_limit_is_an_error():
    with pytest.raises(ReasoningBudgetError) as caught:
        parse_chat(body({"content": None, "reasoning_content": "Let me"}, "length",
                        {"completion_tokens": 64, "completion_tokens_details": {"reasoning_tokens": 64}}), "chat")
    assert "64 reasoning tokens" in str(caught.value) and "max_tokens" in str(caught.value)
    assert caught.value.kind == "reasoning_budget" and not caught.value.retryable
    advised = caught.value.advised("raise 'max_output_tokens' (now 64)")
    assert str(advised).endswith(": raise 'max_output_tokens' (now 64).") and "max_tokens)" not in str(advised)
    with pytest.raises(ReasoningBudgetError):
        parse_chat(body({"content": "<think>cut here"}, "length"), "chat")


@pytest.mark.parametrize("result", [
    ChatResult(text="A short answer", finish_reason="length", reasoning="r"),  # cut, but there is an answer
    ChatResult(text="", finish_reason="stop", reasoning="r"),  # empty but finished: not a budget problem
    ChatResult(text="", finish_reason="length"),  # cut with no sign of reasoning: another kind
    ChatResult(text="", finish_reason="length", reasoning="r", tool_calls=[{"id": "c"}]),
])
def test_answers_that_are_not_a_spent_budget(result):
    assert checked_budget(result, "chat") is result


# --- reasoning_effort --------------------------------------------------------------------------------------------

def test_effort_values_are_checked():
    assert checked_effort(None) is None and checked_effort("  ") is None
    assert checked_effort(" High ") == "high"
    with pytest.raises(SettingsError, match="'reasoning_effort' is 'extreme'"):
        checked_effort("extreme")


def refusal(message, param=None):
    error = {"message": message, "type": "invalid_request_error", "param": param}
    return error_from_response(400, json.dumps({"error": error}), {})


@pytest.mark.parametrize("message, param, refused", [
    ('"llama3.1:8b" does not support thinking', None, True),
    ('think value "medium" is not supported for this model', None, True),
    ("reasoning_effort is not supported with this model", None, True),
    ("reasoning_effort: Extra inputs are not permitted", None, True),
    ("Unrecognized request argument", "reasoning_effort", True),
    ("Unsupported value: 'reasoning_effort' does not support 'none' with this model. Supported values are: "
     "'low', 'medium', and 'high'.", None, False),
    ("temperature is not supported with this model", None, False),
])
def test_which_refusals_are_about_reasoning_effort(message, param, refused):
    payload = {"messages": [], "reasoning_effort": "low"}
    assert refuses_reasoning_effort(refusal(message, param), payload) is refused
    assert refuses_reasoning_effort(refusal(message, param), {"messages": []}) is False


def test_a_refused_effort_is_dropped_once_for_the_connection(caplog):
    compat = Compatibility(ConnectionSettings.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"]}))
    payload = {"messages": [], "reasoning_effort": "low"}
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        assert compat.adapt(refusal('"m" does not support thinking'), payload)
    assert compat.apply(dict(payload)) == {"messages": []}
    assert len(compat.learnt) == 1 and "reasoning_effort" in caplog.text
    assert not compat.adapt(refusal('"m" does not support thinking'), payload)  # nothing left to learn


# --- tokens ------------------------------------------------------------------------------------------------------

def test_reasoning_tokens_in_usage_and_summary():
    assert Usage.from_dict({"completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 7}}
                           ).reasoning_tokens == 7
    assert Usage.from_dict({"completion_tokens": 9, "completion_tokens_details": None}).reasoning_tokens is None
    assert Usage.from_dict({"completion_tokens_details": {"reasoning_tokens": "7"}}).reasoning_tokens is None
    assert "of them reasoning" not in RunSummary(completion_tokens=5).describe()
    assert "tokens: 0 in, 50 out (40 of them reasoning)" in RunSummary(completion_tokens=50,
                                                                       reasoning_tokens=40).describe()


# --- tasks read the answer after the reasoning -------------------------------------------------------------------

SENTIMENT = [{"from": "positive", "to": ""}, {"from": "negative", "to": ""}]


def test_labels_and_json_are_never_read_inside_the_reasoning():
    classify = ClassifyTask(ClassifySpec(model="m", text_column="text", classes=SENTIMENT), ["text"])
    stored = '<think>Maybe {"label": "positive"}? No.</think>\n{"label": "negative"}'
    assert classify.parse(stored)[0]["labels"] == ["negative"]
    assert parse_json_text('<think>{"rows": []}</think>\n{"rows": [1]}', "stop", "raise it") == {"rows": [1]}


def recorded(message, finish="stop", usage=None):
    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": dict({"role": "assistant"}, **message), "finish_reason": finish}],
              "usage": usage or {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}}
    return Fault.error(200, answer, label="answer")


def test_prompt_and_classify_tasks_end_to_end(fault_server):
    fault_server.add_rule(recorded({"content": "Fine.", "reasoning_content": "Greeting."},
                                   usage={"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10,
                                          "completion_tokens_details": {"reasoning_tokens": 5}}), when_text("hi"))
    fault_server.add_rule(recorded({"content": "", "reasoning": "Think, think"}, "length"), when_text("long"))
    fault_server.add_rule(recorded({"content": '<think>positive?</think>{"label": "negative"}'}),
                          when_text("awful"))
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0})
    prompt = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", reasoning_column=True,
                                   reasoning_effort="minimal", max_output_tokens=32), ["text"])
    assert [c.name for c in prompt.output_columns()][:2] == ["response", "reasoning"]
    assert "reasoning_tokens" in [c.name for c in prompt.output_columns()]
    classify = ClassifyTask(ClassifySpec(model="m", text_column="text", classes=SENTIMENT, reasoning_effort="low"),
                            ["text"])
    with client:
        engine = RowEngine(prompt, client)
        [rows] = list(engine.run([[{"text": "hi"}, {"text": "long story"}]]))
        [labels] = list(RowEngine(classify, client).run([[{"text": "awful"}]]))
    assert rows[0]["response"] == "Fine." and rows[0]["reasoning"] == "Greeting."
    assert rows[0]["reasoning_tokens"] == 5
    assert rows[1]["error_type"] == "reasoning_budget"
    assert "raise 'max_output_tokens' (now 32)" in rows[1]["error_message"]
    assert engine.summary.reasoning_tokens == 5
    assert labels[0]["label"] == "negative"
    sent = [r.json for r in fault_server.requests]
    assert [b.get("reasoning_effort") for b in sent] == ["minimal", "minimal", "low"]
    with pytest.raises(SettingsError, match="reasoning_effort"):
        PromptTask(PromptSpec(model="m", prompt_template="{{text}}", reasoning_effort="max!"), ["text"])
