import base64
import json
import os
import struct
import subprocess
import sys

import pytest
from openai_compatible import Client
from openai_compatible.errors import ContentFilterError, InvalidResponseError
from openai_compatible.http.answers import parse_chat
from openai_compatible.http.answers import parse_embeddings as _parse_embeddings

from tests.servers.fault_server import Fault

LIB = os.path.join(os.path.dirname(__file__), "..", "..", "..", "python-lib")


def test_base64_vectors_are_decoded_and_ordered_by_index():
    packed = base64.b64encode(struct.pack("<2f", 1.0, 2.0)).decode()
    data = {"data": [{"index": 1, "embedding": [3.0]}, {"index": 0, "embedding": packed}]}
    assert _parse_embeddings(data, 2, "w") == [[1.0, 2.0], [3.0]]


@pytest.mark.parametrize("vector", ["not base64!!", "", [], ["a"], [True], None])
def test_vectors_that_are_not_numbers_are_invalid_responses(vector):
    with pytest.raises(InvalidResponseError, match="vector 0"):
        _parse_embeddings({"data": [{"embedding": vector}]}, 1, "w")


def test_a_missing_vector_is_an_invalid_response():
    with pytest.raises(InvalidResponseError, match="expected 2 vectors, got 1"):
        _parse_embeddings({"data": [{"embedding": [1.0]}]}, 2, "w")


@pytest.mark.parametrize("data, message", [
    ({"data": [{"embedding": [1.0]}]}, "embed with 'e': expected 2 vectors, got 1."),
    ({"object": "list"}, "embed with 'e': expected 2 vectors, got no."),
    ({"data": {"embedding": [1.0]}}, "embed with 'e': expected 2 vectors, got no."),
    ({"data": [{"embedding": [1.0]}, "oops"]}, "embed with 'e': a vector entry is not an object."),
    ({"data": [{"embedding": [1.0]}, {"embedding": "not base64!!"}]}, "embed with 'e': vector 1 is text, not numbers."),
    ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]},
     "embed with 'e': vector 1 is missing, misplaced or not numbers."),
    ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 2, "embedding": [2.0]}]},
     "embed with 'e': vector 1 is missing, misplaced or not numbers."),
])
def test_an_answer_without_the_vectors_asked_for_says_what_is_wrong_whole(data, message):
    with pytest.raises(InvalidResponseError) as caught:
        _parse_embeddings(data, 2, "embed with 'e'")
    assert str(caught.value) == message


@pytest.mark.parametrize("data, message", [
    ({"object": "chat.completion"}, "chat with 'm': the answer has no 'choices'."),
    ({"choices": []}, "chat with 'm': the answer has no 'choices'."),
    ({"choices": ["text"]}, "chat with 'm': the answer has no 'choices'."),
    ({"choices": [{"message": "hello"}]}, "chat with 'm': the answer's message is not an object."),
])
def test_a_chat_answer_without_a_choice_or_message_says_so_whole(data, message):
    with pytest.raises(InvalidResponseError) as caught:
        parse_chat(data, "chat with 'm'")
    assert str(caught.value) == message


def test_a_refusal_is_a_content_filter_error_in_the_models_words():
    with pytest.raises(ContentFilterError) as caught:
        parse_chat({"choices": [{"message": {"role": "assistant", "content": None, "refusal": "  I can't help.\n"}}]},
                   "chat with 'm'")
    assert str(caught.value) == "chat with 'm': the model refused to answer: I can't help."
    assert (caught.value.code, caught.value.provider_message) == ("refusal", "I can't help.")


def test_the_dss_bridge_imports_without_the_dataiku_package():
    code = "import sys; import openai_compatible.dss; print('dataiku' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": LIB, "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_embeddings_carry_the_answering_model_and_the_time_taken(fault_server):
    with Client.from_preset({"base_url": fault_server.url, "models": ["fault-embed"]}) as client:
        result = client.embed_result(["one", "two"], "fault-embed")
        assert client.embed_result([], "fault-embed").vectors == []  # nothing to embed: no request
    assert len(result.vectors) == 2 and result.model == "fault-embed"
    assert result.latency_ms > 0
    assert fault_server.calls == 1


def test_an_embeddings_answer_sent_as_a_bare_json_array_is_read_as_its_data(fault_server):
    # a server that answers with the list itself instead of {"data": [...]}, as some do for GET /models
    answer = [{"index": 1, "embedding": [3.0, 4.0]}, {"index": 0, "embedding": [1.0, 2.0]}]
    fault_server.always(Fault.error(200, answer))
    with Client.from_preset({"base_url": fault_server.url, "models": ["fault-embed"], "max_retries": 0}) as client:
        assert client.embed_result(["one", "two"], "fault-embed").vectors == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("body, message", [
    ([{"message": {"content": "hi"}}], "chat with 'm': the answer has no 'choices'."),
    (42, "chat with 'm': the answer is JSON but not an object."),
    ("a plain JSON string", "chat with 'm': the answer is JSON but not an object."),
])
def test_a_chat_answer_that_is_json_but_not_an_object_says_so_whole(fault_server, body, message):
    fault_server.always(Fault.error(200, json.dumps(body), content_type="application/json"))
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        with pytest.raises(InvalidResponseError) as info:
            client.chat([{"role": "user", "content": "hi"}], model="m")
    assert str(info.value) == message
