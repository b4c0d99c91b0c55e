"""OAuth2 client credentials end to end: a real authorization server (npm oidc-provider) issues short-lived JWT
access tokens, and the fault server, as the resource server, checks each one against the server's JWKS."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
from openai_compatible import Client, oauth2, run_checks
from openai_compatible.errors import APIConnectionError, AuthenticationError
from openai_compatible.notebook import connect
from openai_compatible.oauth2 import TokenEndpointError, TokenProvider, renew_margin, reset_shared_providers
from openai_compatible.settings import ConnectionSettings

import localdss
from tests.python.integration.localdss_cli import read_rows, write_rows
from tests.python.integration.test_llm_components import CHAT, ask, run_llm
from tests.python.integration.test_macro import rows, run_macro
from tests.servers.fault_server import Fault, FaultServer, oai_error
from tests.servers.jwt_check import JWTChecker, require_jwt
from tools.oidc_server import (
    FORBIDDEN_SCOPE,
    RESOURCE,
    OIDCClient,
    OIDCServer,
    start_oidc_server,
    stop_oidc_server,
)
from tools.servers import ServerStartError, free_port

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def oidc(server_log_dir: str) -> Iterator[OIDCServer]:
    try:
        server = start_oidc_server(ttl=4, log_dir=str(Path(server_log_dir) / "oidc"))
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_oidc_server(server)


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    """Each test starts without a cached token (providers are shared process-wide on purpose)."""
    reset_shared_providers()
    yield
    reset_shared_providers()


@pytest.fixture
def gateway(fault_server: FaultServer, oidc: OIDCServer) -> tuple[FaultServer, JWTChecker]:
    """The fault server as a resource server: 401 invalid_token unless a valid JWT from ``oidc`` is sent."""
    checker = JWTChecker(oidc.jwks_url, issuer=oidc.issuer, audience=RESOURCE)
    require_jwt(fault_server, checker)
    return fault_server, checker


def preset(server: FaultServer, oidc: OIDCServer, client_id: str = "gateway-long", **changes) -> dict:
    return {"base_url": server.url, "models": ["m"], "max_retries": 0, **oidc.preset_fields(client_id, **changes)}


def token_requests(oidc: OIDCServer) -> int:
    return oidc.stats()["token_requests"]


@pytest.mark.parametrize("client_id", ["gateway-basic", "gateway-body", "gateway-symbols"])
def test_each_client_authentication_gets_a_token_the_resource_server_accepts(gateway, oidc, client_id):
    server, checker = gateway
    with Client.from_preset(preset(server, oidc, client_id)) as client:
        assert client.chat(HELLO, model="m").text == "echo: hello"
    assert (checker.accepted, checker.rejected) == (1, 0)


def test_one_token_is_fetched_for_every_thread(gateway, oidc):
    server, checker = gateway
    before = token_requests(oidc)
    barrier = threading.Barrier(8)
    answers: list = []

    def work(client: Client) -> None:
        barrier.wait()
        for index in range(3):
            answers.append(client.chat([{"role": "user", "content": f"t{index}"}], model="m").text)

    with Client.from_preset(preset(server, oidc)) as client, Client.from_preset(preset(server, oidc)) as other:
        threads = [threading.Thread(target=work, args=(client if n % 2 else other,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(answers) == 24
    assert token_requests(oidc) - before == 1  # two clients, eight threads, one token
    assert (checker.accepted, checker.rejected, len(checker.tokens_seen)) == (24, 0, 1)


def test_a_token_is_renewed_before_it_expires(oidc):
    """On the provider's clock: the same token until the renewal point, a new one from then on."""
    now = [1000.0]
    settings = ConnectionSettings.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"],
                                               **oidc.preset_fields("gateway-long")})
    provider = TokenProvider(settings.oauth2, clock=lambda: now[0])
    first = provider.token()
    lifetime = 600.0  # gateway-long
    now[0] += lifetime - renew_margin(lifetime) - 1
    assert provider.token() == first and provider.fetches == 1
    now[0] += 1
    second = provider.token()
    assert second != first and provider.fetches == 2
    assert now[0] - 1000.0 < lifetime  # the first token had time left when it was replaced


@pytest.mark.parametrize("mode", ["503", "reset", "invalid_client"])
def test_a_failed_renewal_keeps_the_valid_token_until_it_expires(oidc, mode):
    """On the provider's clock: the identity provider failing (or refusing the client) at renewal time does not
    stop calls while the current token is valid; renewal is tried again later, not on every call."""
    now = [1000.0]
    settings = ConnectionSettings.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"],
                                               **oidc.preset_fields("gateway-long")})
    provider = TokenProvider(settings.oauth2, clock=lambda: now[0])
    first = provider.token()
    lifetime = 600.0  # gateway-long
    now[0] += lifetime - renew_margin(lifetime)  # the renewal point
    oidc.fail_token_requests(after=token_requests(oidc), count=2, mode=mode)
    assert provider.token() == first and provider.fetches == 2  # renewal failed: the valid token is kept
    assert provider.token() == first and provider.fetches == 2  # and not asked again on the next call
    now[0] += renew_margin(lifetime) / 4  # a quarter of the time the token had left
    assert provider.token() == first and provider.fetches == 3  # tried again later: fails again
    now[0] += renew_margin(lifetime)  # past the token's expiry
    second = provider.token()  # the endpoint answers again
    assert second != first and provider.fetches == 4


def test_a_failed_renewal_past_expiry_raises(oidc):
    now = [1000.0]
    settings = ConnectionSettings.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"],
                                               **oidc.preset_fields("gateway-long")})
    provider = TokenProvider(settings.oauth2, clock=lambda: now[0])
    provider.token()
    now[0] += 600.0  # expired
    oidc.fail_token_requests(after=token_requests(oidc), count=1, mode="invalid_client")
    with pytest.raises(TokenEndpointError, match="'oauth2_client_secret'"):
        provider.token()


def test_short_lived_tokens_are_renewed_during_a_run(gateway, oidc):
    """4-second tokens over a run that lasts until the server has issued three: every call is answered."""
    server, checker = gateway
    before = oidc.stats()["tokens_issued"]
    answered = 0
    deadline = time.monotonic() + 60  # a bound, not an expectation
    with Client.from_preset(preset(server, oidc, "gateway-basic")) as client:
        while oidc.stats()["tokens_issued"] - before < 3 and time.monotonic() < deadline:
            assert client.chat(HELLO, model="m").text == "echo: hello"
            answered += 1
            time.sleep(0.1)
    assert oidc.stats()["tokens_issued"] - before >= 3
    assert len(checker.tokens_seen) >= 3 and checker.accepted >= answered


def test_a_401_renews_the_token_once_and_resends(gateway, oidc):
    server, checker = gateway
    with Client.from_preset(preset(server, oidc)) as client:
        client.chat(HELLO, model="m")
        before, calls = token_requests(oidc), server.calls
        server.script(Fault.error(401))  # the gateway revoked the token
        assert client.chat(HELLO, model="m").text == "echo: hello"
        assert token_requests(oidc) - before == 1
        assert server.calls - calls == 2
        sent = [r.header("authorization") for r in server.requests[-2:]]
        assert sent[0] != sent[1]


def test_a_401_with_a_fresh_token_is_not_retried_forever(gateway, oidc):
    server, _ = gateway
    with Client.from_preset(preset(server, oidc)) as client:
        client.chat(HELLO, model="m")
        before, calls = token_requests(oidc), server.calls
        server.always(Fault.error(401))
        with pytest.raises(AuthenticationError):
            client.chat(HELLO, model="m")
        assert token_requests(oidc) - before == 1 and server.calls - calls == 2


def test_threads_refused_with_the_same_token_renew_it_once(gateway, oidc):
    server, _ = gateway
    with Client.from_preset(preset(server, oidc)) as client:
        client.chat(HELLO, model="m")
        revoked = server.requests[-1].header("authorization")
        server.add_rule(Fault.error(401), lambda req: req.header("authorization") == revoked)
        before = token_requests(oidc)
        barrier = threading.Barrier(6)
        answers: list = []

        def work() -> None:
            barrier.wait()
            answers.append(client.chat(HELLO, model="m").text)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == ["echo: hello"] * 6
    assert token_requests(oidc) - before == 1


@pytest.mark.parametrize(("changes", "named", "code"), [
    ({"oauth2_client_secret": "not-the-secret-5e2b"}, "'oauth2_client_secret'", "invalid_client"),
    ({"oauth2_client_id": "gateway-unknown"}, "'oauth2_client_id'", "invalid_client"),
    ({"oauth2_scope": FORBIDDEN_SCOPE}, "'oauth2_scope'", "invalid_scope"),
    ({"oauth2_audience": "https://another-api.test/"}, "'oauth2_audience'", "invalid_target"),
])
def test_a_refusal_names_the_preset_field(gateway, oidc, changes, named, code):
    server, _ = gateway
    with Client.from_preset(preset(server, oidc, **changes)) as client:
        with pytest.raises(TokenEndpointError) as info:
            client.chat(HELLO, model="m")
    assert named in str(info.value) and info.value.oauth2_error == code
    assert server.calls == 0  # no token, no call to the service
    assert oidc.clients["gateway-long"].client_secret not in str(info.value)


def test_a_wrong_token_url_is_named(gateway, oidc):
    server, _ = gateway
    with Client.from_preset(preset(server, oidc, oauth2_token_url=oidc.issuer + "/not-the-token-endpoint")) as client:
        with pytest.raises(TokenEndpointError, match="'oauth2_token_url' is not a token endpoint"):
            client.chat(HELLO, model="m")


def test_tokens_and_secrets_never_reach_logs_or_errors(gateway, oidc, caplog):
    server, _ = gateway
    caplog.set_level(logging.DEBUG)
    secret = oidc.clients["gateway-long"].client_secret
    with Client.from_preset(preset(server, oidc)) as client:
        client.chat(HELLO, model="m")
        token = server.requests[-1].header("authorization")[len("Bearer "):]
        # a gateway that quotes the refused token back in its error, and logs that print whole requests
        server.always(Fault.error(401, oai_error(f"Token {token} was revoked", code="invalid_token")))
        with pytest.raises(AuthenticationError) as info:
            client.chat(HELLO, model="m")
        logging.getLogger("urllib3").debug("sent Authorization: Bearer %s with secret %s", token, secret)
        text = caplog.text + str(info.value) + repr(info.value) + repr(client) + repr(client.settings)
    assert "was revoked" in str(info.value)
    assert token not in text and secret not in text
    with Client.from_preset(preset(server, oidc, oauth2_client_secret=secret + "-wrong")) as client:
        with pytest.raises(TokenEndpointError) as refused:
            client.chat(HELLO, model="m")
    assert secret not in str(refused.value) + caplog.text


def test_the_official_sdk_gets_fresh_tokens(gateway, oidc):
    pytest.importorskip("openai")
    server, checker = gateway
    with Client.from_preset(preset(server, oidc)) as client:
        sdk = client.openai()
        answer = sdk.chat.completions.create(model="m", messages=HELLO)
        assert answer.choices[0].message.content == "echo: hello"
        before = token_requests(oidc)
        server.script(Fault.error(401))
        again = sdk.chat.completions.create(model="m", messages=HELLO)
        assert again.choices[0].message.content == "echo: hello"
        assert token_requests(oidc) - before == 1
    assert (checker.accepted, checker.rejected, server.calls) == (3, 0, 3)  # the refused call had a valid token


def test_the_connection_test_checks_the_token_endpoint(gateway, oidc):
    server, _ = gateway
    with Client.from_preset(preset(server, oidc)) as client:
        results = {r.name: r for r in run_checks(client)}
    assert results["token_endpoint"].status == "ok"
    assert "gateway-long" in results["token_endpoint"].meaning and RESOURCE in results["token_endpoint"].meaning
    assert results["authentication"].status == "ok" and results["chat:m"].status == "ok"
    seen = len(server.requests)
    with Client.from_preset(preset(server, oidc, oauth2_client_secret="wrong-secret-0000")) as client:
        results = {r.name: r for r in run_checks(client)}
    assert results["token_endpoint"].status == "fail"
    assert "oauth2_client_secret" in results["token_endpoint"].meaning
    assert results["authentication"].status == "fail" and "No token" in results["authentication"].meaning
    assert results["chat:m"].status == "fail" and "oauth2_client_id" in results["chat:m"].setting
    assert [r.route for r in server.requests[seen:] if r.route] == []  # no API call without a token


def test_the_connection_test_without_oauth2_has_no_token_step(fault_server):
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "api_key": "sk-x"}) as client:
        assert "token_endpoint" not in {r.name for r in run_checks(client)}


def test_a_recipe_runs_with_an_oauth2_preset(tmp_path, gateway, oidc):
    """The prompt recipe through localdss, as DSS runs it: every row answered with checked tokens."""
    server, checker = gateway
    rows = [{"text": f"row {n}"} for n in range(40)]
    source = write_rows(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    before = token_requests(oidc)
    done = localdss.run_recipe("openai-compatible-prompt", config={"model": "m", "prompt_template": "{{text}}"},
                               presets={"connection": dict(preset(server, oidc), max_concurrency=8)},
                               inputs={"input": str(source)}, outputs={"output": str(out)}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = read_rows(out)
    assert [r["llm_response"] for r in result] == [f"echo: row {n}" for n in range(40)]
    assert all(not r["llm_error_message"] for r in result)
    assert token_requests(oidc) - before == 1  # one token for the whole job
    assert checker.accepted == 40 and checker.rejected == 0
    secret = oidc.clients["gateway-long"].client_secret
    assert secret not in done.stdout + done.stderr
    assert not any(token in done.stdout + done.stderr for token in checker.tokens_seen)


def test_the_mesh_chat_component_uses_the_token(tmp_path, gateway, oidc):
    """The LLM Mesh component (python-llms), run by localdss as DSS runs it."""
    server, checker = gateway
    run, lines = run_llm(tmp_path, CHAT, preset(server, oidc), "m", ask("from the mesh"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert lines[-1]["text"] == "echo: from the mesh"
    assert checker.accepted == 1 and checker.rejected == 0
    assert oidc.clients["gateway-long"].client_secret not in run.stdout + run.stderr


def test_the_notebook_api_uses_the_token(gateway, oidc):
    server, checker = gateway
    with connect(preset(server, oidc)) as client:
        out = client.apply(pd.DataFrame({"text": ["a", "b", "c"]}), "{{text}}", "m")
    assert list(out["llm_response"]) == ["echo: a", "echo: b", "echo: c"]
    assert checker.accepted == 3


def test_entra_id_sends_the_tenant_url_the_azure_scope_and_the_secret_in_the_body(server_log_dir, fault_server,
                                                                                monkeypatch):
    """Microsoft Entra ID's token endpoint shape, served by oidc-provider at Entra's path on this machine."""
    tenant = "0f6a5c1e-3b7d-4e2a-9c8b-1d2e3f4a5b6c"
    app = OIDCClient("entra-app", "entra-secret~with.chars_9Q", "body", scopes=(oauth2.ENTRA_SCOPE,))
    entra = start_oidc_server(clients=[app], scopes=[oauth2.ENTRA_SCOPE], token_path=f"/{tenant}/oauth2/v2.0/token",
                              log_dir=str(Path(server_log_dir) / "entra"))
    try:
        monkeypatch.setattr(oauth2, "ENTRA_TOKEN_URL", entra.issuer + "/{tenant}/oauth2/v2.0/token")
        checker = JWTChecker(entra.jwks_url, issuer=entra.issuer, audience=RESOURCE)
        require_jwt(fault_server, checker)
        settings = {"style": "azure", "target_uri": fault_server.target_uri, "endpoints": [{"name": "gpt-4o"}],
                    "auth_scheme": "entra_id", "entra_tenant_id": tenant, "oauth2_client_id": app.client_id,
                    "oauth2_client_secret": app.client_secret, "max_retries": 0}
        with Client.from_preset(settings) as client:
            assert client.chat(HELLO, model="gpt-4o").text == "echo: hello"
        assert checker.accepted == 1 and entra.stats()["tokens_issued"] == 1
        wrong = dict(settings, oauth2_client_secret="entra-wrong-secret")
        with Client.from_preset(wrong) as client, pytest.raises(TokenEndpointError) as info:
            client.chat(HELLO, model="gpt-4o")
        assert "'oauth2_client_secret'" in str(info.value)
        assert "oauth2_client_auth" not in str(info.value)  # not a field of the entra_id scheme
    finally:
        stop_oidc_server(entra)


def test_the_macro_reports_the_token_endpoint_step(tmp_path, gateway, oidc):
    """The test-connection macro run by localdss, as DSS runs it: its report has the token endpoint row."""
    server, _ = gateway
    secret = oidc.clients["gateway-long"].client_secret
    page, run = run_macro(tmp_path, preset(server, oidc))
    found = rows(page)
    assert found["token_endpoint"]["status"] == "ok" and found["authentication"]["status"] == "ok"
    assert secret not in page + run.stdout + run.stderr
    page, run = run_macro(tmp_path, preset(server, oidc, oauth2_scope=FORBIDDEN_SCOPE))
    found = rows(page)
    assert found["token_endpoint"]["status"] == "fail" and "oauth2_scope" in found["token_endpoint"]["setting"]
    assert secret not in page + run.stdout + run.stderr


def test_an_unreachable_token_endpoint_is_retried_then_named(fault_server, oidc):
    url = f"http://127.0.0.1:{free_port()}/token"  # nothing listens there
    settings = dict(preset(fault_server, oidc, oauth2_token_url=url), max_retries=2)
    with Client.from_preset(settings) as client:
        with pytest.raises(APIConnectionError, match="'oauth2_token_url'"):
            client.chat(HELLO, model="m")
        assert client.stats.snapshot()["retries"] == 2
    assert fault_server.calls == 0


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_a_failing_token_endpoint_leaves_no_replica_out(oidc, mode):
    """The identity provider failing is not a replica failing: with replicas, every one stays in."""
    with FaultServer() as first, FaultServer() as second:
        for server in (first, second):
            require_jwt(server, JWTChecker(oidc.jwks_url, issuer=oidc.issuer, audience=RESOURCE))
        settings = dict(preset(first, oidc), replica_urls=[second.url], max_retries=2)
        oidc.fail_token_requests(after=token_requests(oidc), count=1, mode=mode)
        with Client.from_preset(settings) as client:
            result = client.chat(HELLO, model="m")
            status = dict(client.replicas.status())
    assert result.text == "echo: hello" and result.attempts == 2  # the token request was retried
    assert status == {first.url: "up", second.url: "up"}
