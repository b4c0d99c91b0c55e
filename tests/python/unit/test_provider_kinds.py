"""The shared rules behind issue 10's kinds: the finish_reason table, the tool-call merge rule, what a 400 about
a field teaches the connection, and the wrong-URL diagnosis. The provider corpus replays the cases; these
tests pin the rules on shapes the corpus does not hold."""
from __future__ import annotations

import json
import logging

import pytest
from openai_compatible.compat import Compatibility, refusal_kind
from openai_compatible.errors import (
    BadRequestError,
    ContentFilterError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    error_from_response,
    wrong_route_hint,
)
from openai_compatible.finish import ANSWER, FAILED, FILTERED, TRUNCATED, finish_error, normalise, outcome
from openai_compatible.http.streaming import StreamAccumulator, merge_tool_calls
from openai_compatible.settings import ConnectionSettings


def compat() -> Compatibility:
    return Compatibility(ConnectionSettings.from_preset(
        {"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "api_key": "sk-unit-kinds-0001"}))


def refusal(status: int, error: dict) -> BadRequestError:
    made = error_from_response(status, json.dumps({"error": error}), {})
    assert isinstance(made, BadRequestError)
    return made


# --- finish reasons -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent,reported,becomes", [
    ("stop", "stop", ANSWER), ("eos", "stop", ANSWER), ("eos_token", "stop", ANSWER), ("end_turn", "stop", ANSWER),
    ("STOP", "stop", ANSWER), ("length", "length", TRUNCATED), ("MAX_TOKENS", "length", TRUNCATED),
    ("tool_use", "tool_calls", ANSWER), ("content_filter", "content_filter", FILTERED),
    ("SAFETY", "content_filter", FILTERED), ("error", "error", FAILED), ("a_new_value", "a_new_value", ANSWER),
])
def test_every_finish_reason_has_one_meaning(sent, reported, becomes):
    assert normalise(sent) == reported
    assert outcome(reported) == becomes


def test_tool_calls_turn_stop_or_nothing_into_tool_calls_but_not_length():
    assert normalise("stop", has_tool_calls=True) == "tool_calls"
    assert normalise(None, has_tool_calls=True) == "tool_calls"
    assert normalise("length", has_tool_calls=True) == "length"
    assert normalise(None) is None


def test_errors_of_finish_reasons():
    assert isinstance(finish_error("content_filter", "chat"), ContentFilterError)
    failed = finish_error("error", "chat")
    assert isinstance(failed, ServerError) and failed.retryable
    assert finish_error("length", "chat") is None and finish_error("stop", "chat") is None


# --- streamed tool calls --------------------------------------------------------------------------------------

def fragment(**fields) -> dict:
    out = {k: v for k, v in fields.items() if k in ("index", "id")}
    function = {k: v for k, v in fields.items() if k in ("name", "arguments")}
    if function:
        out["function"] = function
    return out


def test_arguments_split_across_many_fragments_make_one_call():
    calls: list = []
    merge_tool_calls(calls, [fragment(index=0, id="c1", name="f", arguments="")])
    for piece in ['{"a"', ": ", "1", "}"]:
        merge_tool_calls(calls, [fragment(index=0, arguments=piece)])
    assert len(calls) == 1 and json.loads(calls[0]["function"]["arguments"]) == {"a": 1}


def test_two_calls_with_their_own_indexes_interleaved():
    calls: list = []
    merge_tool_calls(calls, [fragment(index=0, id="a", name="f"), fragment(index=1, id="b", name="g")])
    merge_tool_calls(calls, [fragment(index=1, arguments="{}"), fragment(index=0, arguments='{"x":1}')])
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [("a", '{"x":1}'), ("b", "{}")]


def test_a_repeated_id_extends_its_call():
    calls: list = []
    merge_tool_calls(calls, [fragment(index=0, id="a", name="f", arguments='{"x":')])
    merge_tool_calls(calls, [fragment(index=0, id="a", arguments="2}")])
    assert len(calls) == 1 and calls[0]["function"]["arguments"] == '{"x":2}'


def test_calls_are_renumbered_in_the_result():
    accumulator = StreamAccumulator()
    for call_id in ("a", "b"):
        accumulator.add({"choices": [{"delta": {"tool_calls": [fragment(index=0, id=call_id, name="f",
                                                                         arguments="{}")]}}]})
    accumulator.add({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    result = accumulator.finish()
    assert [c["index"] for c in result.tool_calls] == [0, 1]
    assert result.finish_reason == "tool_calls"


# --- what a 400 about a field teaches ---------------------------------------------------------------------------

def test_kinds_of_refusal():
    assert refusal_kind(refusal(400, {"message": "Unsupported parameter: 'seed'", "param": "seed",
                                      "code": "unsupported_parameter"})) == "unsupported"
    assert refusal_kind(refusal(400, {"message": "Invalid 'stop': array too long.", "param": "stop",
                                      "code": "array_above_max_length"})) == "value"
    assert refusal_kind(refusal(400, {"message": "'top_logprobs' is only allowed when 'logprobs' is true.",
                                      "param": "top_logprobs"})) == "precondition"


def test_a_precondition_learns_nothing_and_keeps_the_field():
    c = compat()
    error = refusal(400, {"message": "'top_logprobs' is only allowed when 'logprobs' is true.",
                          "param": "top_logprobs"})
    assert not c.adapt(error, {"model": "m", "top_logprobs": 3})
    assert c.dropped == set() and c.learnt == []


def test_an_invalid_value_without_a_fix_keeps_the_field():
    c = compat()
    error = refusal(400, {"message": "Invalid value for 'temperature': must be between 0 and 2.",
                          "param": "temperature", "code": "invalid_value"})
    assert not c.adapt(error, {"model": "m", "temperature": 7})
    assert "temperature" not in c.dropped


def test_a_list_above_its_maximum_is_cut_for_every_later_request_and_logged_once(caplog):
    c = compat()
    error = refusal(400, {"message": "Invalid 'stop': array too long. Expected an array with maximum length 4, "
                                     "but got an array with length 6 instead.", "param": "stop",
                          "code": "array_above_max_length"})
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        assert c.adapt(error, {"model": "m", "stop": list("abcdef")})
        assert not c.adapt(error, {"model": "m", "stop": list("abcdef")})  # learnt once
    assert c.apply({"stop": list("abcdef")})["stop"] == list("abcd")
    assert "stop" not in c.dropped
    assert caplog.text.count("at most 4 items in 'stop'") == 1


def test_the_word_json_is_added_once_the_provider_asks_for_it():
    c = compat()
    fmt = {"type": "json_object"}
    ask = [{"role": "user", "content": "Classify this."}]
    assert c.json_instructions(ask, fmt, fmt) == ask
    error = refusal(400, {"message": "'messages' must contain the word 'json' in some form, to use "
                                     "'response_format' of type 'json_object'."})
    assert c.adapt(error, {"model": "m", "messages": ask, "response_format": fmt})
    assert c.json_mode == "auto"  # the mode is kept
    assert "json" in json.dumps(c.json_instructions(ask, fmt, fmt)).lower()


# --- statuses and URLs ----------------------------------------------------------------------------------------

def test_402_is_an_exhausted_quota_and_a_per_minute_429_a_rate_limit():
    assert isinstance(error_from_response(402, '{"error": {"message": "Insufficient Balance"}}', {}),
                      QuotaExceededError)
    limited = error_from_response(429, '{"error": {"message": "Rate limit: 60 requests per minute. See your '
                                       'billing page to upgrade."}}', {})
    assert type(limited) is RateLimitError and limited.retryable
    exhausted = error_from_response(429, '{"error": {"message": "You exceeded your current quota, please check '
                                         'your plan and billing details.", "code": "insufficient_quota"}}', {})
    assert isinstance(exhausted, QuotaExceededError)


@pytest.mark.parametrize("said,fix", [
    ("no such route: POST /v1/v1/chat/completions", "remove one /v1"),
    ("Unexpected endpoint or method. (GET /models)", "add /v1"),
    ("Cannot POST /api/chat/completions", "check 'base_url'"),
])
def test_a_wrong_path_names_the_base_url_fix(said, fix):
    assert fix in wrong_route_hint(said)
    error = error_from_response(404, json.dumps({"error": said}), {})
    assert fix in str(error) and not error.retryable


def test_an_unrelated_error_has_no_route_hint():
    assert wrong_route_hint("the model is overloaded") == ""


# --- further shapes of the same kinds ---------------------------------------------------------------------------

def test_more_finish_reasons_that_are_failures():
    assert outcome(normalise("abort")) == FAILED
    assert outcome(normalise("insufficient_system_resource")) == FAILED


def test_an_error_nested_in_an_error_keeps_its_message():
    error = error_from_response(400, json.dumps({"error": {"error": {"message": "upstream said no"}}}), {})
    assert "upstream said no" in str(error)


def test_a_list_too_long_said_only_in_pydantic_details_is_a_value():
    body = {"error": {"code": "Invalid input", "message": "invalid input error", "details": [
        {"loc": ["body", "stop"], "type": "too_long", "msg": "List should have at most 4 items after validation, "
                                                              "not 5"}]}}
    error = error_from_response(422, json.dumps(body), {})
    assert isinstance(error, BadRequestError) and error.param == "stop"
    assert refusal_kind(error) == "value"
    c = compat()
    assert c.adapt(error, {"model": "m", "stop": list("abcde")})
    assert "stop" not in c.dropped and c.apply({"stop": list("abcde")})["stop"] == list("abcd")


@pytest.mark.parametrize("body", [
    # the same refusal beneath a gateway's wrapper that says nothing of its own
    {"error": {"message": None, "code": "upstream_error", "error": {
        "code": "Invalid input", "message": "invalid input error", "details": [
            {"loc": ["body", "stop"], "type": "too_long", "msg": "List should have at most 4 items"}]}}},
    # a null "details" beside the FastAPI-style "detail" list
    {"error": {"message": "invalid input error", "details": None, "detail": [
        {"loc": ["body", "stop"], "type": "too_long", "msg": "List should have at most 4 items"}]}},
    # Google's one-element list
    [{"error": {"message": "invalid input error", "details": [
        {"loc": ["body", "stop"], "type": "too_long", "msg": "List should have at most 4 items"}]}}],
])
def test_a_refusal_said_only_in_details_is_read_beneath_wrappers_and_null_fields(body):
    error = error_from_response(422, json.dumps(body), {})
    assert isinstance(error, BadRequestError) and error.param == "stop"
    assert refusal_kind(error) == "value"
