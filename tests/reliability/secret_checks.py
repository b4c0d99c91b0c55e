"""Secrets: the recipes run with the canary key under every authentication scheme (the query-parameter one puts it in
every URL), against a provider that fails in every way and, worse, echoes the key back in its error bodies and pages.
The key must appear in no job log (also at DEBUG level, where urllib3 prints URLs), output dataset, schema file,
answer cache, exception or traceback. The report itself is scanned last (see run.py).

With OAuth2 client credentials the canary is the client's secret, sent to a real authorization server (npm
oidc-provider, ``tools/oidc_server.py``) in an HTTP Basic header, and the secrets looked for are also every access
token that server issued during the run (it lists them) and the secret's Basic form; the provider checks each token
(``tests/servers/jwt_check.py``) and quotes the bearer token it got back in its errors.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import quote

from tests.reliability import harness as h
from tests.servers.fault_server import Fault, FaultServer, RecordedRequest, oai_error, when_text
from tests.servers.jwt_check import JWTChecker, require_jwt
from tools.oidc_server import RESOURCE, OIDCClient, OIDCServer, start_oidc_server, stop_oidc_server

ECHO_400 = Fault.error(400, oai_error(f"Invalid request to /v1/chat/completions?key={quote(h.CANARY, safe='')}: "
                                      f"key '{h.CANARY}' is not allowed for this model."), label="echo-400")
ECHO_HTML = Fault.error(502, f"<html><head><title>502 Bad Gateway</title></head><body>upstream refused "
                             f"Authorization: Bearer {h.CANARY} (GET /v1?key={h.CANARY})</body></html>",
                        content_type="text/html", label="echo-html")
ECHO_200 = Fault.error(200, oai_error(f"Internal error, credentials {h.CANARY}", "server_error"), label="echo-200")
# row texts: an answer, then every failure path (markers are read by the fault server)
TEXTS = ["plain answer", "FAIL:500", "FAIL:401", "FAIL:502-html", "FAIL:reset", "FAIL:malformed", "FAIL:empty-200",
         "FAIL:stream-cut", "ECHO-400 row", "ECHO-HTML row", "ECHO-200 row", ""]
# with OAuth2, the provider also quotes the bearer token each of these rows carried (FAIL:401 renews the token)
TOKEN_TEXTS = ["ECHO-TOKEN-400 row", "ECHO-TOKEN-HTML row"]
OAUTH2_CLIENT_ID = "dss-secrets-audit"


@dataclass
class Scenario:
    name: str
    recipe: str = "prompt"
    scheme: str = "bearer"
    azure: bool = False  # an Azure-style preset whose endpoint has its own key
    extra_header: bool = False  # the key also sent in an extra header
    on_error: str = "record"
    debug: bool = False  # in-process, with every logger at DEBUG
    mode: str = "inproc"
    oauth2: bool = False  # oauth2_client_credentials with the canary as client secret (scheme is then unused)


SCENARIOS = [
    *(Scenario(f"prompt, {scheme}", scheme=scheme) for scheme in h.AUTH_SCHEMES),
    Scenario("prompt, query_param, DEBUG logs", scheme="query_param", debug=True),
    Scenario("prompt, Azure endpoint key + extra header", azure=True, extra_header=True),
    Scenario("prompt, query_param, fail mode (exception)", scheme="query_param", on_error="fail"),
    Scenario("embed, query_param", recipe="embed", scheme="query_param"),
    Scenario("prompt, query_param, real process", scheme="query_param", mode="process"),
    Scenario("embed, api_key_header, fail mode, real process", recipe="embed", scheme="api_key_header",
             on_error="fail", mode="process"),
    Scenario("prompt, OAuth2 client credentials, DEBUG logs", oauth2=True, debug=True),
    Scenario("prompt, OAuth2 client credentials, real process", oauth2=True, mode="process"),
    Scenario("prompt, OAuth2 client credentials, fail mode, real process", oauth2=True, on_error="fail",
             mode="process"),
]


def _echo_rules(server: FaultServer) -> None:
    server.add_rule(ECHO_400, when_text("ECHO-400"))
    server.add_rule(ECHO_HTML, when_text("ECHO-HTML"))
    server.add_rule(ECHO_200, when_text("ECHO-200"))


def _echo_token_rules(server: FaultServer) -> None:
    """A gateway quoting the bearer token it got in its error: in a JSON 400, and in an HTML 502 page."""
    def echo_400(token: str) -> Fault:
        return Fault.error(400, oai_error(f"Token {token} is not allowed to call this model."),
                           label="echo-token-400")

    def echo_html(token: str) -> Fault:
        return Fault.error(502, f"<html><body>upstream refused Authorization: Bearer {token}</body></html>",
                           content_type="text/html", label="echo-token-html")

    for marker, make in (("ECHO-TOKEN-400", echo_400), ("ECHO-TOKEN-HTML", echo_html)):
        rules: list = []

        def quotes(req: RecordedRequest, marker: str = marker, make: Any = make, rules: list = rules) -> bool:
            if marker not in req.text:
                return False
            rules[0].fault = make((req.header("authorization") or "")[len("Bearer "):])  # what this request sent
            return True

        rules.append(server.add_rule(make(""), quotes))


@contextlib.contextmanager
def _authorization_server(scenario: Scenario, work: Path) -> Iterator[Optional[OIDCServer]]:
    """For an OAuth2 scenario, a real authorization server whose client's secret is the canary; tokens live long
    enough for the run (the FAIL:401 row renews one anyway)."""
    if not scenario.oauth2:
        yield None
        return
    client = OIDCClient(OAUTH2_CLIENT_ID, h.CANARY, "basic", ttl=300)
    oidc = start_oidc_server(clients=[client], log_dir=str(work / "oidc"))
    try:
        yield oidc
    finally:
        stop_oidc_server(oidc)


def _preset(scenario: Scenario, server: FaultServer, oidc: Optional[OIDCServer] = None) -> dict:
    if oidc is not None:
        require_jwt(server, JWTChecker(oidc.jwks_url, issuer=oidc.issuer, audience=RESOURCE))
        return {"style": "openai", "base_url": server.url, "models": [h.CHAT_MODEL, h.EMBED_MODEL],
                **oidc.preset_fields(OAUTH2_CLIENT_ID), "max_retries": 1}
    if scenario.azure:
        server.require_auth(h.CANARY, "api-key")
        preset: dict[str, Any] = {"style": "azure", "target_uri": server.target_uri, "auth_scheme": "api_key_header",
                                  "api_key": "sk-default-key-not-used-here",
                                  "endpoints": [{"name": h.CHAT_MODEL, "kind": "azure_deployment",
                                                 "deployment": "chat-deployment", "api_key": h.CANARY},
                                                {"name": h.EMBED_MODEL, "kind": "openai_v1", "api_key": h.CANARY,
                                                 "deployment": h.EMBED_MODEL}]}
    else:
        preset = h.preset_for(server, scenario.scheme)
    preset["max_retries"] = 1
    if scenario.extra_header:
        preset["extra_headers"] = [{"from": "X-Api-Token", "to": h.CANARY}]
    return preset


def run_scenario(scenario: Scenario, work: Path) -> dict:
    """Runs one scenario and scans what it left: returns the texts and files scanned and any leak."""
    import logging

    work.mkdir(parents=True, exist_ok=True)
    texts = TEXTS + (TOKEN_TEXTS if scenario.oauth2 else [])
    rows = [{"id": str(i), "text": text} for i, text in enumerate(texts)]
    if scenario.on_error == "fail":  # the job fails on the echo
        echo = "ECHO-TOKEN-400" if scenario.oauth2 else "ECHO-400"
        rows = rows[:1] + [r for r in rows if r["text"].startswith(echo)]
    source = h.write_csv(work / "in.csv", rows)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    secrets = h.SecretSet()
    audit = h.SecretAudit(secrets)
    with _authorization_server(scenario, work) as oidc, FaultServer() as server:
        preset = _preset(scenario, server, oidc)
        _echo_rules(server)
        if oidc is not None:
            _echo_token_rules(server)
        config = h.recipe_config(scenario.recipe, on_error=scenario.on_error,
                                 **({"batch_size": 1} if scenario.recipe == "embed" else {}))
        levels: dict[str, int] = {}
        if scenario.debug:
            for name in ("", "urllib3", "urllib3.connectionpool", "requests", "openai_compatible", "oauthlib"):
                levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            result = h.run_recipe(scenario.recipe, work, config, preset, source, cache=cache, mode=scenario.mode)
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        tokens = oidc.issued_tokens() if oidc is not None else []
        token_requests = oidc.stats()["token_requests"] if oidc is not None else 0
        used_key = sum(1 for req in server.requests if _carries_key(req, tokens))
    if oidc is not None:  # the secret as a token request's Basic header carries it, and every token issued
        secrets.add(h.basic_credentials(OAUTH2_CLIENT_ID, h.CANARY), "client secret (HTTP Basic form)")
        for number, token in enumerate(tokens, 1):
            secrets.add(token, f"access token {number}", stride=4)
            h.RUN_SECRETS.add(token, "an OAuth2 access token", stride=4)
    audit.text("job log", result.log)
    audit.text("job error", result.error)
    for path in (result.output, result.output.with_name(result.output.stem + ".schema.json"), *cache.iterdir()):
        audit.file(path)
    output = h.read_csv(result.output)
    return {"scenario": scenario.name, "mode": scenario.mode, "returncode": result.returncode,
            "requests": len(server.requests), "requests_carrying_key": used_key,
            "oauth2": scenario.oauth2, "tokens_issued": len(tokens), "token_requests": token_requests,
            "error_rows": sum(1 for r in output if r.get("llm_error_type")), "job_error": result.error[:200],
            "rows_in": len(rows), "rows_out": len(output),
            "plain_answered": any(r.get("text") == "plain answer" and not r.get("llm_error_type") for r in output),
            "debug_lines": result.log.count(" DEBUG "), **audit.as_dict()}


def _carries_key(request: Any, tokens: list[str]) -> bool:
    """The request carries the canary key, or (OAuth2) a token the authorization server issued for its secret."""
    if request.header("authorization") in {f"Bearer {token}" for token in tokens}:
        return True
    return h.CANARY in (request.query.values()) or any(h.CANARY in str(v) for v in request.headers.values())


def problems(result: dict, scenario: Optional[Scenario] = None) -> list[str]:
    out = [f"leak in {leak}" for leak in result["leaks"]]
    if not result["requests_carrying_key"]:
        out.append("no request carried the key: the scenario proves nothing")
    if scenario is not None and scenario.on_error == "fail" and result["returncode"] != 1:
        out.append("fail mode should fail the job (the exception path)")
    if scenario is not None and scenario.on_error != "fail":
        # a run the provider refused (401 on every request) sends the key too, yet proves nothing about answers
        if result.get("rows_out") != result.get("rows_in"):
            out.append(f"{result.get('rows_out')} output rows for {result.get('rows_in')} input rows")
        if not result.get("plain_answered"):
            out.append("the plain row was not answered: the run was refused, so it proves nothing")
    if scenario is not None and scenario.debug and not result["debug_lines"]:
        out.append("no DEBUG line was logged")
    if scenario is not None and scenario.oauth2 and scenario.on_error != "fail" and result["tokens_issued"] < 2:
        out.append("the 401 row did not renew the token: only one token was audited")
    return out


HEADER = ["scenario", "run", "requests with key", "error rows", "texts", "files", "bytes", "leaks"]


def as_row(result: dict) -> list:
    return [result["scenario"], result["mode"], result["requests_carrying_key"], result["error_rows"],
            result["texts"], result["files"], result["bytes"], len(result["leaks"])]
