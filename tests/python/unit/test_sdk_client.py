"""client.openai(): the official SDK's client with the preset's URL and credentials, for each Azure case."""
from __future__ import annotations

import sys

import pytest
from openai_compatible import Client

from tests.servers.fault_server import FaultServer

HELLO = [{"role": "user", "content": "az"}]


def azure(server, **changes) -> dict:
    preset = {"style": "azure", "target_uri": server.target_uri, "api_version": "2024-10-21",
              "endpoints": [{"name": "gpt", "kind": "azure_deployment", "deployment": "dep-1"}]}
    preset.update(changes)
    return preset


def test_a_single_azure_endpoint_needs_no_name(fault_server):
    with Client.from_preset(azure(fault_server, auth_scheme="none")) as client:
        answer = client.openai().chat.completions.create(model="gpt", messages=HELLO)
    assert answer.choices[0].message.content == "echo: az"
    assert fault_server.requests[-1].path == "/openai/deployments/dep-1/chat/completions"


def test_an_azure_deployment_with_a_bearer_key_sends_it_as_a_bearer_token(fault_server):
    fault_server.require_auth("sk-entra", scheme="bearer")
    with Client.from_preset(azure(fault_server, auth_scheme="bearer", api_key="sk-entra")) as client:
        answer = client.openai("gpt").chat.completions.create(model="gpt", messages=HELLO)
    assert answer.choices[0].message.content == "echo: az"
    assert fault_server.requests[-1].header("api-key") is None


KEY = "sk-sdk-scheme-0007"
NO_KEY = {"authorization": None, "api-key": None, "x-portal-key": None, "subscription-key": None}


def openai_style(server, **changes) -> dict:
    return dict({"base_url": server.url, "models": ["gpt"], "api_key": KEY}, **changes)


@pytest.mark.parametrize("preset_of, required, sent", [
    (lambda s: openai_style(s, auth_scheme="api_key_header"), "api-key", {"api-key": KEY}),
    (lambda s: openai_style(s, auth_scheme="custom_header", auth_header_name="X-Portal-Key"), "header:X-Portal-Key",
     {"x-portal-key": KEY}),
    (lambda s: openai_style(s, auth_scheme="query_param", auth_query_param="subscription-key"),
     "query:subscription-key", {"subscription-key": KEY}),
    # AzureOpenAI, given the key, also sends it as a Bearer token to the same host (openai-python's own
    # auth_headers): that header is the SDK's doing, left unchecked
    (lambda s: azure(s, auth_scheme="api_key_header", api_key=KEY), "api-key", {"api-key": KEY, "authorization": ...}),
    (lambda s: azure(s, auth_scheme="api_key_header", api_key=KEY, endpoints=[{"name": "gpt", "kind": "openai_v1"}]),
     "api-key", {"api-key": KEY}),
], ids=["openai-api-key", "openai-custom-header", "openai-query-param", "azure-deployment-api-key",
        "azure-openai-v1-api-key"])
def test_the_sdk_client_sends_the_key_where_the_presets_scheme_says_and_nowhere_else(fault_server, preset_of,
                                                                                      required, sent):
    # the SDK sends the key it is given as a Bearer token (OpenAI) or an api-key header (AzureOpenAI for a
    # deployment): only those get it, every other carrier goes as the preset's header or query parameter
    fault_server.require_auth(KEY, scheme=required)
    with Client.from_preset(preset_of(fault_server)) as client:
        answer = client.openai("gpt").chat.completions.create(model="gpt", messages=HELLO)
    assert answer.choices[0].message.content == "echo: az"
    request = fault_server.requests[-1]
    expected = {**NO_KEY, **sent}
    seen = {name: request.query.get(name) if name == "subscription-key" else request.header(name) for name in NO_KEY}
    assert {k: v for k, v in seen.items() if expected[k] is not ...} == {k: v for k, v in expected.items()
                                                                          if v is not ...}


def test_without_a_key_no_placeholder_credential_leaves(fault_server):
    # the SDK insists on a key: the placeholder it gets is taken off every request
    with Client.from_preset(azure(fault_server, auth_scheme="none")) as client:
        client.openai("gpt").chat.completions.create(model="gpt", messages=HELLO)
    request = fault_server.requests[-1]
    assert request.header("api-key") is None and request.header("authorization") is None


def test_without_the_sdk_the_error_says_what_to_install_or_use_instead(fault_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"]}) as client:
        with pytest.raises(ImportError) as caught:
            client.openai()
    assert str(caught.value) == (
        "client.openai() needs the official OpenAI Python SDK: install the 'openai' package in this code "
        "environment (pip install openai), or use client.chat(), client.stream() and client.embed(), which need "
        "nothing more.")


def test_the_sdk_client_sends_the_presets_extra_headers_and_query(fault_server):
    preset = {"base_url": fault_server.url, "models": ["m"], "api_key": "sk-sdk-1",
              "extra_headers": [{"from": "X-Tenant", "to": "blue"}], "extra_query": [{"from": "env", "to": "test"}]}
    with Client.from_preset(preset) as client:
        client.openai().chat.completions.create(model="m", messages=HELLO)
    request = fault_server.requests[-1]
    assert request.header("authorization") == "Bearer sk-sdk-1"
    assert request.header("x-tenant") == "blue" and request.query == {"env": "test"}


def test_with_oauth2_the_sdk_client_carries_the_token_the_client_fetched(fault_server):
    token_url = fault_server.serve_tokens("tok-sdk-1")
    fault_server.require_auth("tok-sdk-1", scheme="bearer")
    preset = {"base_url": fault_server.url, "models": ["m"], "auth_scheme": "oauth2_client_credentials",
              "oauth2_token_url": token_url, "oauth2_client_id": "dss-app",
              "oauth2_client_secret": "s3cret-sdk"}
    with Client.from_preset(preset) as client:
        answer = client.openai().chat.completions.create(model="m", messages=HELLO)
    assert answer.choices[0].message.content == "echo: az"
    assert fault_server.requests[-1].header("authorization") == "Bearer tok-sdk-1"


def test_the_sdk_client_takes_turns_over_the_replicas_and_an_endpoint_of_its_own_stays_on_its_server(fault_server):
    # the preset's replicas serve what is under its own URL; an Azure endpoint with a Target URI of its own
    # is another server, which the replicas do not serve
    with FaultServer() as second, FaultServer() as own:
        preset = {"base_url": fault_server.url, "replica_urls": [second.url], "models": ["m"], "api_key": "sk-r-1"}
        with Client.from_preset(preset) as client:
            sdk = client.openai()
            texts = [sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
                     .choices[0].message.content for i in range(4)]
        assert texts == [f"echo: q{i}" for i in range(4)]
        assert (fault_server.calls_to("chat"), second.calls_to("chat")) == (2, 2)
        endpoints = [{"name": "gpt", "kind": "azure_deployment", "deployment": "dep-1"},
                     {"name": "llama", "kind": "openai_v1", "target_uri": own.target_uri}]
        azure_preset = azure(fault_server, auth_scheme="none", replica_target_uris=[second.target_uri],
                             endpoints=endpoints)
        with Client.from_preset(azure_preset) as client:
            sdk = client.openai("llama")
            for _ in range(2):
                sdk.chat.completions.create(model="llama", messages=HELLO)
        assert own.calls_to("chat") == 2 and (fault_server.calls_to("chat"), second.calls_to("chat")) == (2, 2)


def test_an_http_client_of_ones_own_is_warned_about_in_full(fault_server, caplog):
    import httpx

    with FaultServer() as second:
        preset = {"base_url": fault_server.url, "replica_urls": [second.url], "models": ["m"], "api_key": "sk-r-2"}
        with Client.from_preset(preset) as client, httpx.Client() as own, \
                caplog.at_level("WARNING", logger="openai_compatible"):
            client.openai(http_client=own).chat.completions.create(model="m", messages=HELLO)
        assert (fault_server.calls_to("chat"), second.calls_to("chat")) == (1, 0)
    said = [r.getMessage() for r in caplog.records if "http_client" in r.getMessage()]
    assert said == [f"client.openai() was given its own http_client: its requests go to {fault_server.url} only, not "
                    "to the preset's 2 replicas, and a replica that fails is not left out."]
