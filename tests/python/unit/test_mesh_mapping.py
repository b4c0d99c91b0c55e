"""LLM Mesh queries and settings -> OpenAI chat requests, and answers -> Mesh responses (no network)."""
import json

import pytest
from openai_compatible.errors import SettingsError
from openai_compatible.mesh import mesh_log_probs, mesh_messages, mesh_options, mesh_tool_calls, mesh_usage
from openai_compatible.results import ChatResult, Usage


def test_plain_and_multipart_messages():
    query = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "parts": [{"type": "TEXT", "text": "What is"}, {"type": "TEXT", "text": "this?"}]},
        {"role": "user", "parts": [{"type": "TEXT", "text": "Look:"},
                                   {"type": "IMAGE_INLINE", "inlineImage": "QUJD", "imageMimeType": "image/jpeg"},
                                   {"type": "IMAGE_URI", "imageUrl": "https://example.invalid/cat.png"}]},
        {"role": "user", "content": "x", "partOfExample": True},
    ]}
    messages = mesh_messages(query)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1] == {"role": "user", "content": "What is\nthis?"}  # text-only parts stay plain text
    assert messages[2]["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
    ]
    assert messages[3] == {"role": "user", "content": "x"}  # Mesh-only flags are not sent


def test_tool_calls_and_outputs():
    query = {"messages": [
        {"role": "user", "content": "3 times 6?"},
        {"role": "assistant", "toolCalls": [{"type": "function", "id": "call_1",
                                             "function": {"name": "multiply", "arguments": {"a": 3, "b": 6}}}]},
        {"role": "tool", "toolOutputs": [{"callId": "call_1", "output": "18"}]},
        {"role": "memoryFragment", "memoryFragment": {"x": 1}},
    ]}
    messages = mesh_messages(query)
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "multiply", "arguments": '{"a": 3, "b": 6}'}}]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18"}
    assert len(messages) == 3


def test_bad_queries_are_settings_errors():
    with pytest.raises(SettingsError):
        mesh_messages({"messages": []})
    with pytest.raises(SettingsError, match="part type 'AUDIO'"):
        mesh_messages({"messages": [{"role": "user", "parts": [{"type": "AUDIO"}]}]})
    with pytest.raises(SettingsError, match="callId"):
        mesh_messages({"messages": [{"role": "tool", "toolOutputs": [{"output": "x"}]}]})


def test_settings_mapping():
    messages = [{"role": "user", "content": "hi"}]
    options, skipped = mesh_options({
        "temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 64, "stopSequences": ["END"],
        "presencePenalty": 0.5, "frequencyPenalty": 0.1, "logProbs": True, "topLogProbs": 2,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "toolChoice": {"type": "tool_name", "name": "f"}, "somethingNew": 1,
    }, messages)
    assert options == {
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "stop": ["END"], "presence_penalty": 0.5,
        "frequency_penalty": 0.1, "logprobs": True, "top_logprobs": 2,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }
    assert set(skipped) == {"topK", "somethingNew"}


@pytest.mark.parametrize("choice,expected", [({"type": "auto"}, "auto"), ({"type": "required"}, "required"),
                                             ({"type": "none"}, "none"), ("f", {"type": "function",
                                                                               "function": {"name": "f"}})])
def test_tool_choice(choice, expected):
    options, _ = mesh_options({"tools": [{"type": "function", "function": {"name": "f"}}], "toolChoice": choice},
                              [{"role": "user", "content": "x"}])
    assert options["tool_choice"] == expected


def test_tool_choice_without_tools_is_not_sent():
    options, _ = mesh_options({"toolChoice": {"type": "auto"}}, [{"role": "user", "content": "x"}])
    assert "tool_choice" not in options


def test_json_output_with_schema():
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    options, _ = mesh_options({"responseFormat": {"type": "json", "schema": schema, "strict": True}},
                              [{"role": "user", "content": "x"}])
    sent = options["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["label"]
    assert sent["json_schema"]["schema"]["additionalProperties"] is False
    assert "required" not in schema  # the caller's schema is not modified


def test_json_output_without_schema_mentions_json():
    messages = [{"role": "user", "content": "Give me a color"}]
    options, _ = mesh_options({"responseFormat": {"type": "json"}}, messages)
    assert options["response_format"] == {"type": "json_object"}
    assert "json" in messages[-1]["content"].lower()
    messages = [{"role": "user", "content": "Answer in JSON"}]
    mesh_options({"responseFormat": {"type": "json"}}, messages)
    assert len(messages) == 1


def test_stream_tool_call_fragments_are_merged():
    fragments = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": '}},
        {"index": 0, "function": {"arguments": '"Paris"}'}},
        {"index": 1, "id": "call_2", "function": {"name": "other", "arguments": "{}"}},
    ]
    calls = mesh_tool_calls(fragments)
    assert calls == [
        {"type": "function", "id": "call_1", "function": {"name": "get", "arguments": '{"city": "Paris"}'}},
        {"type": "function", "id": "call_2", "function": {"name": "other", "arguments": "{}"}},
    ]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


def test_usage_reported_or_estimated():
    reported = mesh_usage(ChatResult(text="ok", usage=Usage(10, 2, 12)), [])
    assert reported == {"promptTokens": 10, "completionTokens": 2, "totalTokens": 12}
    estimated = mesh_usage(ChatResult(text="a longer answer"), [{"role": "user", "content": "x" * 40}])
    assert estimated["tokenCountsAreEstimated"] is True
    assert estimated["promptTokens"] > 0 and estimated["completionTokens"] > 0


def test_log_probs():
    raw = {"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1},
                                                                          {"token": "Hey", "logprob": -2.3}]}]}
    assert mesh_log_probs(raw) == [{"token": "Hi", "logProb": -0.1, "topLogProbs": [
        {"token": "Hi", "logProb": -0.1}, {"token": "Hey", "logProb": -2.3}]}]
    assert mesh_log_probs(None) is None
