"""The bad-input table: presets, templates, schemas, data and servers that are wrong, and the error each one gets.

Each case runs a recipe through localdss against a fresh fault server and records: how the job ended
(refused by DSS's own config checks, failed, rows with errors, or all answered), the error text a user
sees (the job's error, else the first row's error message), and how many requests reached the server.
``expect`` lists words the error must contain: it must name what is wrong. ``before_request`` is True when
the problem can be caught before any request (then the server must count zero calls), False when only
the provider's answer can tell, None when a request is not the question (the case is a row of data).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from tests.reliability import harness as h
from tests.servers.fault_server import Fault, FaultServer, oai_error

REFUSED, FAILS, ROW_ERROR, ANSWERED = "refused", "fails", "row_error", "answered"
DROP = object()  # a preset_patch value: remove the field


@dataclass
class Case:
    id: str
    group: str
    what: str
    expect: list[str]
    outcome: str
    before_request: Optional[bool]
    recipe: str = "prompt"
    config: dict = field(default_factory=dict)
    preset_patch: dict = field(default_factory=dict)
    preset: Optional[Callable[[FaultServer], Optional[dict]]] = None  # replaces the default preset
    rows: Optional[list[dict]] = None  # default: two plain rows
    source: Optional[Callable[[Path], Path]] = None  # writes a special input file
    server: Optional[Callable[[FaultServer], None]] = None
    check: Optional[Callable[[list[dict]], Optional[str]]] = None  # extra check of the output rows
    error_column: str = "llm_error_type"


def _rows(*texts: Any) -> list[dict]:
    return [{"id": str(i), "text": t} for i, t in enumerate(texts)]


def _schema(value: Any) -> dict:
    return {"output_format": "json_schema", "json_schema": value if isinstance(value, str) else json.dumps(value)}


def _invalid_utf8(work: Path) -> Path:
    path = work / "in.csv"
    path.write_bytes(b"id,text\n0,plain row\n1,caf\xe9 latin-1 \xff\xfe bytes\n")
    return path


def _binary_parquet(work: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = work / "in.parquet"
    pq.write_table(pa.table({"id": ["0", "1"], "text": pa.array([b"caf\xe9 \xff", "naïve".encode()], pa.binary())}),
                   path)
    return path


def _typed_parquet(work: Path) -> Path:
    import pandas as pd

    path = work / "in.parquet"
    frame = pd.DataFrame({"id": ["0", "1", "2", "3"], "n": [42, 7, 0, -3], "x": [3.0, 2.5, float("nan"), 1e20],
                          "flag": [True, False, True, False]})
    frame.to_parquet(path, index=False)
    return path


def _wide(work: Path) -> Path:
    columns = ["id", "text"] + [f"c{i:04d}" for i in range(1500)]
    rows = [dict({"id": str(r), "text": f"wide {r}"}, **{c: f"v{r}-{c}" for c in columns[2:]}) for r in range(10)]
    return h.write_csv(work / "in.csv", rows, columns)


def _clashing_columns(work: Path) -> Path:
    rows = [{"id": "0", "text": "a", "llm_response": "mine", "llm_error_type": "keep"}]
    return h.write_csv(work / "in.csv", rows)


def _empty_dataset(work: Path) -> Path:
    return h.write_csv(work / "in.csv", [], ["id", "text"])


def _echo_all(server: FaultServer, fault: Any) -> None:
    """Every chat and embeddings request gets ``fault``."""
    server.add_rule(fault, lambda req: req.route in ("chat", "embeddings"))


def _all_rows_answered(output: list[dict]) -> Optional[str]:
    bad = [r for r in output if r.get("llm_error_type")]
    return f"{len(bad)} rows have an error: {bad[0]['llm_error_message']}" if bad else None


HTML_200 = ("<!DOCTYPE html><html><head><title>Open WebUI</title></head><body><div id='app'>Loading...</div>"
            "<script src='/static/app.js'></script></body></html>")

CASES: list[Case] = [
    # --- presets -----------------------------------------------------------------------------------------------
    # the PRESET parameters are not mandatory (one of two is shown): the job stops before any request, naming it
    Case("preset-none", "preset", "no preset chosen", ["'connection' is empty"], FAILS, True, preset=lambda s: None),
    Case("preset-missing-base_url", "preset", "OpenAI style without base_url", ["base_url", "empty"], FAILS, True,
         preset_patch={"base_url": DROP}),
    Case("preset-missing-models", "preset", "no models and no discovery", ["models", "empty"], FAILS, True,
         preset_patch={"models": []}),
    Case("preset-url-not-http", "preset", "base_url with ftp://", ["base_url", "http(s) URL"], FAILS, True,
         preset_patch={"base_url": "ftp://127.0.0.1/v1"}),
    Case("preset-url-no-scheme", "preset", "base_url without a scheme", ["base_url", "http(s) URL"], FAILS, True,
         preset_patch={"base_url": "127.0.0.1:8000/v1"}),
    Case("preset-url-api-path", "preset", "base_url ending in /chat/completions", ["base_url", "/chat/completions"],
         FAILS, True, preset=lambda s: dict(h.preset_for(s), base_url=s.url + "/chat/completions")),
    Case("preset-url-space", "preset", "base_url with a space in the host", ["base_url", "spaces"], FAILS, True,
         preset_patch={"base_url": "http://llm host:8000/v1"}),
    Case("preset-url-missing-v1", "preset", "base_url without /v1 (the server answers 404)",
         ["404", "base_url", "/v1"], ROW_ERROR, False, preset=lambda s: dict(h.preset_for(s), base_url=s.target_uri)),
    Case("preset-style-unknown", "preset", "style 'anthropic'", ["style", "anthropic"], REFUSED, True,
         preset_patch={"style": "anthropic"}),
    Case("preset-wrong-style-azure-fields", "preset", "style openai, but Azure fields filled in",
         ["style", "azure"], FAILS, True,
         preset=lambda s: {"style": "openai", "target_uri": s.target_uri, "api_key": h.CANARY,
                           "endpoints": [{"name": h.CHAT_MODEL, "kind": "openai_v1"}]}),
    Case("preset-wrong-style-openai-fields", "preset", "style azure, but OpenAI fields filled in",
         ["style", "openai"], FAILS, True,
         preset=lambda s: {"style": "azure", "base_url": s.url, "models": [h.CHAT_MODEL], "api_key": h.CANARY}),
    Case("preset-azure-target-v1", "preset", "Azure target_uri ending in /v1", ["target_uri", "/v1"], FAILS, True,
         preset=lambda s: {"style": "azure", "target_uri": s.url, "api_key": h.CANARY,
                           "endpoints": [{"name": h.CHAT_MODEL, "kind": "openai_v1"}]}),
    Case("preset-azure-endpoint-no-name", "preset", "an Azure endpoint without a name", ["endpoints[1].name"], FAILS,
         True, preset=lambda s: {"style": "azure", "target_uri": s.target_uri, "api_key": h.CANARY,
                                 "endpoints": [{"kind": "openai_v1", "deployment": "x"}]}),
    Case("preset-concurrency-text", "preset", "max_concurrency 'eight'", ["max_concurrency"], REFUSED, True,
         preset_patch={"max_concurrency": "eight"}),
    Case("preset-timeout-negative", "preset", "read_timeout_s -5", ["read_timeout_s"], REFUSED, True,
         preset_patch={"read_timeout_s": -5}),
    Case("preset-models-not-list", "preset", "models given as a number", ["models"], REFUSED, True,
         preset_patch={"models": 3}),
    Case("preset-custom-header-no-name", "preset", "custom_header auth without a header name",
         ["auth_header_name", "empty"], FAILS, True,
         preset_patch={"auth_scheme": "custom_header", "auth_header_name": ""}),
    Case("preset-query-param-no-name", "preset", "query_param auth without a parameter name",
         ["auth_query_param", "empty"], FAILS, True,
         preset_patch={"auth_scheme": "query_param", "auth_query_param": ""}),
    Case("preset-proxy-no-scheme", "preset", "proxy without a scheme", ["proxy", "http(s) URL"], FAILS, True,
         preset_patch={"proxy": "proxy.corp:3128"}),
    Case("preset-ca-bundle-missing", "preset", "ca_bundle naming no file", ["ca_bundle", "/nonexistent/ca.pem"],
         FAILS, True, preset_patch={"ca_bundle": "/nonexistent/ca.pem"}),
    Case("preset-per-user-key-missing", "preset", "per-user key required but not entered",
         ["per-user", "Credentials"], FAILS, True, preset_patch={"use_per_user_key": True}),
    Case("preset-wrong-key", "preset", "a key the provider refuses (401), 40 rows",
         ["Stopping the job", "401", "API key"], FAILS, False, rows=_rows(*[f"row {i}" for i in range(40)]),
         preset_patch={"api_key": "sk-wrong-key-0000"}),
    # --- recipe parameters and templates -------------------------------------------------------------------------
    Case("model-not-offered", "params", "a model the preset does not offer", ["other", "not offered"], FAILS, True,
         config={"model": "other"}),
    Case("template-unknown-column", "template", "{{txt}} for column text", ["{{txt}}", "Did you mean 'text'"], FAILS,
         True, config={"prompt_template": "Say {{txt}}"}),
    Case("template-unbalanced-open", "template", "'Say {{text}'", ["unbalanced braces"], FAILS, True,
         config={"prompt_template": "Say {{text}"}),
    Case("template-unbalanced-close", "template", "'Say text}}'", ["unbalanced braces"], FAILS, True,
         config={"prompt_template": "Say text}}"}),
    Case("template-empty-placeholder", "template", "'Say {{}}'", ["empty placeholder"], FAILS, True,
         config={"prompt_template": "Say {{ }}"}),
    Case("template-single-braces", "template", "'{text}' instead of '{{text}}'", ["{text}", "{{text}}"], FAILS, True,
         config={"prompt_template": "Summarize {text}"}),
    Case("template-empty", "template", "an empty prompt template", ["prompt_template"], REFUSED, True,
         config={"prompt_template": ""}),
    Case("examples-half-pair", "params", "a few-shot example without its output", ["examples", "output"], FAILS, True,
         config={"examples": [{"from": "2+2", "to": ""}]}),
    Case("temperature-out-of-range", "params", "temperature 7", ["temperature"], REFUSED, True,
         config={"temperature": 7}),
    Case("output-prefix-invalid", "params", "output prefix 'my prefix!'", ["output_prefix"], FAILS, True,
         config={"output_prefix": "my prefix!"}),
    Case("embed-column-unknown", "params", "embed text_column naming no column", ["text_column", "body"], FAILS, True,
         recipe="embed", config={"text_column": "body"}),
    Case("embed-batch-too-large", "params", "embed batch_size 5000", ["batch_size"], REFUSED, True, recipe="embed",
         config={"batch_size": 5000}),
    # --- schemas ------------------------------------------------------------------------------------------------
    Case("schema-not-json", "schema", "a schema that is not JSON", ["json_schema", "not valid JSON"], FAILS, True,
         config=_schema("{'type': 'object'")),
    Case("schema-invalid-type", "schema", "type 'strin'", ["not a valid JSON Schema", "strin"], FAILS, True,
         config=_schema({"type": "object", "properties": {"a": {"type": "strin"}}})),
    Case("schema-not-object", "schema", "an array schema", ["object with properties"], FAILS, True,
         config=_schema({"type": "array", "items": {"type": "string"}})),
    Case("schema-no-properties", "schema", "an object without properties", ["object with properties"], FAILS, True,
         config=_schema({"type": "object", "properties": {}})),
    Case("schema-empty", "schema", "json_schema format with no schema", ["json_schema", "empty"], FAILS, True,
         config={"output_format": "json_schema", "json_schema": ""}),
    Case("schema-unresolvable-ref", "schema", "a $ref to a definition that does not exist", ["$ref", "missing"],
         FAILS, True, config=_schema({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}})),
    Case("schema-property-clash", "schema", "a property named like an added column ('error_message')",
         [], ANSWERED, None, config=_schema({"type": "object", "properties": {
             "error_message": {"type": "string"}, "response": {"type": "string"}}}),
         check=_all_rows_answered),
    # --- data ---------------------------------------------------------------------------------------------------
    Case("data-nulls", "data", "empty and whitespace-only cells", ["column 'text' is empty"], ROW_ERROR, None,
         rows=_rows("fine", "", "   ", "also fine")),
    Case("data-null-words", "data", "cells 'None', 'NaN', 'null', 'N/A' (text, not nulls)", [], ANSWERED, None,
         rows=_rows("None", "NaN", "null", "N/A"), check=_all_rows_answered),
    Case("data-numbers", "data", "typed columns (int, double, NaN, bool) in a Parquet input",
         ["column 'x' is empty"], ROW_ERROR, None, source=_typed_parquet,
         config={"prompt_template": "n={{n}} x={{x}} flag={{flag}}"}),
    Case("data-huge-text", "data", "a 3 MB cell against a 100k-word context", ["context", "Shorten"], ROW_ERROR, False,
         rows=_rows("short", "word " * 600_000), server=lambda s: s.set_context_limit(100_000)),
    Case("data-huge-text-embed", "data", "a 3 MB cell through the embed recipe", ["too long", "truncate"], ROW_ERROR,
         False, recipe="embed", rows=_rows("short", "word " * 600_000),
         server=lambda s: s.add_rule(Fault.context_length(8192),
                                     lambda r: r.route == "embeddings" and len(r.raw) > 1_000_000)),
    Case("data-invalid-utf8", "data", "a CSV with Latin-1 bytes (invalid UTF-8), refused by the dataset reader "
         "(localdss's stand-in for DSS's)", ["UTF-8"], FAILS, True,
         source=_invalid_utf8),
    Case("data-invalid-utf8-cells", "data", "binary Parquet cells with invalid UTF-8 bytes", [], ANSWERED, None,
         source=_binary_parquet,
         check=lambda out: None if [r["llm_response"] for r in out] == ["echo: Say caf\ufffd \ufffd", "echo: Say naïve"]
         else f"binary cells sent as {[r['llm_response'] for r in out]}"),
    Case("data-control-chars", "data", "NUL, ESC, BEL, CR/LF, tab and U+2028 in cells", [],
         ANSWERED, None, rows=_rows("a\x00b", "esc \x1b[31mred\x1b[0m \x07", "line\r\nbreak\ttab", "sep\u2028x"),
         check=_all_rows_answered),
    Case("data-unicode", "data", "emoji, RTL, combining marks, CJK", [], ANSWERED, None,
         rows=_rows("👍🏽 ok", "שלום עולם", "e\u0301\u0301", "漢字かな"), check=_all_rows_answered),
    Case("data-wide-rows", "data", "1502 columns per row", [], ANSWERED, None, source=_wide, check=_all_rows_answered),
    Case("data-column-clash", "data", "input already has llm_response and llm_error_type", [], ANSWERED, None,
         source=_clashing_columns, error_column="llm_error_type_1",
         check=lambda out: None if out and out[0]["llm_response"] == "mine" and out[0]["llm_error_type"] == "keep"
         and out[0].get("llm_response_1") == "echo: Say a" else f"input columns overwritten: {out[:1]}"),
    Case("data-empty-dataset", "data", "an input with no rows", [], ANSWERED, True, source=_empty_dataset),
    # --- servers ------------------------------------------------------------------------------------------------
    Case("server-html-error-page", "server", "a proxy's HTML 502 page", ["502", "Bad Gateway"], ROW_ERROR, False,
         server=lambda s: _echo_all(s, Fault.html(502)), preset_patch={"max_retries": 1}),
    Case("server-html-200", "server", "a web page with HTTP 200 (base_url points at a web UI)",
         ["HTML page", "base_url"], ROW_ERROR, False, preset_patch={"max_retries": 1},
         server=lambda s: _echo_all(s, Fault.error(200, HTML_200, content_type="text/html", label="html-200"))),
    Case("server-empty-200", "server", "HTTP 200 with an empty body", ["200", "empty body"], ROW_ERROR, False,
         server=lambda s: _echo_all(s, Fault.empty_200()), preset_patch={"max_retries": 1}),
    Case("server-empty-500", "server", "HTTP 500 with an empty body", ["500"], ROW_ERROR, False,
         server=lambda s: _echo_all(s, "500-empty"), preset_patch={"max_retries": 1}),
    Case("server-error-in-200", "server", "HTTP 200 whose body is an error object",
         ["Internal error while generating"], ROW_ERROR, False, server=lambda s: _echo_all(s, Fault.error_200()),
         preset_patch={"max_retries": 1}),
    Case("server-wrong-json", "server", "HTTP 200 with JSON that is not a completion", ["choices"], ROW_ERROR, False,
         server=lambda s: _echo_all(s, Fault.error(200, {"result": "ok"}, label="wrong-json")),
         preset_patch={"max_retries": 1}),
    Case("server-gigantic", "server", "a 65 MB answer", ["larger than 64 MB"], ROW_ERROR, False,
         rows=_rows("only row"), server=lambda s: _echo_all(s, Fault.giant(65)), preset_patch={"max_retries": 0}),
    Case("server-refused", "server", "a closed loopback port", ["cannot reach", "connection refused"], ROW_ERROR,
         False, preset=lambda s: dict(h.preset_for(s, require=False), max_retries=1,
                                      base_url=f"http://127.0.0.1:{h.closed_port()}/v1")),
    Case("server-refused-many", "server", "a closed loopback port, 40 rows", ["Stopping the job", "connection refused"],
         FAILS, False, rows=_rows(*[f"row {i}" for i in range(40)]),
         preset=lambda s: dict(h.preset_for(s, require=False), max_retries=1,
                               base_url=f"http://127.0.0.1:{h.closed_port()}/v1")),
    Case("server-stall", "server", "answers slower than the read timeout", ["read timeout", "read_timeout_s"],
         ROW_ERROR, False, rows=_rows("slow row"), server=lambda s: _echo_all(s, "slow-2.5"),
         preset_patch={"read_timeout_s": 1, "max_retries": 0}),
    Case("server-embed-count", "server", "embeddings: fewer vectors than texts", ["expected", "vectors"], ROW_ERROR,
         False, recipe="embed", preset_patch={"max_retries": 0},
         server=lambda s: _echo_all(s, Fault.error(200, {"object": "list", "data": [
             {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}, label="short-list"))),
    Case("server-unknown-model", "server", "the provider does not know the model (404)",
         ["404", "model"], ROW_ERROR, False,
         server=lambda s: _echo_all(s, Fault.error(404, oai_error("The model `fault-chat` does not exist.",
                                                                  code="model_not_found")))),
]


@dataclass
class CaseResult:
    case: Case
    ending: str  # refused | fails | row_error | answered
    message: str
    requests: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        c = self.case
        return {"id": c.id, "group": c.group, "what": c.what, "recipe": c.recipe, "ending": self.ending,
                "expected_ending": c.outcome, "before_request": c.before_request, "requests": self.requests,
                "message": self.message, "ok": self.ok, "problems": self.problems}


def _preset(case: Case, server: FaultServer) -> Optional[dict]:
    if case.preset is not None:
        return case.preset(server)
    preset = h.preset_for(server, max_retries=2)
    for key, value in case.preset_patch.items():
        if value is DROP:
            preset.pop(key, None)
        else:
            preset[key] = value
    return preset


def run_case(case: Case, work: Path, mode: str = "inproc") -> CaseResult:
    """Runs one case and checks its expectations; the result says what went wrong, if anything."""
    work.mkdir(parents=True, exist_ok=True)
    with h.fault_server() as server:
        preset = _preset(case, server)
        if case.server is not None:
            case.server(server)
        if case.source is not None:
            source = case.source(work)
        else:
            source = h.write_csv(work / "in.csv", case.rows if case.rows is not None else _rows("first", "second"))
        config = dict(h.recipe_config(case.recipe), **case.config)
        result = h.run_recipe(case.recipe, work, config, preset, source, mode=mode, timeout=300)
        requests = server.calls
    output = h.read_csv(result.output) if result.returncode == 0 else []
    errors = [r for r in output if r.get(case.error_column)]
    if result.returncode == 2:
        ending, message = REFUSED, result.error
    elif result.returncode != 0:
        ending, message = FAILS, result.error
    elif errors:
        kind = errors[0][case.error_column]
        ending, message = ROW_ERROR, f"[{kind}] {errors[0][case.error_column.replace('_type', '_message')]}"
    else:
        ending, message = ANSWERED, ""
    problems = []
    if ending != case.outcome:
        problems.append(f"ended '{ending}', expected '{case.outcome}'")
    said = message.split(": ", 1)[1] if re.match(r"^[\w.]+(Error|Exception): ", message) else message
    missing = [word for word in case.expect if word.lower() not in said.lower()]
    if missing:
        problems.append(f"the error does not say {missing}")
    if case.before_request and requests:
        problems.append(f"{requests} requests reached the server")
    if h.leaks(message):
        problems.append("the key is in the error")
    if case.check is not None and ending in (ANSWERED, ROW_ERROR):
        extra = case.check(output)
        if extra:
            problems.append(extra)
    return CaseResult(case, ending, " ".join(message.split())[:600], requests, problems)
