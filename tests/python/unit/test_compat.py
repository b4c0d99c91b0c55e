"""Compatibility: system-role mapping, JSON modes, and what is learnt from a provider's refusals."""

import logging

import pytest
from openai_compatible import Client, ConnectionSettings
from openai_compatible.compat import Compatibility
from openai_compatible.errors import BadRequestError, ContextLengthError, error_from_response
from openai_compatible.http.retries import Call


def settings(**changes):
    preset = {"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "api_key": "sk-unit-compat-0001"}
    preset.update(changes)
    return ConnectionSettings.from_preset(preset)


def compat(**changes):
    return Compatibility(settings(**changes))


def refusal(message, param=None, status=400):
    error = {"message": message, "type": "invalid_request_error"}
    if param:
        error["param"] = param
    import json
    return error_from_response(status, json.dumps({"error": error}), {})


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"},
]


# --- system role ---------------------------------------------------------------------------------------------

def test_system_role_kept():
    assert compat(system_role="system").map_messages([dict(m) for m in MESSAGES]) == MESSAGES


def test_developer_messages_become_system_by_default():
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert compat().map_messages(messages)[0] == {"role": "system", "content": "Be brief."}


def test_system_role_renamed_to_developer():
    out = compat(system_role="developer").map_messages([dict(m) for m in MESSAGES])
    assert [m["role"] for m in out] == ["developer", "user", "assistant", "user"]
    assert out[0]["content"] == "Be brief."


def test_system_merged_into_the_first_user_message():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Salut"},
                {"role": "user", "content": "Bye"}]
    out = compat(system_role="user").map_messages(messages)
    assert [m["role"] for m in out] == ["user", "assistant", "user"]
    assert out[0]["content"] == "Be brief.\n\nAnswer in French.\n\nHi"
    assert out[2]["content"] == "Bye"


def test_system_merged_with_multimodal_user_content():
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image_url"}]}]
    out = compat(system_role="user").map_messages(messages)
    assert out == [{"role": "user", "content": "Be brief.\n\nDescribe"}]


def test_system_merged_without_any_user_message():
    out = compat(system_role="user").map_messages([{"role": "system", "content": "Only this."}])
    assert out == [{"role": "user", "content": "Only this."}]


def test_no_system_message_is_left_alone():
    messages = [{"role": "user", "content": "Hi"}]
    for role in ("system", "developer", "user"):
        assert compat(system_role=role).map_messages([dict(m) for m in messages]) == messages


def test_mapping_does_not_mutate_the_callers_messages():
    messages = [dict(m) for m in MESSAGES]
    compat(system_role="developer").map_messages(messages)
    compat(system_role="user").map_messages(messages)
    assert messages == MESSAGES


# --- JSON output ----------------------------------------------------------------------------------------------

SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}


@pytest.mark.parametrize(("mode", "requested", "sent"), [
    ("auto", SCHEMA, SCHEMA),
    ("json_schema", SCHEMA, SCHEMA),
    ("json_object", SCHEMA, {"type": "json_object"}),
    ("json_object", {"type": "json_object"}, {"type": "json_object"}),
    ("none", SCHEMA, None),
    ("none", {"type": "json_object"}, None),
    ("auto", None, None),
    ("auto", {"type": "text"}, {"type": "text"}),
])
def test_response_format_per_json_mode(mode, requested, sent):
    assert compat(json_mode=mode).response_format(requested) == sent


# --- learning from refusals -----------------------------------------------------------------------------------

def test_token_field_flips_once_in_auto(caplog):
    c = compat()
    assert c.token_field == "max_tokens"
    error = refusal("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                    "'max_completion_tokens' instead.", param="max_tokens")
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        assert c.adapt(error, {"model": "m", "max_tokens": 5})
    assert c.token_field == "max_completion_tokens"
    assert "max_completion_tokens" in caplog.text
    # and back again for a provider that refuses the new name (vLLM < 0.6.4 style)
    vllm = error_from_response(400, '{"object":"error","message":"[{\'type\': \'extra_forbidden\', \'loc\': '
                                    '(\'body\', \'max_completion_tokens\')}]","type":"BadRequestError",'
                                    '"param":null,"code":400}', {})
    assert c.adapt(vllm, {"model": "m", "max_completion_tokens": 5})
    assert c.token_field == "max_tokens"


def test_token_field_set_explicitly_never_flips():
    c = compat(max_tokens_field="max_tokens")
    error = refusal("Unsupported parameter: 'max_tokens'", param="max_tokens")
    assert not c.adapt(error, {"model": "m", "max_tokens": 5})
    assert c.token_field == "max_tokens"


def test_developer_role_refused():
    c = compat(system_role="developer")
    payload = {"messages": c.map_messages([dict(m) for m in MESSAGES])}
    error = error_from_response(422, "Failed to deserialize the JSON body into the target type: messages[0].role: "
                                     "unknown variant `developer`, expected one of `system`, `user`", {})
    assert c.adapt(error, payload)
    assert c.map_messages([dict(m) for m in MESSAGES])[0]["role"] == "system"
    # nothing left to adapt: the same refusal again is final
    assert not c.adapt(error, {"messages": c.map_messages([dict(m) for m in MESSAGES])})


def test_stream_refused_in_auto_and_yes():
    error = refusal("stream is not supported", param="stream")
    auto = compat(streaming="auto")
    assert auto.adapt(error, {"stream": True, "messages": []})
    assert auto.streaming is False
    yes = compat(streaming="yes")
    assert not yes.adapt(error, {"stream": True, "messages": []})
    assert yes.streaming is True


def test_stream_options_refused():
    c = compat()
    error = refusal("Unknown parameter: 'stream_options'.", param="stream_options")
    payload = {"stream": True, "stream_options": {"include_usage": True}}
    assert c.adapt(error, payload)
    assert c.streaming is True and c.stream_usage is False
    assert "stream_options" not in c.apply({"stream": True, "stream_options": {"include_usage": True}})


def test_response_format_ladder_in_auto():
    c = compat()
    error = refusal("response_format json_schema is not supported", param="response_format")
    assert c.adapt(error, {"response_format": {"type": "json_schema"}})
    assert c.json_mode == "json_object"
    assert c.response_format(SCHEMA) == {"type": "json_object"}
    assert c.adapt(error, {"response_format": {"type": "json_object"}})
    assert c.json_mode == "none"
    assert c.response_format(SCHEMA) is None


def test_response_format_set_explicitly_is_final():
    c = compat(json_mode="json_schema")
    assert not c.adapt(refusal("bad response_format", param="response_format"),
                       {"response_format": {"type": "json_schema"}})


@pytest.mark.parametrize("error", [
    refusal("Unrecognized request argument supplied: seed"),
    error_from_response(400, '{"object":"error","message":"[{\'type\': \'extra_forbidden\', \'loc\': (\'body\', '
                             '\'seed\'), \'msg\': \'Extra inputs are not permitted\'}]","type":"BadRequestError",'
                             '"param":null,"code":400}', {}),
    error_from_response(422, '{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","seed"],'
                             '"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error",'
                             '"param":null,"code":null}', {}),
], ids=["openai", "vllm", "mistral"])
def test_unknown_parameter_dropped_and_remembered(error, caplog):
    c = compat()
    payload = {"model": "m", "messages": [], "seed": 7, "temperature": 0}
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        assert c.adapt(error, payload)
    assert "'seed'" in caplog.text
    assert c.apply({"model": "m", "seed": 7, "temperature": 0}) == {"model": "m", "temperature": 0}
    assert not c.adapt(error, {"model": "m", "messages": []})  # already dropped: nothing more to do


@pytest.mark.parametrize("param", ["model", "messages", "input", "stream"])
def test_essential_fields_are_never_dropped(param):
    c = compat(streaming="yes")
    assert not c.adapt(refusal(f"'{param}' is not supported", param=param), {param: "x"})
    assert c.dropped == set()


def test_unrelated_bad_request_is_not_adapted():
    c = compat()
    assert not c.adapt(refusal("temperature must be between 0 and 2"), {"temperature": 5})
    assert not c.adapt(refusal("Unsupported parameter: 'logprobs'", param="logprobs"), {"temperature": 5})
    assert c.learnt == []


def test_context_length_error_naming_max_tokens_is_not_a_refused_field():
    """A 400 that blames max_tokens for being too large must not flip the field's name."""
    client = Client(settings())
    error = error_from_response(400, '{"error":{"message":"max_tokens is too large: 5000. This model\'s maximum '
                                     'context length is 4096 tokens.","param":"max_tokens"}}', {})
    assert isinstance(error, ContextLengthError)
    sent = []

    def send(body):
        sent.append(dict(body))
        raise error

    with pytest.raises(ContextLengthError):
        client.retries.run_adapting(lambda: {"model": "m", client.compat.token_field: 5000}, send, Call("test"),
                                    client.compat)
    assert len(sent) == 1
    assert client.compat.token_field == "max_tokens"


def test_bad_request_error_after_adapting_is_raised():
    client = Client(settings())
    sent = []

    def send(body):
        sent.append(dict(body))
        raise refusal("Unrecognized request argument supplied: seed")

    with pytest.raises(BadRequestError):
        client.retries.run_adapting(lambda: client.compat.apply({"model": "m", "seed": 1}), send, Call("test"),
                                    client.compat)
    assert sent == [{"model": "m", "seed": 1}, {"model": "m"}]  # dropped once, then the provider's error stands
