"""The models listing behind the models connector, and the embedding-first model choices."""
from __future__ import annotations

import datetime as dt

import pytest
from openai_compatible import Client, OpenAICompatibleError
from openai_compatible.models import (
    MODEL_COLUMNS,
    _date,
    embedding_models_first,
    list_models,
    looks_like_embedding_model,
    offered_models,
)

KEY = "sk-models-SECRET"


def test_openai_style_preset_models_only(fault_server):
    with Client.from_preset({"base_url": fault_server.url, "models": ["a", "b"], "api_key": KEY}) as client:
        rows = list_models(client)
    assert [(r["id"], r["source"]) for r in rows] == [("a", "preset"), ("b", "preset")]
    assert all(r["endpoint_url"] == fault_server.url and r["owner"] is None for r in rows)
    assert fault_server.calls == 0  # no discovery unless the preset allows it


def test_openai_style_with_discovery(fault_server):
    preset = {"base_url": fault_server.url, "models": ["fault-chat", "mine"], "discover_models": True,
              "api_key": KEY}
    with Client.from_preset(preset) as client:
        rows = list_models(client)
    assert [(r["id"], r["source"]) for r in rows] == [("fault-chat", "preset"), ("mine", "preset"),
                                                      ("fault-embed", "discovered")]
    assert rows[0]["owner"] == "fault-server"
    assert rows[0]["created"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)
    assert rows[1]["owner"] is None and rows[1]["created"] is None
    assert [c["name"] for c in MODEL_COLUMNS] == list(rows[0])
    assert KEY not in repr(rows)


def test_discovery_failure(fault_server):
    fault_server.always("401")
    preset = {"base_url": fault_server.url, "models": ["mine"], "discover_models": True, "max_retries": 0}
    with Client.from_preset(preset) as client:
        assert [r["id"] for r in list_models(client)] == ["mine"]
    with Client.from_preset(dict(preset, models=[])) as client, pytest.raises(OpenAICompatibleError):
        list_models(client)


def test_azure_style_lists_endpoints_without_keys():
    preset = {"style": "azure", "target_uri": "https://user:pw@res.example.com", "api_key": KEY,
              "endpoints": [{"name": "gpt", "deployment": "gpt-4o"},
                            {"name": "llama", "kind": "openai_v1", "target_uri": "https://llama.example.com",
                             "api_key": "sk-other-SECRET"}]}
    with Client.from_preset(preset) as client:
        rows = list_models(client)
    assert [(r["id"], r["source"], r["endpoint_url"]) for r in rows] == [
        ("gpt", "preset", "https://res.example.com/openai/deployments/gpt-4o"),
        ("llama", "preset", "https://llama.example.com/v1")]
    assert "SECRET" not in repr(rows) and "pw" not in repr(rows)


@pytest.mark.parametrize("value, expected", [
    (1700000000, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)),
    (1700000000000, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)),
    ("2024-05-01T00:00:00Z", dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)),
    ("yesterday", None), (None, None), (True, None),
])
def test_creation_dates(value, expected):
    assert _date(value) == expected


def test_embedding_models_come_first():
    choices = {"choices": [{"value": "gpt-4o"}, {"value": "text-embedding-3-small"}, {"value": "llama3"},
                           {"value": "bge-m3"}]}
    assert [c["value"] for c in embedding_models_first(choices)["choices"]] == [
        "text-embedding-3-small", "bge-m3", "gpt-4o", "llama3"]


@pytest.mark.parametrize("model", ["text-embedding-3-small", "bge-m3", "BAAI/bge-large-en-v1.5", "nomic-embed-text",
                                   "intfloat/multilingual-e5-large", "e5", "thenlper/gte-base", "all-MiniLM-L6-v2",
                                   "all-mpnet-base-v2", "mxbai-embed-large", "snowflake-arctic-embed-m",
                                   "jina-embeddings-v3", "jina-reranker-v2", "sentence-t5-base", "fault-embed"])
def test_names_that_look_like_embedding_models(model):
    assert looks_like_embedding_model(model)


@pytest.mark.parametrize("model", ["gpt-4o", "llama3", "smollm2", "mistral-large", "qwen2.5-7b", "fault-chat",
                                   "deepseek-e50"])
def test_names_that_do_not(model):
    assert not looks_like_embedding_model(model)


def test_offered_models_are_the_presets_then_the_discovered_ones():
    assert offered_models(["b", "a"], ["a", "c", "d", "c"]) == ["b", "a", "c", "d"]
    assert offered_models([], ["x"]) == ["x"] and offered_models(["y"], []) == ["y"]
