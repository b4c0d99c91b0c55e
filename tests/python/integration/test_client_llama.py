"""The client against a real llama.cpp server (xllamacpp) serving SmolLM2-135M-Instruct."""

import json
import math

import jsonschema
import pytest
from openai_compatible import Client, ContextLengthError

SENTIMENT = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
    "additionalProperties": False,
}
HI = [{"role": "user", "content": "Say hello to Paris."}]


@pytest.fixture
def client(llama_server):
    preset = {"style": "openai", "base_url": llama_server.base_url + "/", "models": [llama_server.model],
              "auth_scheme": "none", "read_timeout_s": 600, "max_retries": 1}
    with Client.from_preset(preset) as client:
        yield client


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_chat(client, llama_server):
    result = client.chat(HI, model=llama_server.model, max_tokens=8, temperature=0)
    assert isinstance(result.text, str) and result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.model == llama_server.model
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 8
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.latency_ms > 0
    assert result.attempts == 1
    assert result.raw["choices"][0]["message"]["content"] == result.text
    stats = client.stats.snapshot()
    assert stats["http_calls"] == 1 and stats["retries"] == 0
    assert stats["prompt_tokens"] == result.usage.prompt_tokens
    assert stats["completion_tokens"] == result.usage.completion_tokens


def test_max_tokens_is_honoured(client, llama_server):
    result = client.chat([{"role": "user", "content": "Write a long story about a dragon."}],
                         model=llama_server.model, max_tokens=3, temperature=0)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 3


def test_stream_with_usage(client, llama_server):
    stream = client.stream(HI, model=llama_server.model, max_tokens=8, temperature=0)
    pieces = list(stream)
    assert len(pieces) >= 2
    assert all(isinstance(p, str) and p for p in pieces)
    result = stream.result
    assert result is not None
    assert result.text == "".join(pieces) and result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 8
    assert result.model == llama_server.model
    assert client.stats.snapshot()["completion_tokens"] == result.usage.completion_tokens


def test_json_schema_output(client, llama_server):
    response_format = {"type": "json_schema", "json_schema": {"name": "sentiment", "strict": True,
                                                              "schema": SENTIMENT}}
    result = client.chat([{"role": "system", "content": "Classify the sentiment of the review. Answer in JSON."},
                          {"role": "user", "content": "Review: I loved this film, it was wonderful."}],
                         model=llama_server.model, max_tokens=40, temperature=0, response_format=response_format)
    assert result.finish_reason == "stop"
    value = json.loads(result.text)
    jsonschema.validate(value, SENTIMENT)


def test_embeddings_order_and_dimension(client, llama_server):
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 8%.", "Bonjour tout le monde", "x"]
    vectors = client.embed(texts, model=llama_server.model)
    assert len(vectors) == len(texts)
    dimension = len(vectors[0])
    assert dimension > 100
    assert all(len(v) == dimension for v in vectors)
    assert all(isinstance(x, float) for v in vectors for x in v)
    # each vector belongs to its text: it is closest to the same text embedded alone (llama.cpp's batched
    # vectors are not bit-identical to single ones, so "closest", not "equal")
    alone = [client.embed([text], model=llama_server.model)[0] for text in texts]
    for index, vector in enumerate(vectors):
        similarities = [cosine(vector, other) for other in alone]
        assert max(range(len(texts)), key=similarities.__getitem__) == index, similarities
    assert client.embed([texts[0]], model=llama_server.model)[0] == pytest.approx(alone[0])  # deterministic
    # a reversed batch gives the vectors in the reversed order
    backwards = client.embed(list(reversed(texts)), model=llama_server.model)[::-1]
    for index, vector in enumerate(backwards):
        similarities = [cosine(vector, other) for other in alone]
        assert max(range(len(texts)), key=similarities.__getitem__) == index, similarities


def test_embed_result_has_usage(client, llama_server):
    result = client.embed_result(["one two three"], model=llama_server.model)
    assert len(result.vectors) == 1
    assert result.usage.prompt_tokens > 0
    assert result.latency_ms > 0


def test_context_length_error(client, llama_server):
    long_prompt = "word " * 6000  # more than the server's context (4096 split between 2 slots)
    with pytest.raises(ContextLengthError) as info:
        client.chat([{"role": "user", "content": long_prompt}], model=llama_server.model, max_tokens=4)
    error = info.value
    assert error.status == 400
    assert "context" in str(error)
    assert client.stats.snapshot()["http_calls"] == 1  # not retried, and nothing adapted
    assert client.compat.learnt == []


def test_models_and_discovery(llama_server):
    client = Client.from_preset({"base_url": llama_server.base_url, "discover_models": True,
                                 "auth_scheme": "none", "read_timeout_s": 600})
    assert llama_server.model in client.models()
    assert any(m["id"] == llama_server.model for m in client.discover_models())
