"""The LLM Mesh route: the real, unmodified dataikuapi -> the DSS API stand-in -> the plugin's python-llms
(through localdss) -> the provider. What a DSS user's `project.get_llm("custom:...")` code sees."""
from __future__ import annotations

import json
from pathlib import Path

import dataikuapi
import pytest
from dataikuapi.dss.llm_utils import LLMException

from tests.servers.dss_api import DSSAPIServer

ADMIN_KEY, ALICE_KEY, BOB_KEY = "admin-api-key-1", "alice-api-key-2", "bob-api-key-3"
PLUGIN = "openai-compatible"
REPO = Path(__file__).resolve().parents[3]


def make_dss(preset_config: dict, per_user: bool = False) -> DSSAPIServer:
    dss = DSSAPIServer().start()
    dss.add_user(ADMIN_KEY, "admin", admin=True)
    dss.add_user(ALICE_KEY, "alice")
    dss.add_user(BOB_KEY, "bob")
    dss.install_plugin_dir()
    # the admin defines the preset through the API, as in the plugin's Settings tab
    admin = dataikuapi.DSSClient(dss.url, ADMIN_KEY)
    set_id = "connection-per-user" if per_user else "connection"
    parameter_set = admin.get_plugin(PLUGIN).get_settings().get_parameter_set(set_id)
    preset = parameter_set.create_preset("llm-gateway", with_defaults=True)
    preset.config.update(preset_config)
    parameter_set.save()
    chosen = ({"connection_keys": "per_user", "connection_per_user": "llm-gateway"} if per_user
              else {"connection": "llm-gateway"})
    dss.add_llm_connection("gateway", [
        {"id": "chat", "type": "openai-compatible-chat", "capability": "Chat completion",
         "config": dict(chosen, model="fault-chat")},
        {"id": "embed", "type": "openai-compatible-embedding", "capability": "Text embedding",
         "config": dict(chosen, model="fault-embed")},
    ])
    return dss


@pytest.fixture
def mesh(fault_server):
    dss = make_dss({"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "api_key": "sk-shared",
                    "max_retries": 0})
    try:
        yield dss, dataikuapi.DSSClient(dss.url, ALICE_KEY).get_project("PROJ"), fault_server
    finally:
        dss.stop()


def test_list_llms_by_purpose(mesh):
    _, project, _ = mesh
    assert [llm.id for llm in project.list_llms()] == ["custom:gateway:chat"]
    assert [llm.id for llm in project.list_llms(purpose="TEXT_EMBEDDING_EXTRACTION")] == ["custom:gateway:embed"]


def test_completion(mesh):
    dss, project, fault_server = mesh
    response = project.get_llm("custom:gateway:chat").new_completion().with_message("hello mesh").execute()
    assert response.success
    assert response.text == "echo: hello mesh"
    raw = response.get_raw()
    assert raw["finishReason"] == "stop"
    assert raw["promptTokens"] == 2 and raw["completionTokens"] == 3 and raw["totalTokens"] == 5
    assert fault_server.requests[-1].header("authorization") == "Bearer sk-shared"
    assert dss.llm_runs[-1]["stream"] is False


def test_settings_and_json_output(mesh):
    _, project, fault_server = mesh
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["label", "score"]}
    query = project.get_llm("custom:gateway:chat").new_completion()
    query.with_message("Classify this.", role="user").with_json_output(schema=schema, strict=True)
    query.settings.update({"temperature": 0.1, "maxOutputTokens": 40, "stopSequences": ["###"]})
    response = query.execute()
    assert set(response.json) == {"label", "score"}
    body = fault_server.requests[-1].json
    assert body["temperature"] == 0.1 and body["max_tokens"] == 40 and body["stop"] == ["###"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"] == schema["properties"]


def test_multipart_and_tool_messages(mesh):
    _, project, fault_server = mesh
    query = project.get_llm("custom:gateway:chat").new_completion()
    query.new_multipart_message().with_text("Describe").with_inline_image(b"\x89PNG fake", mime_type="image/png").add()
    query.with_tool_calls([{"type": "function", "id": "call_1", "function": {"name": "f", "arguments": "{}"}}])
    query.with_tool_output("42", tool_call_id="call_1")
    query.with_message("and now?")
    assert query.execute().success
    messages = fault_server.requests[-1].json["messages"]
    assert messages[0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}


def test_streamed_completion(mesh):
    dss, project, _ = mesh
    query = project.get_llm("custom:gateway:chat").new_completion().with_message("one two three")
    chunks = list(query.execute_streamed())
    texts = [c.text for c in chunks if c.type == "content"]
    footer = chunks[-1]
    assert "".join(texts) == "echo: one two three" and len(texts) > 1
    assert footer.type == "footer"
    assert footer.data["finishReason"] == "stop" and footer.data["totalTokens"] == 7
    collected = query.execute_streamed(collect_response=True)
    list(collected)
    assert collected.response.text == "echo: one two three"
    assert dss.llm_runs[-1]["stream"] is True


def test_embeddings(mesh):
    _, project, _ = mesh
    response = project.get_llm("custom:gateway:embed").new_embeddings().add_text("a").add_text("b").execute()
    vectors = response.get_embeddings()
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]


def test_provider_errors_reach_the_caller(mesh):
    _, project, fault_server = mesh
    fault_server.require_auth("sk-another-key")
    response = project.get_llm("custom:gateway:chat").new_completion().with_message("hi").execute()
    assert response.success is False
    with pytest.raises(LLMException) as caught:
        _ = response.text
    assert "Incorrect API key provided" in str(caught.value)  # the provider's own words
    assert caught.value.error_type == "AuthenticationError"  # the kind is kept
    with pytest.raises(LLMException, match="Incorrect API key provided"):
        list(project.get_llm("custom:gateway:chat").new_completion().with_message("hi").execute_streamed())
    with pytest.raises(Exception, match="Incorrect API key provided"):
        project.get_llm("custom:gateway:embed").new_embeddings().add_text("a").execute().get_embeddings()
    assert "sk-shared" not in json.dumps(response.get_raw())


def test_per_user_keys(fault_server):
    dss = make_dss({"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "max_retries": 0},
                   per_user=True)
    try:
        fault_server.require_auth("sk-alice-own")
        dss.set_user_credential(ALICE_KEY, PLUGIN, "connection-per-user", "llm-gateway", "per_user_key",
                                "sk-alice-own")
        alice = dataikuapi.DSSClient(dss.url, ALICE_KEY).get_project("PROJ").get_llm("custom:gateway:chat")
        assert alice.new_completion().with_message("hi").execute().text == "echo: hi"
        assert fault_server.requests[-1].header("authorization") == "Bearer sk-alice-own"
        bob = dataikuapi.DSSClient(dss.url, BOB_KEY).get_project("PROJ").get_llm("custom:gateway:chat")
        response = bob.new_completion().with_message("hi").execute()
        assert not response.success
        assert "Profile & Settings > Credentials" in response.get_raw()["errorMessage"]
    finally:
        dss.stop()


def test_each_user_calls_with_their_own_key_and_shared_presets_ask_nobody(fault_server):
    dss = make_dss({"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "max_retries": 0},
                   per_user=True)
    try:
        for api_key, own in ((ALICE_KEY, "sk-alice-own"), (BOB_KEY, "sk-bob-own")):
            dss.set_user_credential(api_key, PLUGIN, "connection-per-user", "llm-gateway", "per_user_key", own)
        for api_key, own in ((ALICE_KEY, "sk-alice-own"), (BOB_KEY, "sk-bob-own"), (ALICE_KEY, "sk-alice-own")):
            llm = dataikuapi.DSSClient(dss.url, api_key).get_project("PROJ").get_llm("custom:gateway:chat")
            assert llm.new_completion().with_message("hi").execute().text == "echo: hi"
            assert fault_server.requests[-1].header("authorization") == f"Bearer {own}"
        # the shared-key set has no credential request: DSS asks nobody for anything on its presets
        shared = json.loads((REPO / "parameter-sets" / "connection" / "parameter-set.json").read_text())
        assert [p for p in shared["params"] + shared["pluginParams"] if p["type"] == "CREDENTIAL_REQUEST"] == []
    finally:
        dss.stop()


def test_completion_on_llama_through_the_mesh(llama_server):
    dss = make_dss({"base_url": llama_server.base_url, "models": [llama_server.model], "auth_scheme": "none"})
    dss.add_llm_connection("local", [{"id": "smol", "type": "openai-compatible-chat", "capability": "Chat completion",
                                      "config": {"connection": "llm-gateway", "model": llama_server.model}}])
    try:
        llm = dataikuapi.DSSClient(dss.url, ALICE_KEY).get_project("PROJ").get_llm("custom:local:smol")
        query = llm.new_completion().with_message("Say hello.")
        query.settings["maxOutputTokens"] = 8
        response = query.execute()
        assert response.success and response.text
        assert 0 < response.get_raw()["completionTokens"] <= 8
        query = llm.new_completion().with_message("Say hello.")
        query.settings["maxOutputTokens"] = 8  # an unbounded answer of the small model can outlast the 120 s limit
        streamed = list(query.execute_streamed())
        assert streamed[-1].type == "footer" and any(c.type == "content" and c.text for c in streamed[:-1])
    finally:
        dss.stop()


def test_estimated_cost_from_the_preset_prices(fault_server):
    prices = [{"model": "fault-chat", "input_per_million": 3.0, "output_per_million": 15.0}]
    dss = make_dss({"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "api_key": "sk-shared",
                    "max_retries": 0, "prices": prices})
    try:
        llm = dataikuapi.DSSClient(dss.url, ALICE_KEY).get_project("PROJ").get_llm("custom:gateway:chat")
        raw = llm.new_completion().with_message("hello mesh").execute().get_raw()
        # the key DSS's cost tracking reads (dataikuapi llm_utils _footer_attributes), in a completion...
        assert raw["estimatedCost"] == pytest.approx((raw["promptTokens"] * 3 + raw["completionTokens"] * 15) / 1e6)
        footer = list(llm.new_completion().with_message("one two three").execute_streamed())[-1]
        assert footer.type == "footer"  # ...and in a stream's footer
        assert footer.data["estimatedCost"] == pytest.approx(
            (footer.data["promptTokens"] * 3 + footer.data["completionTokens"] * 15) / 1e6)
    finally:
        dss.stop()


def test_no_price_no_estimated_cost(mesh):
    _, project, _ = mesh
    assert "estimatedCost" not in project.get_llm("custom:gateway:chat").new_completion().with_message("x") \
        .execute().get_raw()
