"""The notebook API: oc.connect() reads presets through the real dataikuapi from the DSS API stand-in."""
from __future__ import annotations

import os
import sys

import dataikuapi
import pandas as pd
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RUNTIME = os.path.join(REPO, "localdss", "runtime")  # the stand-in `dataiku` package a DSS notebook has
if RUNTIME not in sys.path:
    sys.path.insert(0, RUNTIME)

import openai_compatible as oc  # noqa: E402
from openai_compatible.columns import ColumnLayout  # noqa: E402
from openai_compatible.errors import SettingsError  # noqa: E402
from openai_compatible.tasks.prompt import PromptSpec, PromptTask  # noqa: E402

from tests.servers.dss_api import DSSAPIServer  # noqa: E402

ADMIN_KEY, ALICE_KEY, BOB_KEY, CAROL_KEY = "admin-api-key-1", "alice-api-key-2", "bob-api-key-3", "carol-api-key-4"
PLUGIN = "openai-compatible"
SHARED_KEY, ALICE_SECRET = "sk-shared-123", "sk-alice-456"


@pytest.fixture
def dss(fault_server, monkeypatch):
    server = DSSAPIServer().start()
    server.add_user(ADMIN_KEY, "admin", admin=True)
    # alice and bob administer the plugin (they may read its instance presets); carol only her project
    server.add_user(ALICE_KEY, "alice", project_admin=["PROJ"], plugin_admin=[PLUGIN],
                    secrets=[{"key": "openai-compatible:personal", "value": ALICE_SECRET}])
    server.add_user(BOB_KEY, "bob", project_admin=["PROJ"], plugin_admin=[PLUGIN])
    server.add_user(CAROL_KEY, "carol", project_admin=["PROJ"])
    server.install_plugin_dir()
    base = {"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "max_retries": 0}
    server.add_preset(PLUGIN, "connection", "shared", dict(base, api_key=SHARED_KEY))
    # a per-user-key preset: only at instance level (its set is not definable at project level)
    server.add_preset(PLUGIN, "connection-per-user", "personal", base)
    # a project admin defines project-level presets through the API, as in Settings > Plugin presets
    project_set = (dataikuapi.DSSClient(server.url, ALICE_KEY).get_plugin(PLUGIN).get_project_settings("PROJ")
                   .get_parameter_set("connection"))
    team = project_set.create_preset("shared", with_defaults=True)  # same name: the project's wins
    team.config.update(dict(base, api_key="sk-team-789"))
    project_set.save()
    monkeypatch.setenv("DKU_DSS_URL", server.url)
    monkeypatch.setenv("DKU_API_KEY", ADMIN_KEY)
    monkeypatch.delenv("DKU_CURRENT_PROJECT_KEY", raising=False)
    try:
        yield server
    finally:
        server.stop()


def test_instance_preset(dss, fault_server):
    client = oc.connect("shared")
    assert isinstance(client, oc.NotebookClient) and client.found_in == "instance"
    assert client.chat([{"role": "user", "content": "hi"}], model="fault-chat").text == "echo: hi"
    assert fault_server.requests[-1].header("authorization") == f"Bearer {SHARED_KEY}"
    assert "".join(client.stream([{"role": "user", "content": "a b c"}], model="fault-chat")) == "echo: a b c"
    assert len(client.embed(["x", "y"], model="fault-embed")) == 2
    assert SHARED_KEY not in repr(client)


def test_project_preset_comes_first(dss, fault_server, monkeypatch):
    client = oc.connect("shared", project_key="PROJ")
    assert client.found_in == "project PROJ"
    client.chat([{"role": "user", "content": "hi"}], model="fault-chat")
    assert fault_server.requests[-1].header("authorization") == "Bearer sk-team-789"
    monkeypatch.setenv("DKU_CURRENT_PROJECT_KEY", "PROJ")  # the notebook's own project
    assert oc.connect("shared").found_in == "project PROJ"


def test_per_user_key_from_the_users_secret(dss, fault_server, monkeypatch):
    fault_server.require_auth(ALICE_SECRET)
    monkeypatch.setenv("DKU_API_KEY", ALICE_KEY)
    client = oc.connect("personal", project_key="PROJ")
    assert client.chat([{"role": "user", "content": "hi"}], model="fault-chat").text == "echo: hi"
    assert fault_server.requests[-1].header("authorization") == f"Bearer {ALICE_SECRET}"
    assert ALICE_SECRET not in repr(client) + repr(client.settings)


def test_per_user_key_missing_says_where_to_put_it(dss, monkeypatch):
    monkeypatch.setenv("DKU_API_KEY", BOB_KEY)
    with pytest.raises(SettingsError) as caught:
        oc.connect("personal", project_key="PROJ")
    assert "openai-compatible:personal" in str(caught.value)
    assert "Other credentials" in str(caught.value)


def test_a_preset_saved_with_the_retired_per_user_switch_names_itself(dss, fault_server, monkeypatch):
    dss.add_preset(PLUGIN, "connection", "old-personal", {"base_url": fault_server.url, "models": ["fault-chat"],
                                                          "use_per_user_key": True})
    monkeypatch.setenv("DKU_API_KEY", ALICE_KEY)
    with pytest.raises(SettingsError) as caught:
        oc.connect("old-personal", api_key="sk-mine")
    message = str(caught.value)
    assert message.startswith("The preset 'old-personal' (instance; service http://127.0.0.1:")
    assert "'OpenAI-compatible connection, per-user keys'" in message and "sk-mine" not in message
    assert fault_server.calls == 0


def test_explicit_api_client_and_key(dss, fault_server):
    fault_server.require_auth("sk-explicit")
    client = oc.connect("personal", project_key="PROJ", api_client=dataikuapi.DSSClient(dss.url, BOB_KEY),
                        api_key="sk-explicit")
    assert client.chat([{"role": "user", "content": "hi"}], model="fault-chat").text == "echo: hi"


def test_unknown_preset_lists_the_available_ones(dss):
    with pytest.raises(SettingsError) as caught:
        oc.connect("nope", project_key="PROJ")
    message = str(caught.value)
    assert "'nope'" in message and "shared (instance)" in message and "shared (project PROJ)" in message
    assert "personal (instance, per-user keys)" in message


def test_reading_instance_presets_needs_rights(dss, monkeypatch):
    monkeypatch.setenv("DKU_API_KEY", CAROL_KEY)
    with pytest.raises(SettingsError) as caught:
        oc.connect("shared")
    assert "admin rights" in str(caught.value)


def test_a_preset_dict_needs_no_dss(fault_server):
    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none"},
                        max_concurrency=2)
    assert client.settings.max_concurrency == 2
    assert client.chat([{"role": "user", "content": "x"}], model="fault-chat").text == "echo: x"


def test_apply_gives_the_recipes_columns(dss, fault_server):
    client = oc.connect("shared")
    df = pd.DataFrame({"text": ["good bike", "FAIL:400", "good bike", "bad brakes"], "n": [1, 2, 3, 4]},
                      index=[10, 11, 12, 13])
    out = client.apply(df, template="Review: {{text}}", model="fault-chat", temperature=0)
    spec = PromptSpec(model="fault-chat", prompt_template="Review: {{text}}")
    expected = [c["name"] for c in ColumnLayout("llm", ["text", "n"], PromptTask(spec, ["text", "n"])
                                                .output_columns()).schema()]
    assert list(out.columns) == ["text", "n"] + expected
    assert list(out.index) == [10, 11, 12, 13]
    assert out.loc[10, "llm_response"] == "echo: Review: good bike"
    assert out.loc[11, "llm_error_type"] == "bad_request" and pd.isna(out.loc[11, "llm_response"])
    assert str(out["llm_prompt_tokens"].dtype) == "Int64"
    assert fault_server.calls_to("chat") == 3  # the duplicate row is answered once
    assert df.columns.tolist() == ["text", "n"]  # the input is not modified


def test_apply_with_json_schema_output(dss, fault_server):
    client = oc.connect("shared")
    schema = {"type": "object", "properties": {"sentiment": {"type": "string"}, "stars": {"type": "integer"}}}
    out = client.apply(pd.DataFrame({"text": ["nice"]}), template="{{text}}", model="fault-chat",
                       output_format="json_schema", json_schema=schema, prefix="ai")
    assert {"ai_sentiment", "ai_stars", "ai_response"} <= set(out.columns)
    assert out.loc[0, "ai_error_message"] is None
    with pytest.raises(SettingsError, match="unknown option"):
        client.apply(pd.DataFrame({"text": ["x"]}), template="{{text}}", model="fault-chat", temprature=1)
    calls = fault_server.calls
    with pytest.raises(oc.UnknownModelError):
        client.apply(pd.DataFrame({"text": ["x"]}), template="{{text}}", model="not-offered")
    with pytest.raises(SettingsError, match="nope"):
        client.apply(pd.DataFrame({"text": ["x"]}), template="{{nope}}", model="fault-chat")
    assert fault_server.calls == calls  # nothing was sent


def test_openai_sdk_with_the_same_settings(fault_server):
    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "api_key": "sk-sdk-1",
                         "extra_headers": [{"from": "X-Tenant", "to": "blue"}],
                         "extra_query": [{"from": "env", "to": "test"}]})
    sdk = client.openai()
    answer = sdk.chat.completions.create(model="fault-chat", messages=[{"role": "user", "content": "hey"}])
    assert answer.choices[0].message.content == "echo: hey"
    request = fault_server.requests[-1]
    assert request.header("authorization") == "Bearer sk-sdk-1"
    assert request.header("x-tenant") == "blue" and request.query["env"] == "test"


def test_openai_sdk_with_a_custom_header_key(fault_server):
    fault_server.require_auth("sk-gw", scheme="header:Ocp-Apim-Subscription-Key")
    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "api_key": "sk-gw",
                         "auth_scheme": "custom_header", "auth_header_name": "Ocp-Apim-Subscription-Key"})
    answer = client.openai().chat.completions.create(model="fault-chat", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "echo: x"
    assert fault_server.requests[-1].header("authorization") is None  # no placeholder bearer leaks out


def test_openai_sdk_for_an_azure_deployment(fault_server):
    fault_server.require_auth("sk-az", scheme="api-key")
    client = oc.connect({"style": "azure", "target_uri": fault_server.target_uri, "auth_scheme": "api_key_header",
                         "api_key": "sk-az", "api_version": "2024-10-21",
                         "endpoints": [{"name": "gpt", "kind": "azure_deployment", "deployment": "dep-1"}]})
    sdk = client.openai("gpt")
    answer = sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "az"}])
    assert answer.choices[0].message.content == "echo: az"
    request = fault_server.requests[-1]
    assert request.path == "/openai/deployments/dep-1/chat/completions"
    assert request.query["api-version"] == "2024-10-21"


def test_openai_sdk_missing(fault_server, monkeypatch):
    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none"})
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match="pip install openai"):
        client.openai()


def test_check_from_a_notebook(dss):
    results = oc.run_checks(oc.connect("shared"))
    assert {r.name for r in results} >= {"reachable", "authentication", "chat:fault-chat", "streaming"}
    assert all(r.status in ("ok", "warn", "skipped") for r in results)


def test_apply_gives_every_json_type_its_typed_column(fault_server):
    """Arrays and objects are JSON text (as the README promises and as the recipe writes), never Python objects."""
    import json

    from tests.python.integration.test_prompt_recipe import EVERY_JSON_TYPE

    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none"})
    out = client.apply(pd.DataFrame({"text": ["a", "b"]}), template="{{text}}", model="fault-chat",
                       output_format="json_schema", json_schema=EVERY_JSON_TYPE)
    assert len(out) == 2
    for _, row in out.iterrows():
        assert row["llm_error_message"] is None
        assert row["llm_s"] == 'text, "quoted"' and row["llm_i"] == 42 and row["llm_n"] == 2.5
        assert row["llm_b"] is False or row["llm_b"] == False  # noqa: E712 (numpy bool)
        assert isinstance(row["llm_a"], str) and json.loads(row["llm_a"]) == [1, "two", None]
        assert isinstance(row["llm_o"], str) and json.loads(row["llm_o"]) == {"k": [1, 2], "v": None}
        assert pd.isna(row["llm_z"])
    assert str(out["llm_i"].dtype) == "Int64" and str(out["llm_b"].dtype) == "boolean"


def test_reasoning_from_a_notebook(fault_server):
    """chat(), stream() and apply() take reasoning_effort; the thinking is kept apart from the answer."""
    from tests.servers.fault_server import Fault

    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "fault-chat", "choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "<think>\nTwo and two.\n</think>\n\n4"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11,
                  "completion_tokens_details": {"reasoning_tokens": 6}}}
    fault_server.always(Fault.error(200, answer, label="answer"))
    client = oc.connect({"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none"})
    result = client.chat([{"role": "user", "content": "2+2?"}], "fault-chat", reasoning_effort="low")
    assert (result.text, result.reasoning, result.usage.reasoning_tokens) == ("4", "Two and two.", 6)
    stream = client.stream([{"role": "user", "content": "2+2?"}], "fault-chat", reasoning_effort="low")
    assert stream.text() == "4" and stream.result.reasoning == "Two and two."
    out = client.apply(pd.DataFrame({"q": ["2+2?"]}), template="{{q}}", model="fault-chat",
                       reasoning_effort="high", reasoning_column=True)
    assert out.loc[0, "llm_response"] == "4" and out.loc[0, "llm_reasoning"] == "Two and two."
    assert out.loc[0, "llm_reasoning_tokens"] == 6
    assert [r.json["reasoning_effort"] for r in fault_server.requests] == ["low", "low", "high"]
    plain = client.apply(pd.DataFrame({"q": ["2+2?"]}), template="{{q}}", model="fault-chat")
    assert "llm_reasoning" not in plain.columns and plain.loc[0, "llm_response"] == "4"


@pytest.mark.parametrize("preset_limit, described", [(0, "automatic, "), (8, "3")])
def test_apply_concurrency_lowers_the_clients_limit_and_the_log_says_so(fault_server, caplog, preset_limit,
                                                                        described):
    import logging

    preset = {"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none",
              "max_concurrency": preset_limit}
    client = oc.connect(preset)
    with caplog.at_level(logging.INFO, logger="openai_compatible"):
        out = client.apply(pd.DataFrame({"text": [f"t{i}" for i in range(40)]}), template="{{text}}",
                           model="fault-chat", concurrency=3)
    assert out["llm_response"].tolist() == [f"echo: t{i}" for i in range(40)]
    summary = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("apply():"))
    # the limit in use, not the preset's: automatic within a bound of 3, or fixed at 3
    assert (f"{described}3 now (peak 3, bound 3)" if preset_limit == 0 else "concurrency 3") in summary, summary
    assert client.settings.max_concurrency == preset_limit  # the connection itself is unchanged
    for bad in ("abc", 0, -1, 2.5):
        with pytest.raises(SettingsError, match="parameter 'concurrency'"):
            client.apply(pd.DataFrame({"text": ["a"]}), template="{{text}}", model="fault-chat", concurrency=bad)
