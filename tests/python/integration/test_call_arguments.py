"""The notebook API's arguments: one name for the output cap, and a clear TypeError for the wrong shapes."""
from __future__ import annotations

import pytest
from openai_compatible import Client, InvalidArgumentError, SettingsError


@pytest.fixture
def client(fault_server):
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"]}) as client:
        yield client


@pytest.mark.parametrize("call", ["chat", "stream"])
def test_max_output_tokens_is_the_name_max_tokens_is_accepted(client, fault_server, call):
    def run(**kw):
        result = getattr(client, call)([{"role": "user", "content": "hi"}], model="m", **kw)
        return result if call == "chat" else result.text()

    run(max_output_tokens=12)
    run(max_tokens=13)
    sent = [r.json for r in fault_server.requests]
    assert [body.get("max_tokens") for body in sent] == [12, 13]
    with pytest.raises(InvalidArgumentError, match="not both"):
        run(max_output_tokens=5, max_tokens=5)
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        run(max_output_tokens="100")
    assert fault_server.calls == 2  # the wrong calls sent nothing


@pytest.mark.parametrize("messages, words", [
    ("What is DSS?", "not a string"),
    ({"role": "user", "content": "hi"}, "not dict"),
    (["hi"], "message 0 must be a dict"),
    ([{"content": "no role"}], "message 0 must be a dict with a 'role'"),
    (None, "not NoneType"),
])
@pytest.mark.parametrize("call", ["chat", "stream"])
def test_wrong_messages_are_a_type_error_before_any_request(client, fault_server, call, messages, words):
    with pytest.raises(TypeError) as info:
        getattr(client, call)(messages, model="m")
    assert isinstance(info.value, SettingsError) and words in str(info.value)
    assert str(info.value).startswith(f"{call}()")  # names the call that was wrong
    assert "[{'role': 'user', 'content': 'Hello'}]" in str(info.value)
    assert fault_server.calls == 0


def test_embed_of_a_single_string_is_a_type_error(client, fault_server):
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        client.embed("a text", model="m")
    assert fault_server.calls == 0


def test_a_string_for_messages_says_how_to_wrap_it(client, fault_server):
    with pytest.raises(InvalidArgumentError) as info:
        client.chat("What is DSS?", model="m")
    assert str(info.value) == ("chat() takes a list of messages, not a string: pass [{'role': 'user', 'content': "
                               "'Hello'}] (for a single prompt, put it in one user message).")


@pytest.mark.parametrize("call", ["chat", "stream"])
def test_an_output_cap_of_one_token_is_allowed_and_a_bad_cap_names_the_call(client, fault_server, call):
    result = getattr(client, call)([{"role": "user", "content": "hi"}], model="m", max_output_tokens=1)
    if call == "stream":
        result.text()
    assert fault_server.requests[-1].json["max_tokens"] == 1
    with pytest.raises(InvalidArgumentError) as info:
        getattr(client, call)([{"role": "user", "content": "hi"}], model="m", max_output_tokens=0)
    assert str(info.value) == f"{call}(): max_output_tokens must be a whole number of at least 1, not 0."
