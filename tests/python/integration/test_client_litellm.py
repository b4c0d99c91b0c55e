"""The client against a real gateway: the LiteLLM proxy (pinned), offline, with mock models and smollm2 behind it."""

import pytest
from openai_compatible import (
    AuthenticationError,
    Client,
    ConnectionSettings,
    RateLimitError,
    UnknownModelError,
)
from openai_compatible.retry import RetryPolicy

HI = [{"role": "user", "content": "Hello"}]
MOCK_TEXT = "Hello from the LiteLLM mock."


def openai_preset(proxy, **changes):
    preset = {"style": "openai", "base_url": proxy.base_url, "auth_scheme": "bearer", "api_key": proxy.master_key,
              "models": ["mock-gpt", "mock-json", "mock-embed", "mock-429", "smollm2", "smollm2-embed"],
              "read_timeout_s": 600, "max_retries": 2}
    preset.update(changes)
    return preset


def azure_preset(proxy, **changes):
    preset = {"style": "azure", "target_uri": proxy.target_uri, "api_version": "2024-10-21",
              "auth_scheme": "api_key_header", "api_key": proxy.master_key, "read_timeout_s": 600, "max_retries": 2,
              "endpoints": [{"name": "gpt", "kind": "azure_deployment", "deployment": "mock-gpt"},
                            {"name": "embed", "kind": "azure_deployment", "deployment": "mock-embed"},
                            {"name": "small", "kind": "azure_deployment", "deployment": "smollm2"},
                            {"name": "small-embed", "kind": "azure_deployment", "deployment": "smollm2-embed"}]}
    preset.update(changes)
    return preset


def fast_client(preset):
    """A client whose backoff (when the provider gives no hint) is short, to keep the suite quick."""
    settings = ConnectionSettings.from_preset(preset)
    return Client(settings, retry=RetryPolicy(max_retries=settings.max_retries, initial_delay_s=0.01,
                                              max_delay_s=0.05))


# --- OpenAI style, Bearer ---------------------------------------------------------------------------------------

def test_openai_style_chat(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy))
    result = client.chat(HI, model="mock-gpt", max_tokens=16, temperature=0)
    assert result.text == MOCK_TEXT
    assert result.finish_reason == "stop"
    assert result.model == "mock-gpt"
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.attempts == 1


def test_openai_style_stream(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy))
    stream = client.stream(HI, model="mock-gpt")
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == MOCK_TEXT
    assert stream.result.text == MOCK_TEXT
    assert stream.result.usage.completion_tokens is not None


def test_openai_style_real_model_through_the_gateway(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy))
    result = client.chat(HI, model="smollm2", max_tokens=4, temperature=0)
    assert result.text.strip()
    assert 0 < result.usage.completion_tokens <= 4
    stream = client.stream(HI, model="smollm2", max_tokens=4, temperature=0)
    assert "".join(stream) == stream.result.text and stream.result.text.strip()


def test_openai_style_embeddings(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy))
    assert client.embed(["one"], model="mock-embed") == [[0.1, 0.2, 0.3]]
    texts = ["alpha beta", "gamma", "delta epsilon zeta"]
    vectors = client.embed(texts, model="smollm2-embed")
    assert len(vectors) == 3
    assert len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 100
    assert len({tuple(v) for v in vectors}) == 3


def test_openai_style_models(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy, models=[], discover_models=True))
    models = client.models()
    assert {"mock-gpt", "mock-embed", "smollm2"} <= set(models)
    assert client.chat(HI, model="mock-json").text == '{"sentiment": "positive"}'


def test_missing_key(litellm_proxy):
    for preset in (openai_preset(litellm_proxy, api_key=""), azure_preset(litellm_proxy, api_key=None)):
        client = Client.from_preset(preset)
        model = "mock-gpt" if preset["style"] == "openai" else "gpt"
        with pytest.raises(AuthenticationError) as info:
            client.chat(HI, model=model)
        assert info.value.status == 401
        assert "No api key passed in" in str(info.value)
        assert client.stats.snapshot()["http_calls"] == 1


def test_unknown_model_refused_by_the_preset_before_any_request(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy))
    with pytest.raises(UnknownModelError) as info:
        client.chat(HI, model="gpt-9")
    assert "'gpt-9'" in str(info.value) and "mock-gpt" in str(info.value)
    assert client.stats.snapshot()["http_calls"] == 0


def test_unknown_model_refused_by_the_provider(litellm_proxy):
    client = Client.from_preset(openai_preset(litellm_proxy, models=["mock-gpt", "not-on-the-gateway"]))
    with pytest.raises(UnknownModelError) as info:
        client.chat(HI, model="not-on-the-gateway")
    assert info.value.status == 400
    assert "Invalid model name" in str(info.value)
    assert client.stats.snapshot()["http_calls"] == 1  # never retried


def test_rate_limited_model_after_the_allowed_retries(litellm_proxy):
    client = fast_client(openai_preset(litellm_proxy, max_retries=2))
    with pytest.raises(RateLimitError) as info:
        client.chat(HI, model="mock-429")
    assert info.value.status == 429
    assert "mock rate limit error" in str(info.value)
    stats = client.stats.snapshot()
    assert stats["http_calls"] == 3 and stats["retries"] == 2 and stats["rate_limited"] == 3


# --- Azure style, api-key header ----------------------------------------------------------------------------------

def test_azure_style_chat(litellm_proxy):
    client = Client.from_preset(azure_preset(litellm_proxy))
    endpoint = client.endpoint_for("gpt")
    assert endpoint.base == f"{litellm_proxy.target_uri}/openai/deployments/mock-gpt"
    result = client.chat(HI, model="gpt", max_tokens=16)
    assert result.text == MOCK_TEXT
    assert result.model == "mock-gpt"
    assert client.compat.token_field == "max_completion_tokens"  # what Azure deployments expect


def test_azure_style_stream(litellm_proxy):
    client = Client.from_preset(azure_preset(litellm_proxy))
    stream = client.stream(HI, model="gpt")
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == MOCK_TEXT
    stream = client.stream(HI, model="small", max_tokens=4, temperature=0)
    assert "".join(stream) == stream.result.text and stream.result.text.strip()
    assert 0 < stream.result.usage.completion_tokens <= 4


def test_azure_style_real_model(litellm_proxy):
    client = Client.from_preset(azure_preset(litellm_proxy))
    result = client.chat(HI, model="small", max_tokens=4, temperature=0)
    assert result.text.strip()
    assert 0 < result.usage.completion_tokens <= 4


def test_azure_style_embeddings(litellm_proxy):
    client = Client.from_preset(azure_preset(litellm_proxy))
    assert client.embed(["one"], model="embed") == [[0.1, 0.2, 0.3]]
    vectors = client.embed(["alpha beta", "gamma"], model="small-embed")
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 100
    assert vectors[0] != vectors[1]


def test_azure_style_models_are_the_endpoints(litellm_proxy):
    client = Client.from_preset(azure_preset(litellm_proxy))
    assert client.models() == ["gpt", "embed", "small", "small-embed"]
    with pytest.raises(UnknownModelError):
        client.chat(HI, model="mock-gpt")  # a deployment name is not a model name of the preset
    assert client.stats.snapshot()["http_calls"] == 0


def test_azure_style_endpoint_key_overrides_the_default(litellm_proxy):
    preset = azure_preset(litellm_proxy, api_key="")
    preset["endpoints"][0]["api_key"] = litellm_proxy.master_key  # only "gpt" has a key, its own
    client = Client.from_preset(preset)
    assert client.chat(HI, model="gpt").text == MOCK_TEXT
    with pytest.raises(AuthenticationError):
        client.embed(["one"], model="embed")  # no key of its own, and no default


def test_azure_style_unknown_deployment(litellm_proxy):
    preset = azure_preset(litellm_proxy)
    preset["endpoints"].append({"name": "ghost", "deployment": "no-such-deployment"})
    client = Client.from_preset(preset)
    with pytest.raises(UnknownModelError):
        client.chat(HI, model="ghost")
    assert client.stats.snapshot()["http_calls"] == 1


def test_azure_style_rate_limited(litellm_proxy):
    preset = azure_preset(litellm_proxy, max_retries=1)
    preset["endpoints"].append({"name": "limited", "deployment": "mock-429"})
    client = fast_client(preset)
    with pytest.raises(RateLimitError):
        client.chat(HI, model="limited")
    assert client.stats.snapshot()["http_calls"] == 2
