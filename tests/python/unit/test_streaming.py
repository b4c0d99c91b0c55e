"""Streamed answers: tool-call fragments, events that are not objects, and a provider that cannot stream."""
from __future__ import annotations

import io
import json

import pytest
import requests
from openai_compatible import APIConnectionError, APITimeoutError, Client, ContentFilterError, InvalidResponseError
from openai_compatible.http.streaming import StreamAccumulator, merge_tool_calls, read_stream

from tests.servers.fault_server import Fault


def test_a_later_fragment_sets_new_fields_but_never_clears_one():
    calls: list = []
    merge_tool_calls(calls, [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}])
    merge_tool_calls(calls, [{"index": 0, "type": "function", "function": {"name": None, "arguments": '{"city"'}}])
    merge_tool_calls(calls, [{"index": 0, "function": {"arguments": ': "Oslo"}'}}])
    assert calls == [{"index": 0, "id": "c1", "type": "function",
                      "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]


def test_later_fragments_sending_null_id_type_and_name_keep_those_of_the_first():
    # servers that repeat every field of a call in each fragment, null when unchanged
    calls: list = []
    merge_tool_calls(calls, [{"index": 0, "id": "c1", "type": "function",
                              "function": {"name": "get_weather", "arguments": ""}}])
    merge_tool_calls(calls, [{"index": 0, "id": None, "type": None,
                              "function": {"name": None, "arguments": '{"city": "Oslo"}'}}])
    assert calls == [{"index": 0, "id": "c1", "type": "function",
                      "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]


def sse_response(*events: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO("".join(f"data: {e}\n\n" for e in events).encode())
    return response


def chunk(text: str, finish=None) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def test_a_stream_event_that_is_not_an_object_is_skipped():
    accumulator = StreamAccumulator()
    pieces = list(read_stream(sse_response(chunk("one "), "42", '["x"]', chunk("two", "stop"), "[DONE]"),
                              accumulator, where="chat", redact=str, read_timeout_s=5))
    assert pieces == ["one ", "two"]
    assert accumulator.finish().text == "one two"


def test_a_provider_that_cannot_stream_gives_the_whole_answer_as_a_finished_stream(fault_server):
    fault_server.add_rule(Fault.stream_unsupported(), when=lambda req: bool(req.json.get("stream")))
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        stream = client.stream([{"role": "user", "content": "hi"}], model="m")
        assert repr(stream) == "<openai_compatible.ChatStream 0 pieces so far>"
        assert stream.text() == "echo: hi"
    assert repr(stream) == "<openai_compatible.ChatStream finished>"


@pytest.mark.parametrize("content_type", ["text/event-stream; charset=utf-8", "text/plain; charset=utf-8", ""])
def test_a_stream_is_read_as_events_whatever_its_content_type_unless_json(fault_server, content_type):
    # proxies rewrite or drop the Content-Type of a stream: only a JSON one is a whole answer (a provider
    # that ignores "stream"), anything else is read as server-sent events
    events = "".join(f"data: {e}\n\n" for e in (chunk("Hello "), chunk("there", "stop"), "[DONE]"))
    fault_server.always(Fault.error(200, events, content_type=content_type))
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        stream = client.stream([{"role": "user", "content": "hi"}], model="m")
        assert list(stream) == ["Hello ", "there"] and stream.text() == "Hello there"


def test_a_whole_json_answer_to_a_stream_request_is_its_only_piece(fault_server):
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"},
                         "finish_reason": "stop"}]}
    fault_server.always(Fault.error(200, json.dumps(body), content_type="application/json; charset=utf-8"))
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        stream = client.stream([{"role": "user", "content": "hi"}], model="m")
        assert list(stream) == ["all at once"] and stream.text() == "all at once"


def test_a_new_attempt_starts_the_stream_from_nothing():
    accumulator = StreamAccumulator()
    accumulator.add(json.loads(chunk("one ")))
    accumulator.reset()  # a new attempt
    assert accumulator.text == "" and accumulator.result is None



def test_a_model_refusal_is_a_content_filter_error_coded_refusal(fault_server):
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                         "finish_reason": "stop"}]}
    fault_server.always(Fault.error(200, body))
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        with pytest.raises(ContentFilterError) as caught:
            client.chat([{"role": "user", "content": "hi"}], model="m")
    assert caught.value.code == "refusal" and "the model refused to answer: I can't help." in str(caught.value)
    assert caught.value.provider_message == "I can't help."  # the model's own words, as for any refusal


@pytest.mark.parametrize("failure, kind, message", [
    (requests.exceptions.ReadTimeout("read timed out"), APITimeoutError,
     "stream with 'm': the stream stalled past the read timeout (2.5s) after 2 pieces. Raise 'read_timeout_s' in "
     "the preset if the provider is slow."),
    (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"), InvalidResponseError,
     "stream with 'm': the stream ended without [DONE] after 2 pieces"),
    (requests.exceptions.ConnectionError("Connection reset by peer"), APIConnectionError,
     "stream with 'm': the stream broke after 2 pieces"),
])
def test_a_stream_failing_midway_says_how_and_after_how_many_pieces(failure, kind, message):
    def events(chunk_size=None):
        yield f"data: {chunk('one ')}\n\ndata: {chunk('two ')}\n\n".encode()
        raise failure

    response = requests.Response()
    response.status_code = 200
    response.iter_content = events
    accumulator = StreamAccumulator()
    pieces = []
    with pytest.raises(kind) as info:
        for piece in read_stream(response, accumulator, where="stream with 'm'", redact=str, read_timeout_s=2.5):
            pieces.append(piece)
    assert pieces == ["one ", "two "]
    assert type(info.value) is kind and str(info.value).startswith(message)


def test_a_stream_that_ends_cleanly_without_done_or_a_finish_reason_is_incomplete():
    # the HTTP body ended normally, but neither [DONE] nor a finish reason came: the answer may be cut
    accumulator = StreamAccumulator()
    with pytest.raises(InvalidResponseError) as info:
        list(read_stream(sse_response(chunk("one "), chunk("two ")), accumulator, where="stream with 'm'",
                         redact=str, read_timeout_s=5))
    assert str(info.value) == ("stream with 'm': the stream ended without [DONE] after 2 pieces; the answer may be "
                               "incomplete.")
    # with a finish reason it is whole (some servers close the stream after it, without [DONE])
    whole = StreamAccumulator()
    assert list(read_stream(sse_response(chunk("one "), chunk("two", "stop")), whole, where="stream with 'm'",
                            redact=str, read_timeout_s=5)) == ["one ", "two"]
