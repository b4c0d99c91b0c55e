"""Secrets: the recipes run with the canary key under every authentication scheme (the query-parameter one puts it in
every URL), against a provider that fails in every way and, worse, echoes the key back in its error bodies and pages.
The key must appear in no job log (also at DEBUG level, where urllib3 prints URLs), output dataset, schema file,
answer cache, exception or traceback. The report itself is scanned last (see run.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from tests.reliability import harness as h
from tests.servers.fault_server import Fault, FaultServer, oai_error, when_text

ECHO_400 = Fault.error(400, oai_error(f"Invalid request to /v1/chat/completions?key={quote(h.CANARY, safe='')}: "
                                      f"key '{h.CANARY}' is not allowed for this model."), label="echo-400")
ECHO_HTML = Fault.error(502, f"<html><head><title>502 Bad Gateway</title></head><body>upstream refused "
                             f"Authorization: Bearer {h.CANARY} (GET /v1?key={h.CANARY})</body></html>",
                        content_type="text/html", label="echo-html")
ECHO_200 = Fault.error(200, oai_error(f"Internal error, credentials {h.CANARY}", "server_error"), label="echo-200")
# row texts: an answer, then every failure path (markers are read by the fault server)
TEXTS = ["plain answer", "FAIL:500", "FAIL:401", "FAIL:502-html", "FAIL:reset", "FAIL:malformed", "FAIL:empty-200",
         "FAIL:stream-cut", "ECHO-400 row", "ECHO-HTML row", "ECHO-200 row", ""]


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


SCENARIOS = [
    *(Scenario(f"prompt, {scheme}", scheme=scheme) for scheme in h.AUTH_SCHEMES),
    Scenario("prompt, query_param, DEBUG logs", scheme="query_param", debug=True),
    Scenario("prompt, Azure endpoint key + extra header", azure=True, extra_header=True),
    Scenario("prompt, query_param, fail mode (exception)", scheme="query_param", on_error="fail"),
    Scenario("embed, query_param", recipe="embed", scheme="query_param"),
    Scenario("prompt, query_param, real process", scheme="query_param", mode="process"),
    Scenario("embed, api_key_header, fail mode, real process", recipe="embed", scheme="api_key_header",
             on_error="fail", mode="process"),
]


def _echo_rules(server: FaultServer) -> None:
    server.add_rule(ECHO_400, when_text("ECHO-400"))
    server.add_rule(ECHO_HTML, when_text("ECHO-HTML"))
    server.add_rule(ECHO_200, when_text("ECHO-200"))


def _preset(scenario: Scenario, server: FaultServer) -> dict:
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
    rows = [{"id": str(i), "text": text} for i, text in enumerate(TEXTS)]
    if scenario.on_error == "fail":
        rows = rows[:1] + [r for r in rows if r["text"].startswith("ECHO-400")]  # the job fails on the echo
    source = h.write_csv(work / "in.csv", rows)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    audit = h.SecretAudit()
    with FaultServer() as server:
        preset = _preset(scenario, server)
        _echo_rules(server)
        config = h.recipe_config(scenario.recipe, on_error=scenario.on_error,
                                 **({"batch_size": 1} if scenario.recipe == "embed" else {}))
        levels: dict[str, int] = {}
        if scenario.debug:
            for name in ("", "urllib3", "urllib3.connectionpool", "requests", "openai_compatible"):
                levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            result = h.run_recipe(scenario.recipe, work, config, preset, source, cache=cache, mode=scenario.mode)
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        used_key = sum(1 for req in server.requests if _carries_key(req))
    audit.text("job log", result.log)
    for path in (result.output, result.output.with_name(result.output.stem + ".schema.json"), *cache.iterdir()):
        audit.file(path)
    output = h.read_csv(result.output)
    return {"scenario": scenario.name, "mode": scenario.mode, "returncode": result.returncode,
            "requests": len(server.requests), "requests_carrying_key": used_key,
            "error_rows": sum(1 for r in output if r.get("llm_error_type")), "job_error": result.error[:200],
            "rows_in": len(rows), "rows_out": len(output),
            "plain_answered": any(r.get("text") == "plain answer" and not r.get("llm_error_type") for r in output),
            "debug_lines": result.log.count(" DEBUG "), **audit.as_dict()}


def _carries_key(request: Any) -> bool:
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
    return out


HEADER = ["scenario", "run", "requests with key", "error rows", "texts", "files", "bytes", "leaks"]


def as_row(result: dict) -> list:
    return [result["scenario"], result["mode"], result["requests_carrying_key"], result["error_rows"],
            result["texts"], result["files"], result["bytes"], len(result["leaks"])]
