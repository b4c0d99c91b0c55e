"""Connection checks (run_checks) against real servers and providers that refuse things."""
from __future__ import annotations

import dataclasses
import shutil
import socket
import ssl
import subprocess

import pytest
from openai_compatible import Client
from openai_compatible.check import render_html, run_checks
from openai_compatible.checks import registry

from tests.servers.fault_server import Fault, FaultServer, oai_error

SECRET = "sk-check-secret-4242"


def by_name(results):
    return {r.name: r for r in results}


def preset(url, **extra):
    values = {"base_url": url, "models": ["fault-chat"], "api_key": SECRET, "max_retries": 1}
    values.update(extra)
    return values


def reject_json_schema(fs: FaultServer) -> None:
    fs.add_rule(Fault.error(400, oai_error("response_format of type json_schema is not supported by this model",
                                           param="response_format", code="unsupported_value")),
                lambda req: (req.json.get("response_format") or {}).get("type") == "json_schema")


def reject_stream_options(fs: FaultServer) -> None:
    fs.add_rule(Fault.error(400, oai_error("Unrecognized request argument supplied: stream_options",
                                           param="stream_options")),
                lambda req: "stream_options" in req.json)


def assert_no_secret(results, *secrets):
    text = repr([r.to_dict() for r in results]) + render_html(results)
    for secret in secrets:
        assert secret not in text


# --- real servers ---------------------------------------------------------------------------------

def test_llama_server_supports_everything(llama_server):
    client = Client.from_preset({"base_url": llama_server.base_url, "models": [llama_server.model],
                                 "auth_scheme": "none"})
    results = by_name(run_checks(client))
    assert not [r for r in results.values() if r.status == "fail"], results
    for name in ("reachable", "authentication", "models_endpoint", f"chat:{llama_server.model}", "token_field",
                 "system_role", "streaming", "json_schema", f"embeddings:{llama_server.model}"):
        assert results[name].status == "ok", results[name]
    assert results["tls"].status == "skipped"  # plain http on this machine
    assert results[f"chat:{llama_server.model}"].latency_ms is not None
    assert results["stream_usage"].status in ("ok", "warn")


def test_litellm_proxy_openai_style(litellm_proxy):
    client = Client.from_preset({"base_url": litellm_proxy.base_url, "models": ["mock-gpt", "mock-embed"],
                                 "api_key": litellm_proxy.master_key})
    results = by_name(run_checks(client))
    assert results["authentication"].status == "ok"
    assert results["chat:mock-gpt"].status == "ok"
    assert results["chat:mock-embed"].status == "skipped"  # an embedding model is tested for embeddings
    # the mock returns one vector whatever the number of inputs: the check says to embed one text at a time
    assert results["embeddings:mock-embed"].status == "warn"
    assert "batch size to 1" in results["embeddings:mock-embed"].setting
    assert results["models_endpoint"].status == "ok"
    # the mock answers the same text whatever is asked: JSON modes are accepted but ignored
    assert results["json_object"].status in ("ok", "warn")
    assert_no_secret(results.values(), litellm_proxy.master_key)


def test_litellm_proxy_azure_style_and_wrong_key(litellm_proxy):
    good = Client.from_preset({"style": "azure", "target_uri": litellm_proxy.target_uri,
                               "auth_scheme": "api_key_header", "api_key": litellm_proxy.master_key,
                               "endpoints": [{"name": "mock-gpt", "kind": "azure_deployment"}]})
    results = by_name(run_checks(good))
    assert results["chat:mock-gpt"].status == "ok"
    assert results["models_endpoint"].status == "skipped"
    bad = Client.from_preset({"base_url": litellm_proxy.base_url, "models": ["mock-gpt"],
                              "api_key": "sk-wrong-key-000", "max_retries": 0})
    results = by_name(run_checks(bad))
    # LiteLLM without a database answers a wrong key with HTTP 400 "No connected db": not provably a key
    # problem, so a warning that still points to the key
    assert results["authentication"].status in ("fail", "warn")
    assert "api_key" in results["authentication"].setting
    assert results["chat:mock-gpt"].status == "fail"
    assert results["streaming"].status == "skipped"  # nothing to test capabilities with
    assert_no_secret(results.values(), "sk-wrong-key-000", litellm_proxy.master_key)


# --- providers that refuse things: the report names the setting -----------------------------------

def test_refused_streaming(fault_server):
    fault_server.reject_stream()
    forced = by_name(run_checks(Client.from_preset(preset(fault_server.url, streaming="yes"))))
    assert forced["streaming"].status == "fail"
    assert forced["streaming"].setting == "set 'streaming' to 'no'"
    assert forced["stream_usage"].status == "skipped"
    auto = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert auto["streaming"].status == "warn"
    assert auto["streaming"].setting == "set 'streaming' to 'no'"
    assert auto["chat:fault-chat"].status == "ok"  # everything else still works


def test_refused_max_completion_tokens(fault_server):
    fault_server.reject_param("max_completion_tokens")
    client = Client.from_preset(preset(fault_server.url, max_tokens_field="max_completion_tokens"))
    results = by_name(run_checks(client))
    assert results["token_field"].status == "fail"
    assert results["token_field"].setting == "set 'max_tokens_field' to 'max_tokens'"
    # the one-token chat sends the refused field too: it fails, and the capability checks still run
    assert results["chat:fault-chat"].status == "fail"
    assert results["system_role"].status == "ok"


def test_refused_max_tokens_in_auto_mode(fault_server):
    fault_server.reject_param("max_tokens")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["token_field"].status == "warn"
    assert results["token_field"].setting == "set 'max_tokens_field' to 'max_completion_tokens'"


def test_refused_developer_role(fault_server):
    fault_server.reject_role("developer")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url, system_role="developer"))))
    assert results["developer_role"].status == "fail"
    assert results["developer_role"].setting == "set 'system_role' to 'system'"
    assert results["system_role"].status == "ok"
    default = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert default["developer_role"].status == "warn"
    assert "'system_role' at 'system'" in default["developer_role"].setting


def test_refused_system_role(fault_server):
    fault_server.reject_role("system")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["system_role"].status == "fail"
    assert results["system_role"].setting.startswith("set 'system_role' to 'user'")


def test_refused_json_schema(fault_server):
    reject_json_schema(fault_server)
    forced = by_name(run_checks(Client.from_preset(preset(fault_server.url, json_mode="json_schema"))))
    assert forced["json_schema"].status == "fail"
    assert forced["json_schema"].setting == "set 'json_mode' to 'json_object'"
    assert forced["json_object"].status == "ok"
    auto = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert auto["json_schema"].status == "warn"
    assert auto["json_schema"].setting == "set 'json_mode' to 'json_object'"


def test_refused_both_json_modes(fault_server):
    reject_json_schema(fault_server)
    fault_server.add_rule(Fault.error(400, oai_error("'response_format.type' must be 'json_schema' or 'text'",
                                                     param="response_format")),
                          lambda req: (req.json.get("response_format") or {}).get("type") == "json_object")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["json_object"].setting == "set 'json_mode' to 'none'"
    assert results["json_schema"].setting == "set 'json_mode' to 'none'"


def test_refused_stream_options(fault_server):
    reject_stream_options(fault_server)
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["streaming"].status == "ok"
    assert results["stream_usage"].status == "fail"
    assert results["stream_usage"].setting == "turn 'stream_usage' off"


def test_a_broken_provider_gets_every_setting_at_once(fault_server):
    fault_server.reject_stream()
    fault_server.reject_param("max_completion_tokens")
    fault_server.reject_role("developer")
    reject_json_schema(fault_server)
    results = by_name(run_checks(Client.from_preset(preset(
        fault_server.url, streaming="yes", max_tokens_field="max_completion_tokens", system_role="developer",
        json_mode="json_schema"))))
    settings = {name: r.setting for name, r in results.items() if r.status == "fail"}
    assert settings["streaming"] == "set 'streaming' to 'no'"
    assert settings["token_field"] == "set 'max_tokens_field' to 'max_tokens'"
    assert settings["developer_role"] == "set 'system_role' to 'system'"
    assert settings["json_schema"] == "set 'json_mode' to 'json_object'"


def test_wrong_key_and_no_secret_anywhere(fault_server):
    fault_server.require_auth("sk-the-right-one")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url, extra_headers=[
        {"from": "X-Tenant-Token", "to": "tenant-secret-777"}]))))
    assert results["authentication"].status == "fail"
    assert results["models_endpoint"].status == "fail"
    assert results["chat:fault-chat"].status == "fail"
    assert_no_secret(results.values(), SECRET, "tenant-secret-777")


def test_per_user_key_failure_points_to_the_profile(fault_server):
    fault_server.require_auth("sk-the-right-one")
    results = by_name(run_checks(Client.from_preset({"base_url": fault_server.url, "models": ["fault-chat"],
                                          "use_per_user_key": True, "per_user_key": "sk-mine-but-wrong"})))
    assert "Profile & Settings > Credentials" in results["authentication"].setting


def test_unknown_model(fault_server):
    fault_server.reject_unknown_models()
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url, models=["fault-chat", "nope"]))))
    assert results["chat:nope"].status == "fail"
    assert "'models'" in results["chat:nope"].setting
    assert results["models_endpoint"].status == "warn"  # 'nope' is not in GET /models
    assert results["chat:fault-chat"].status == "ok"


def test_models_restricts_the_per_model_checks(fault_server):
    client = Client.from_preset(preset(fault_server.url, models=["fault-chat", "other"]))
    names = [r.name for r in run_checks(client, models=["fault-chat"])]
    assert "chat:fault-chat" in names and "chat:other" not in names


def test_discovered_models_are_tested(fault_server):
    results = by_name(run_checks(Client.from_preset({"base_url": fault_server.url, "discover_models": True,
                                          "auth_scheme": "none"})))
    assert results["models_endpoint"].status == "ok"
    assert results["chat:fault-chat"].status == "ok"
    assert results["embeddings:fault-embed"].status == "ok"


def test_unreachable_service_fails_cleanly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = by_name(run_checks(Client.from_preset(preset(f"http://127.0.0.1:{port}/v1", max_retries=0))))
    assert results["reachable"].status == "fail"
    assert "'base_url'" in results["reachable"].setting
    assert results["chat:fault-chat"].status == "fail"
    assert results["streaming"].status == "skipped"


def test_a_crashing_check_does_not_stop_the_others(fault_server, monkeypatch):
    def boom(ctx):
        raise RuntimeError("bug in a check")

    steps = [dataclasses.replace(s, run=boom) if s.names == ("streaming",) else s for s in registry.CHECKS]
    monkeypatch.setattr(registry, "CHECKS", steps)
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["streaming"].status == "fail"
    assert "failed unexpectedly" in results["streaming"].meaning
    assert results["json_schema"].status == "ok"
    assert results["embeddings:fault-chat"].status in ("ok", "skipped")


# --- TLS ------------------------------------------------------------------------------------------

@pytest.fixture
def tls_fault_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = FaultServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server, f"https://127.0.0.1:{server.port}/v1", str(cert)


def test_untrusted_certificate_names_ca_bundle(tls_fault_server):
    _, url, cert = tls_fault_server
    results = by_name(run_checks(Client.from_preset(preset(url, max_retries=0))))
    assert results["reachable"].status == "ok"
    assert results["tls"].status == "fail"
    assert "'ca_bundle'" in results["tls"].setting
    trusted = by_name(run_checks(Client.from_preset(preset(url, ca_bundle=cert))))
    assert trusted["tls"].status == "ok"
    assert trusted["chat:fault-chat"].status == "ok"
    unverified = by_name(run_checks(Client.from_preset(preset(url, verify_tls=False))))
    assert unverified["tls"].status == "warn"
    assert "'verify_tls'" in unverified["tls"].setting


def test_report_is_escaped(fault_server):
    client = Client.from_preset(preset(fault_server.url, models=["fault-chat", "<script>alert(1)</script>"]))
    page = render_html(run_checks(client), client.settings)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_a_reasoning_model_thinking_through_the_probes_tiny_limit_answers(fault_server):
    """The probes ask for 1 to 3 tokens; a reasoning model (vLLM's reasoning parser, DeepSeek) spends them on
    reasoning_content and sends no content with finish_reason length. For a probe that is an answer: the model
    and streaming work; only a task's real answers make it an error (ReasoningBudgetError)."""
    from tests.providers.case import chunk, completion, sse, usage

    spent = usage(5, 3, completion_tokens_details={"reasoning_tokens": 3})
    fault_server.add_rule(Fault.error(200, "".join(sse([
        chunk({"role": "assistant", "content": None, "reasoning_content": "Okay, "}),
        chunk({"reasoning_content": "the user"}), chunk({"content": ""}, "length", usage=spent)])),
        content_type="text/event-stream", label="reasoning stream"), lambda req: bool(req.json.get("stream")))
    fault_server.add_rule(Fault.error(200, completion(None, "length", message={"reasoning_content": "Okay"},
                                                      usage=spent), label="reasoning answer"),
                          lambda req: req.path.endswith("/chat/completions"))
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["chat:fault-chat"].status == "ok", results["chat:fault-chat"]
    assert results["streaming"].status == "ok", results["streaming"]
    assert [r for r in results.values() if r.status == "fail"] == []


# --- say what to set: the URL, the scheme, the models (issue 14, part 4) ---------------------------

def test_base_url_without_v1_is_named(fault_server):
    results = by_name(run_checks(Client.from_preset(preset(fault_server.target_uri))))
    fix = f"set 'base_url' to '{fault_server.url}'"
    assert results["api_path"].status == "fail"
    assert results["api_path"].setting == fix
    assert results["chat:fault-chat"].status == "fail"
    assert results["chat:fault-chat"].setting == fix  # not "fix the ID in 'models'"
    assert results["models_endpoint"].setting == fix


def test_base_url_with_v1_passes_the_path_check(fault_server):
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["api_path"].status == "ok"
    assert results["api_path"].setting == ""


def test_llama_server_without_v1_is_not_everything_works(llama_server):
    client = Client.from_preset({"base_url": llama_server.target_uri, "models": [llama_server.model],
                                 "auth_scheme": "none"})
    results = run_checks(client)
    found = by_name(results)
    assert found[f"chat:{llama_server.model}"].status == "ok"  # chat works without /v1 on llama.cpp...
    embed = found[f"embeddings:{llama_server.model}"]
    assert embed.status == "fail"  # ...embeddings answer llama.cpp's own format there
    assert "not an embedding model" not in embed.meaning
    assert embed.setting == f"set 'base_url' to '{llama_server.base_url}'"
    assert found["api_path"].setting == f"set 'base_url' to '{llama_server.base_url}'"
    assert found["api_path"].status in ("warn", "fail")
    assert "Everything this preset needs works" not in render_html(results, client.settings)


def test_embeddings_verdict_says_what_was_observed(fault_server):
    fault_server.add_rule(Fault.error(400, oai_error("This model does not support embeddings", param="model")),
                          lambda req: req.route == "embeddings")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    embed = results["embeddings:fault-chat"]
    assert embed.status == "skipped"
    assert "This model does not support embeddings" in embed.meaning
    assert "answers chat" in embed.meaning


def test_malformed_embeddings_are_a_failure_not_a_chat_model(fault_server):
    # llama.cpp's native /embeddings shape: a bare list, one nested list of vectors per input
    # (https://github.com/ggml-org/llama.cpp/tree/master/tools/server, "POST /embeddings")
    fault_server.add_rule(Fault.error(200, [{"index": 0, "embedding": [[0.1, 0.2], [0.3, 0.4]]}]),
                          lambda req: req.route == "embeddings")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    embed = results["embeddings:fault-chat"]
    assert embed.status == "fail"
    assert "not an embedding model" not in embed.meaning
    assert "not with embeddings in the OpenAI format" in embed.meaning


def test_an_embedding_model_is_confirmed_by_a_call_not_by_its_name(fault_server):
    # 'fault-embed' looks like an embedding model, but this service refuses embeddings: chat is tested
    fault_server.add_rule(Fault.error(400, oai_error("embeddings are not served here")),
                          lambda req: req.route == "embeddings")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url, models=["fault-embed"]))))
    assert results["chat:fault-embed"].status == "ok"
    assert "embeddings are not served here" in results["embeddings:fault-embed"].meaning


@pytest.mark.parametrize("server_scheme, setting", [
    ("api-key", "set 'auth_scheme' to 'api_key_header'"),
    ("header:x-api-key", "set 'auth_scheme' to 'custom_header' and 'auth_header_name' to 'x-api-key'"),
    ("header:Ocp-Apim-Subscription-Key",
     "set 'auth_scheme' to 'custom_header' and 'auth_header_name' to 'Ocp-Apim-Subscription-Key'"),
    ("query:key", "set 'auth_scheme' to 'query_param' and 'auth_query_param' to 'key'"),
])
def test_the_scheme_the_service_accepts_is_named(fault_server, server_scheme, setting):
    fault_server.require_auth(SECRET, scheme=server_scheme)
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    auth = results["authentication"]
    assert auth.status == "fail"
    assert auth.setting == setting
    assert "Bearer token" in auth.meaning  # what was sent, never the key
    assert_no_secret(results.values(), SECRET)


def test_bearer_is_found_when_the_preset_sends_api_key(fault_server):
    fault_server.require_auth(SECRET)
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url, auth_scheme="api_key_header"))))
    assert results["authentication"].setting == "set 'auth_scheme' to 'bearer'"
    assert_no_secret(results.values(), SECRET)


def test_a_wrong_key_under_every_scheme_names_the_key(fault_server):
    fault_server.require_auth("sk-the-right-one", scheme="any")
    results = by_name(run_checks(Client.from_preset(preset(fault_server.url))))
    assert results["authentication"].status == "fail"
    assert "'api_key'" in results["authentication"].setting


def test_a_tested_model_the_preset_does_not_offer_is_a_warning(fault_server):
    client = Client.from_preset(preset(fault_server.url, models=["fault-chat"]))
    results = by_name(run_checks(client, models=["fault-embed"]))
    found = results["in_preset:fault-embed"]
    assert found.status == "warn"
    assert "'fault-embed'" in found.meaning and "'models'" in found.meaning
    assert found.setting.startswith("add 'fault-embed' to 'models'")
    assert "discover_models" in found.setting  # the service lists it
    offered = by_name(run_checks(client, models=["fault-chat"]))
    assert not [name for name in offered if name.startswith("in_preset")]


def test_a_tested_model_that_is_no_endpoint_names_endpoints(fault_server):
    client = Client.from_preset({"style": "azure", "target_uri": fault_server.target_uri, "auth_scheme": "none",
                                 "endpoints": [{"name": "fault-chat", "kind": "azure_deployment"}]})
    found = by_name(run_checks(client, models=["gpt-other"]))["in_preset:gpt-other"]
    assert found.status == "warn"
    assert "'endpoints'" in found.meaning
    assert found.setting == "add an endpoint named 'gpt-other' to 'endpoints'"
