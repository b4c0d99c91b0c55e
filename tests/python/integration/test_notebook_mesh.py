"""The notebook API for users who may not read presets: oc.connect() goes through the LLM Mesh.

The real, unmodified dataikuapi -> the DSS API stand-in (which refuses preset reads to non-admins, as DSS does)
-> the plugin's python-llms through localdss -> the fault server. The notebook user never holds the key."""
from __future__ import annotations

import base64
import os
import sys

import dataikuapi
import pandas as pd
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RUNTIME = os.path.join(REPO, "localdss", "runtime")
if RUNTIME not in sys.path:
    sys.path.insert(0, RUNTIME)

import openai_compatible as oc  # noqa: E402
from openai_compatible.errors import SettingsError  # noqa: E402

from tests.servers.dss_api import DSSAPIServer  # noqa: E402

ADMIN_KEY, CAROL_KEY = "admin-api-key-1", "carol-api-key-4"
PLUGIN = "openai-compatible"
SHARED_KEY = "sk-shared-mesh-123"


@pytest.fixture
def dss(fault_server, monkeypatch):
    server = DSSAPIServer().start()
    server.add_user(ADMIN_KEY, "admin", admin=True)
    server.add_user(CAROL_KEY, "carol")  # an ordinary data scientist: no admin right of any kind
    server.install_plugin_dir()
    server.add_preset(PLUGIN, "connection", "team-llm", {
        "base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "api_key": SHARED_KEY,
        "max_retries": 0})
    server.add_llm_connection("team-llm", [
        {"id": "chat", "type": "openai-compatible-chat", "capability": "Chat completion",
         "config": {"connection": "team-llm", "model": "fault-chat"}},
        {"id": "embed", "type": "openai-compatible-embedding", "capability": "Text embedding",
         "config": {"connection": "team-llm", "model": "fault-embed"}},
    ])
    monkeypatch.setenv("DKU_DSS_URL", server.url)
    monkeypatch.setenv("DKU_API_KEY", CAROL_KEY)
    monkeypatch.setenv("DKU_CURRENT_PROJECT_KEY", "PROJ")
    try:
        yield server
    finally:
        server.stop()


def test_a_user_who_may_not_read_presets_goes_through_the_mesh(dss, fault_server):
    client = oc.connect("team-llm")
    assert client.via_mesh and client.found_in == "LLM Mesh connection team-llm (project PROJ)"
    assert client.models() == ["chat", "embed"]
    answer = client.chat([{"role": "user", "content": "hi"}], model="chat", max_tokens=20, temperature=0)
    assert answer.text == "echo: hi" and answer.finish_reason == "stop"
    assert answer.usage.prompt_tokens == 1 and answer.usage.completion_tokens == 2
    sent = fault_server.requests[-1]
    assert sent.header("authorization") == f"Bearer {SHARED_KEY}"  # DSS used the preset's key...
    assert sent.json["max_tokens"] == 20 and sent.json["temperature"] == 0
    assert SHARED_KEY not in repr(client) + repr(client.settings)  # ...which the notebook never held
    assert ("GET", "/dip/publicapi/plugins/openai-compatible/settings") in dss.calls  # the preset was tried first


def test_stream_and_embed_through_the_mesh(dss, fault_server):
    client = oc.connect("team-llm")
    stream = client.stream([{"role": "user", "content": "one two three"}], model="chat")
    pieces = list(stream)
    assert "".join(pieces) == "echo: one two three" and len(pieces) > 1
    assert stream.result.finish_reason == "stop" and stream.result.usage.total_tokens == 7
    vectors = client.embed(["a", "b"], model="embed")
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]
    assert client.embed(["a", "b"], model="custom:team-llm:embed") == vectors  # a full LLM id works too


def test_apply_through_the_mesh_gives_the_recipes_columns(dss, fault_server):
    client = oc.connect("team-llm")
    df = pd.DataFrame({"text": ["good bike", "FAIL:400", "good bike"]}, index=[7, 8, 9])
    out = client.apply(df, template="Review: {{text}}", model="chat")
    assert list(out.index) == [7, 8, 9]
    assert out.loc[7, "llm_response"] == "echo: Review: good bike"
    assert out.loc[8, "llm_error_type"] == "bad_request" and pd.isna(out.loc[8, "llm_response"])
    assert out.loc[7, "llm_model"] == "custom:team-llm:chat"
    assert fault_server.calls_to("chat") == 2  # the duplicate row is answered once
    schema = {"type": "object", "properties": {"sentiment": {"type": "string"}}}
    out = client.apply(pd.DataFrame({"text": ["nice"]}), template="{{text}}", model="chat",
                       output_format="json_schema", json_schema=schema)
    assert out.loc[0, "llm_error_message"] is None and isinstance(out.loc[0, "llm_sentiment"], str)
    assert fault_server.requests[-1].json["response_format"]["type"] == "json_schema"


def test_images_reach_the_provider_as_openai_content_parts(dss, fault_server):
    client = oc.connect("team-llm")
    png = base64.b64encode(b"\x89PNG fake").decode()
    client.chat([{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}], model="chat")
    content = fault_server.requests[-1].json["messages"][0]["content"]
    assert content == [{"type": "text", "text": "What is this?"},
                       {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                       {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]


def test_mesh_errors_keep_their_kind_and_the_providers_words(dss, fault_server):
    client = oc.connect("team-llm")
    fault_server.require_auth("sk-another-key")
    with pytest.raises(oc.AuthenticationError, match="Incorrect API key provided") as caught:
        client.chat([{"role": "user", "content": "hi"}], model="chat")
    assert SHARED_KEY not in str(caught.value)
    with pytest.raises(oc.AuthenticationError):
        list(client.stream([{"role": "user", "content": "hi"}], model="chat"))
    with pytest.raises(oc.UnknownModelError, match="custom:team-llm:chat, custom:team-llm:embed"):
        client.apply(pd.DataFrame({"text": ["x"]}), template="{{text}}", model="gpt-nope")
    with pytest.raises(SettingsError, match="no LLM Mesh setting"):
        client.chat([{"role": "user", "content": "hi"}], model="chat", n=2)
    with pytest.raises(SettingsError, match="Test connection"):
        client.check()


def test_no_mesh_connection_for_the_preset_says_what_to_do(dss, fault_server):
    with pytest.raises(SettingsError) as caught:
        oc.connect("other-preset")
    message = str(caught.value)
    assert "admin rights" in message  # why the preset could not be read
    assert "custom:team-llm:chat" in message and "mesh_connection=" in message
    client = oc.connect("other-preset", mesh_connection="team-llm")
    assert client.chat([{"role": "user", "content": "x"}], model="chat").text == "echo: x"


def test_via_chooses_the_route(dss, fault_server, monkeypatch):
    with pytest.raises(SettingsError, match="admin rights"):
        oc.connect("team-llm", via="preset")
    with pytest.raises(SettingsError, match="api_key= cannot be used"):
        oc.connect("team-llm", api_key="sk-mine")
    monkeypatch.setenv("DKU_API_KEY", ADMIN_KEY)
    assert not oc.connect("team-llm").via_mesh  # who may read the preset talks to the provider directly
    assert oc.connect("team-llm", via="mesh").via_mesh
    with pytest.raises(SettingsError, match="via="):
        oc.connect("team-llm", via="sideways")


def test_the_mesh_route_needs_a_project(dss, monkeypatch):
    monkeypatch.delenv("DKU_CURRENT_PROJECT_KEY")
    with pytest.raises(SettingsError, match="project_key="):
        oc.connect("team-llm")
    assert oc.connect("team-llm", project_key="PROJ", api_client=dataikuapi.DSSClient(dss.url, CAROL_KEY)).via_mesh


def test_the_mesh_cost_reaches_the_notebook(dss, fault_server):
    dss.plugins[PLUGIN]["settings"]["presets"][0]["config"]["prices"] = [
        {"model": "fault-chat", "input_per_million": 1.0, "output_per_million": 4.0}]
    client = oc.connect("team-llm")
    answer = client.chat([{"role": "user", "content": "hi"}], model="chat")
    assert answer.cost == pytest.approx((1 * 1.0 + 2 * 4.0) / 1e6)  # 1 prompt and 2 completion tokens
    out = client.apply(pd.DataFrame({"text": ["hi"]}), template="{{text}}", model="chat")
    assert out.loc[0, "llm_cost"] == pytest.approx(answer.cost)
