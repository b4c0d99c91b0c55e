import base64
import os
import struct
import subprocess
import sys

import pytest
from openai_compatible import Client
from openai_compatible.errors import InvalidResponseError
from openai_compatible.http.answers import parse_embeddings as _parse_embeddings

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
