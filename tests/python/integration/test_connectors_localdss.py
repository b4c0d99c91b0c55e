"""The models connector through ``python -m localdss connector``: fault server, LiteLLM (OpenAI and Azure style)."""
from __future__ import annotations

from localdss_cli import read_rows, read_schema, run_connector

CONNECTOR = "openai-compatible_models"


def test_preset_and_discovered_models(tmp_path, fault_server):
    preset = {"base_url": fault_server.url, "models": ["fault-chat", "mine"], "discover_models": True,
              "api_key": "sk-models-SECRET"}
    done, out = run_connector(tmp_path, CONNECTOR, {}, preset)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert [(r["id"], r["source"], r["owner"]) for r in rows] == [
        ("fault-chat", "preset", "fault-server"), ("mine", "preset", ""), ("fault-embed", "discovered", "fault-server")]
    assert rows[0]["created"].startswith("2023-11-14")
    assert all(r["endpoint_url"] == fault_server.url for r in rows)
    schema = read_schema(out)
    assert list(schema) == ["id", "source", "owner", "created", "endpoint_url"]
    assert schema["created"]["type"] == "date"
    assert fault_server.requests[0].header("authorization") == "Bearer sk-models-SECRET"
    assert "sk-models-SECRET" not in out.read_text() + done.stderr


def test_records_limit(tmp_path, fault_server):
    preset = {"base_url": fault_server.url, "models": ["a", "b", "c"]}
    done, out = run_connector(tmp_path, CONNECTOR, {}, preset, limit=2)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in read_rows(out)] == ["a", "b"]


def test_missing_preset(tmp_path):
    done, _ = run_connector(tmp_path, CONNECTOR, {}, {})
    assert done.returncode != 0 and "connection" in done.stderr


def test_litellm_openai_style_discovery(tmp_path, litellm_proxy):
    preset = {"base_url": litellm_proxy.base_url, "api_key": litellm_proxy.master_key, "discover_models": True}
    done, out = run_connector(tmp_path, CONNECTOR, {}, preset)
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in read_rows(out)}
    assert {"mock-gpt", "mock-embed", "smollm2"} <= set(rows)
    assert {r["source"] for r in rows.values()} == {"discovered"}
    assert rows["mock-gpt"]["endpoint_url"] == litellm_proxy.base_url
    assert litellm_proxy.master_key not in out.read_text() + done.stderr


def test_litellm_azure_style_endpoints(tmp_path, litellm_proxy):
    preset = {"style": "azure", "target_uri": litellm_proxy.target_uri, "auth_scheme": "api_key_header",
              "api_key": litellm_proxy.master_key,
              "endpoints": [{"name": "gpt", "kind": "azure_deployment", "deployment": "mock-gpt"},
                            {"name": "v1", "kind": "openai_v1", "api_key": "sk-endpoint-SECRET"}]}
    done, out = run_connector(tmp_path, CONNECTOR, {}, preset)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert [(r["id"], r["source"], r["endpoint_url"]) for r in rows] == [
        ("gpt", "preset", litellm_proxy.target_uri + "/openai/deployments/mock-gpt"),
        ("v1", "preset", litellm_proxy.target_uri + "/v1")]
    text = out.read_text() + done.stderr
    assert litellm_proxy.master_key not in text and "sk-endpoint-SECRET" not in text
