"""OAuth2 cells of the faults matrix: a preset with ``oauth2_client_credentials`` against a real authorization server
(npm oidc-provider, ``tools/oidc_server.py``, the launcher of the OAuth2 tests), whose tokens live 4 s, and the
fault server as the resource server, checking each token's signature and expiry (``tests/servers/jwt_check.py``).

Renewal during the run is not left to chance: the fault server answers each request after a latency chosen so that
the run cannot take less than ``MIN_RUN_S`` (the requests divided by the preset's fixed concurrency), longer than
one token's lifetime, whatever the machine's speed; a slower machine only sees more renewals. Every fault is keyed
on request numbers: the token endpoint fails its requests numbered N+1 to N+M, the gateway revokes the token of
its K-th request.

The canary key is the OAuth2 client's secret, so the report-wide audit looks for it in every text; each cell also
looks for every access token the server issued (and for the secret in the HTTP Basic form a token request sends)
in the job log, the error, the output dataset, its schema file and the answer cache.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.reliability import harness as h
from tests.servers.fault_server import FaultServer
from tests.servers.jwt_check import JWTChecker, Revocation, require_jwt, revoke_token_at
from tools.oidc_server import RESOURCE, OIDCClient, start_oidc_server, stop_oidc_server

TTL_S = 4  # the access tokens' lifetime: renewed every 2 s (oauth2.renew_margin)
MIN_RUN_S = 6.0  # the fault server's latency makes every run last at least this: 3 tokens' worth
CONCURRENCY = 4
FAILED_TOKEN_REQUESTS = 5  # token requests that fail in the endpoint-down cells; the preset allows as many retries
CLIENT_ID = "dss-reliability"
STOP_AFTER = 10  # the engine stops a job whose first 10 requests all failed with provider-wide errors (engine.py)

# scenario -> label in the report (at most 34 characters: the width of the printed table's column)
SCENARIOS: dict[str, str] = {
    "renewal": f"OAuth2: {TTL_S} s tokens renewed",
    "endpoint-down": f"OAuth2: token endpoint reset x{FAILED_TOKEN_REQUESTS}",
    "endpoint-503": f"OAuth2: renewal gets 503 x{FAILED_TOKEN_REQUESTS}",
    "revoked": "OAuth2: revoked token, API 401",
    "secret-refused": "OAuth2: secret refused at start",
    "secret-rotated": "OAuth2: secret refused at renewal",
}
MUST_ANSWER_ALL = ("renewal", "endpoint-down", "endpoint-503", "revoked")


@dataclass
class OAuth2Run:
    """One OAuth2 cell's run and what the servers saw."""

    result: h.RunResult
    rows: list[dict]
    output: list[dict]
    calls: int
    injected: dict
    figures: dict = field(default_factory=dict)  # the OAuth2 figures of the report


def _registered_secret(scenario: str) -> str:
    # the preset always sends the canary; in "secret-refused" the authorization server knows another secret
    return h.CANARY if scenario != "secret-refused" else "not-the-canary-secret-3c9e1f"


def run(recipe: str, scenario: str, row_count: int, work: Path, index: int = 0, *, mode: str = "process",
        timeout: float = 600) -> OAuth2Run:
    """Runs the OAuth2 ``scenario`` (a key of :data:`SCENARIOS`) through ``recipe`` on ``row_count`` rows."""
    work.mkdir(parents=True, exist_ok=True)
    rows = h.numbered_rows(row_count, tag=f"{recipe} oauth2 {index}")
    source = h.write_csv(work / "in.csv", rows)
    batch = 1 if recipe == "prompt" else 4
    requests = math.ceil(row_count / batch)
    config = h.recipe_config(recipe, **({"batch_size": batch} if recipe == "embed" else {}))
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    client = OIDCClient(CLIENT_ID, _registered_secret(scenario), "basic", ttl=TTL_S)
    oidc = start_oidc_server(ttl=TTL_S, clients=[client], log_dir=str(work / "oidc"))
    server: Optional[FaultServer] = None
    try:
        server = FaultServer(latency_ms=math.ceil(MIN_RUN_S * 1000 * CONCURRENCY / requests),
                             record=scenario == "revoked").start()
        checker = JWTChecker(oidc.jwks_url, issuer=oidc.issuer, audience=RESOURCE)
        require_jwt(server, checker)
        revocation: Optional[Revocation] = None
        if scenario == "endpoint-down":
            oidc.fail_token_requests(after=0, count=FAILED_TOKEN_REQUESTS, mode="reset")
        elif scenario == "endpoint-503":
            oidc.fail_token_requests(after=1, count=FAILED_TOKEN_REQUESTS, mode="503")
        elif scenario == "secret-rotated":
            oidc.fail_token_requests(after=1, count=10 ** 9, mode="invalid_client")
        elif scenario == "revoked":
            revocation = revoke_token_at(server, at=max(2, requests // 3))
        preset = {"style": "openai", "base_url": server.url, "models": [h.CHAT_MODEL, h.EMBED_MODEL],
                  **oidc.preset_fields(CLIENT_ID, oauth2_client_secret=h.CANARY),
                  "max_concurrency": CONCURRENCY, "max_retries": FAILED_TOKEN_REQUESTS, "read_timeout_s": 30}
        result = h.run_recipe(recipe, work, config, preset, source, cache=cache, mode=mode, timeout=timeout)
        stats, tokens = oidc.stats(), oidc.issued_tokens()
    finally:
        if server is not None:
            server.stop()
        stop_oidc_server(oidc)
    output = h.read_csv(result.output)
    figures = {
        "scenario": scenario, "token_requests": stats["token_requests"], "tokens_issued": len(tokens),
        "token_failures_injected": stats["failures_injected"], "api_calls": server.calls,
        "tokens_accepted": checker.accepted, "tokens_refused": dict(checker.reasons),
        "revoked_refused": revocation.refused if revocation else None,
        "token_audit": audit(result, work, tokens),
    }
    if revocation is not None:
        figures["refused_rows_resent_once"] = _resent_once(server)
    injected = dict(server.injected)
    if stats["failures_injected"]:
        injected["token endpoint"] = stats["failures_injected"]
    return OAuth2Run(result, rows, output, server.calls, injected, figures)


def audit(result: h.RunResult, work: Path, tokens: list[str]) -> dict:
    """Looks for every issued token, and for the client secret in its HTTP Basic form, in the job log, the error
    and every file the run wrote (the inputs the harness wrote and the authorization server's own files aside)."""
    secrets = h.SecretSet()
    secrets.add(h.basic_credentials(CLIENT_ID, h.CANARY), "client secret (HTTP Basic form)")
    for number, token in enumerate(tokens, 1):
        secrets.add(token, f"access token {number}", stride=4)
        h.RUN_SECRETS.add(token, "an OAuth2 access token", stride=4)
    texts = {"job log": result.log, "job error": result.error}
    inputs = {"in.csv", "preset.json", "config.json"}
    files = [p for p in sorted(work.rglob("*")) if p.is_file() and p.name not in inputs
             and "oidc" not in p.relative_to(work).parts]
    leaks: list[str] = []
    scanned = 0
    found = [(f"the {where}", text) for where, text in texts.items()]
    found += [(str(p.relative_to(work)), p.read_bytes().decode("utf-8", errors="replace")) for p in files]
    for where, text in found:
        scanned += len(text)
        what = secrets.find(text) + (["client secret"] if h.leaks(text) else [])  # the canary is the secret
        leaks += [f"{leaked} in {where}" for leaked in what]
    return {"tokens": len(tokens), "texts": len(texts), "files": len(files), "bytes": scanned, "leaks": leaks}


def _resent_once(server: FaultServer) -> bool:
    """Every request the gateway refused for the revoked token was sent once more, with another token, and
    answered; no other row was sent twice (no retry either: the cell has no other fault)."""
    by_row: dict[str, list] = defaultdict(list)
    for req in server.requests:
        if req.route in ("chat", "embeddings"):
            by_row[req.text].append(req)
    for sent in by_row.values():
        faults = [r.fault for r in sent]
        if faults == ["ok"]:
            continue
        # a token that expired on its way (a stalled machine) is refused and renewed the same way
        if len(faults) != 2 or faults[0] not in ("revoked", "jwt") or faults[1] != "ok" \
                or sent[0].header("authorization") == sent[1].header("authorization"):
            return False
    return True


def problems(scenario: str, figures: dict, run_: OAuth2Run) -> list[str]:
    """What the code promises for ``scenario``, checked against the run's figures (``figures`` are those of the
    faults matrix: answered, errors, lost, job...; ``run_.figures`` the OAuth2 ones)."""
    f, o = figures, run_.figures
    out = [f"{leak}" for leak in o["token_audit"]["leaks"]]
    if not o["token_audit"]["tokens"] and scenario != "secret-refused":
        out.append("no token was issued: the audit proves nothing")
    if scenario in MUST_ANSWER_ALL:
        if f["job"] != "ok":
            out.append(f"the job failed: {f['job_error']}")
        if f["lost"]:
            out.append(f"{f['lost']} rows lost")
        if f["answered"] != f["rows_in"]:
            out.append(f"{f['rows_in'] - f['answered']} rows not answered ({f['errors_by_type']})")
    if scenario not in ("secret-refused", "secret-rotated") and o["tokens_issued"] < 2:
        out.append("no token was renewed during the run")
    if scenario == "endpoint-down" and o["token_failures_injected"] != FAILED_TOKEN_REQUESTS:
        out.append(f"the token endpoint dropped {o['token_failures_injected']} requests, not "
                   f"{FAILED_TOKEN_REQUESTS}")
    if scenario == "endpoint-503" and o["token_failures_injected"] != FAILED_TOKEN_REQUESTS:
        out.append(f"the token endpoint failed {o['token_failures_injected']} renewals, not {FAILED_TOKEN_REQUESTS}")
    if scenario == "revoked":
        if not o["revoked_refused"]:
            out.append("the gateway never refused the revoked token")
        if not o.get("refused_rows_resent_once"):
            out.append("a request refused for the revoked token was not resent exactly once with a new token")
    if scenario == "secret-refused":
        out += _stopped_naming_the_secret(f, o, run_.result.error)
    if scenario == "secret-rotated":
        out += _rows_name_the_secret(f, o, run_.output)
    return out


def _stopped_naming_the_secret(f: dict, o: dict, error: str) -> list[str]:
    """A secret refused from the start: no row can succeed, so the job stops after its first 10 requests
    (engine.py, PROVIDER_WIDE_ERRORS), naming the field; no API call goes out without a token."""
    out = []
    if f["job"] != "failed" or "Stopping the job" not in error:
        out.append("a refused client secret should stop the job")
    if "'oauth2_client_secret'" not in error:
        out.append("the job's error does not name 'oauth2_client_secret'")
    if o["api_calls"]:
        out.append(f"{o['api_calls']} API calls were sent without a token")
    if o["token_requests"] > STOP_AFTER + CONCURRENCY - 1:
        out.append(f"{o['token_requests']} token requests: the job should stop after {STOP_AFTER} failed requests "
                   f"(at most {CONCURRENCY - 1} more in flight)")
    return out


def _rows_name_the_secret(f: dict, o: dict, output: list[dict]) -> list[str]:
    """A secret refused once the job has been answered: every later row gets an error row naming the field, and
    the job goes on to the end (a provider that answered is not abandoned)."""
    out = []
    if f["job"] != "ok":
        out.append(f"the job failed: {f['job_error']}")
    if f["lost"]:
        out.append(f"{f['lost']} rows lost")
    if not f["answered"] or not f["errors"]:
        out.append(f"expected answers before the renewal and error rows after ({f['answered']} answered, "
                   f"{f['errors']} errors)")
    if set(f["errors_by_type"]) - {"authentication"}:
        out.append(f"errors other than authentication: {f['errors_by_type']}")
    unnamed = sum(1 for r in output if r.get("llm_error_type") and "'oauth2_client_secret'" not in
                  r.get("llm_error_message", ""))
    if unnamed:
        out.append(f"{unnamed} error rows do not name 'oauth2_client_secret'")
    if not o["token_failures_injected"]:
        out.append("the token endpoint never refused the secret")
    return out
