"""OpenAI chat messages and options as LLM Mesh queries, built with the real dataikuapi query builders."""
from __future__ import annotations

import pytest
from dataikuapi.dss.llm import DSSLLM
from openai_compatible.dss.mesh_client import MeshClient, add_messages, apply_options
from openai_compatible.errors import SettingsError, UnknownModelError


def new_query():
    return DSSLLM(None, "PROJ", "custom:conn:m").new_completion()  # builds the query; nothing is sent


def test_messages_become_mesh_messages():
    query = new_query()
    add_messages(query, [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "What is it?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                                     {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ])
    messages = query.cq["messages"]
    assert messages[0] == {"role": "system", "content": "Be terse."}
    assert messages[1]["parts"] == [
        {"type": "TEXT", "text": "What is it?"},
        {"type": "IMAGE_INLINE", "inlineImage": "QUJD", "imageMimeType": "image/jpeg"},
        {"type": "IMAGE_URI", "imageUrl": "https://x.test/a.png"}]
    assert messages[2]["toolCalls"][0]["id"] == "call_1" and "content" not in messages[2]
    assert messages[3]["toolOutputs"] == [{"callId": "call_1", "output": "42"}]


def test_options_become_mesh_settings():
    query = new_query()
    add_messages(query, [{"role": "user", "content": "hi"}])
    apply_options(query, {"temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": "###", "seed": 7,
                          "logprobs": True, "top_logprobs": 3, "tool_choice": "required",
                          "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                          "response_format": {"type": "json_schema", "json_schema": {
                              "name": "row", "schema": {"type": "object"}, "strict": True}}})
    settings = query.settings
    assert settings["temperature"] == 0.2 and settings["topP"] == 0.9 and settings["maxOutputTokens"] == 50
    assert settings["stopSequences"] == ["###"] and settings["seed"] == 7
    assert settings["logProbs"] is True and settings["topLogProbs"] == 3
    assert settings["toolChoice"] == {"type": "required"} and settings["tools"][0]["function"]["name"] == "f"
    assert settings["responseFormat"]["type"] == "json"
    assert settings["responseFormat"]["schema"] == {"type": "object"}
    assert settings["responseFormat"]["strict"] is True
    named = new_query()
    apply_options(named, {"tool_choice": {"type": "function", "function": {"name": "g"}}})
    assert named.settings["toolChoice"] == {"type": "tool_name", "name": "g"}


@pytest.mark.parametrize("messages, options, message", [
    ([], {}, "non-empty list of messages"),
    ("hi", {}, "non-empty list of messages"),
    ([{"role": "user", "content": [{"type": "input_audio"}]}], {}, "'input_audio' is not supported"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}]}], {},
     "invalid base64"),
    ([{"role": "user", "content": "x"}], {"n": 2}, "Option 'n' has no LLM Mesh setting"),
    ([{"role": "user", "content": "x"}], {"response_format": {"type": "yaml"}}, "'yaml'"),
    ([{"role": "user", "content": "x"}], {"tool_choice": {"type": "function"}}, "tool_choice must be"),
])
def test_what_the_mesh_cannot_carry_is_refused_by_name(messages, options, message):
    query = new_query()
    with pytest.raises(SettingsError, match=message):
        add_messages(query, messages)
        apply_options(query, options)


class _Project:
    project_key = "PROJ"

    def list_llms(self, purpose):
        ids = {"GENERIC_COMPLETION": ["custom:conn:chat", "openai:corp:gpt"],
               "TEXT_EMBEDDING_EXTRACTION": ["custom:conn:embed"]}[purpose]
        return [{"id": i} for i in ids]


def test_model_names_and_llm_ids():
    client = MeshClient(_Project(), "conn")
    assert client.models() == ["chat", "embed"]
    assert client.llm_id("chat") == "custom:conn:chat"
    assert client.endpoint_for("openai:corp:gpt") == "openai:corp:gpt"  # any Mesh LLM by its full id
    with pytest.raises(UnknownModelError, match="custom:conn:nope.*custom:conn:chat, openai:corp:gpt"):
        client.endpoint_for("nope")
    with pytest.raises(SettingsError, match="model is empty"):
        client.llm_id(" ")
    with pytest.raises(SettingsError, match="OpenAI-compatible endpoint"):
        client.openai()
    assert MeshClient(_Project()).models() == ["custom:conn:chat", "openai:corp:gpt", "custom:conn:embed"]
