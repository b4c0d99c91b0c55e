"""The servers the suite relies on behave as documented: the fault server, llama.cpp and LiteLLM."""

from __future__ import annotations

import base64
import concurrent.futures
import email.utils
import json
import math
import select
import socket
import struct
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests

from tests.servers.fault_server import Fault, FaultServer, when_numbered, when_param
from tools.servers import REPO_ROOT, start_llama_server, stop_process

SENTIMENT_SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
    "additionalProperties": False,
}


def chat_body(text: str = "hello there", model: str = "fault-chat", **extra: Any) -> Dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def post_chat(url: str, text: str = "hello there", headers: Optional[Dict[str, str]] = None,
              **extra: Any) -> requests.Response:
    # Generous timeout: the real model shares 2 cores with everything else running on the machine.
    return requests.post(url + "/chat/completions", json=chat_body(text, **extra), headers=headers, timeout=180)


def sse_events(response: requests.Response) -> Tuple[List[str], List[Any]]:
    """(comment lines, data payloads: parsed JSON or the string "[DONE]") of an SSE body."""
    comments: List[str] = []
    events: List[Any] = []
    for line in response.iter_lines(decode_unicode=True):
        if not line:
            continue
        if line.startswith(":"):
            comments.append(line)
        elif line.startswith("data: "):
            data = line[len("data: "):]
            events.append(data if data == "[DONE]" else json.loads(data))
    return comments, events


def stream_text(events: List[Any]) -> str:
    return "".join((e["choices"][0]["delta"].get("content") or "") for e in events
                   if isinstance(e, dict) and e.get("choices"))


# ---------------------------------------------------------------------------------------------
# Fault server: normal answers
# ---------------------------------------------------------------------------------------------
def test_fault_server_echoes_each_request(fault_server: FaultServer) -> None:
    for text in ("row one", "row two is longer"):
        response = post_chat(fault_server.url, text, model="my-model")
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "chat.completion"
        assert body["model"] == "my-model"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": f"echo: {text}"}
        assert body["choices"][0]["finish_reason"] == "stop"
        assert body["usage"]["prompt_tokens"] == len(text.split())
        assert body["usage"]["completion_tokens"] == len(text.split()) + 1
        assert response.headers["x-request-id"].startswith("req-fault-")
    assert fault_server.url.endswith("/v1") and fault_server.url.startswith("http://127.0.0.1:")


def test_fault_server_stream_with_usage(fault_server: FaultServer) -> None:
    response = post_chat(fault_server.url, "a b c", stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    _, events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 4
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert stream_text(events) == "echo: a b c"


def test_fault_server_stream_without_usage(fault_server: FaultServer) -> None:
    _, events = sse_events(post_chat(fault_server.url, "x", stream=True))
    assert events[-1] == "[DONE]"
    assert not any("usage" in e for e in events if isinstance(e, dict))


def test_fault_server_embeddings_are_deterministic(fault_server: FaultServer) -> None:
    def embed(**body: Any) -> Dict[str, Any]:
        response = requests.post(fault_server.url + "/embeddings", json={"model": "e", **body}, timeout=10)
        assert response.status_code == 200
        return response.json()

    first = embed(input=["alpha", "beta"])
    again = embed(input="alpha")
    assert [d["index"] for d in first["data"]] == [0, 1]
    vector = first["data"][0]["embedding"]
    assert len(vector) == 8 and math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-3)
    assert again["data"][0]["embedding"] == vector
    assert first["data"][1]["embedding"] != vector
    assert len(embed(input="alpha", dimensions=32)["data"][0]["embedding"]) == 32
    packed = embed(input="alpha", encoding_format="base64")["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(packed))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vector))
    assert first["model"] == "e" and first["usage"]["prompt_tokens"] == 2


def test_fault_server_models_and_azure_routes(fault_server: FaultServer) -> None:
    models = requests.get(fault_server.url + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == fault_server.models
    base = fault_server.target_uri + "/openai/deployments/dep-1"
    chat = requests.post(base + "/chat/completions?api-version=2024-10-21",
                         json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10)
    assert chat.status_code == 200 and chat.json()["model"] == "dep-1"
    embed = requests.post(base + "/embeddings?api-version=2024-10-21", json={"input": "hi"}, timeout=10)
    assert embed.status_code == 200 and len(embed.json()["data"][0]["embedding"]) == 8
    missing_version = requests.post(base + "/chat/completions", json=chat_body(), timeout=10)
    assert missing_version.status_code == 404
    recorded = fault_server.requests[1]
    assert recorded.deployment == "dep-1" and recorded.query == {"api-version": "2024-10-21"}


def test_fault_server_rejects_bad_requests(fault_server: FaultServer) -> None:
    assert requests.post(fault_server.url + "/nope", json=chat_body(), timeout=10).status_code == 404
    assert requests.get(fault_server.url + "/chat/completions", timeout=10).status_code == 405
    bad_json = requests.post(fault_server.url + "/chat/completions", data=b"{oops",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    no_model = requests.post(fault_server.url + "/chat/completions",
                             json={"messages": [{"role": "user", "content": "x"}]}, timeout=10)
    assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"
    no_messages = requests.post(fault_server.url + "/chat/completions", json={"model": "m"}, timeout=10)
    assert no_messages.status_code == 400



def test_fault_server_ignores_a_request_cut_off_mid_body(fault_server: FaultServer) -> None:
    # A client killed while sending leaves a body shorter than its Content-Length: not a request received.
    url = urlsplit(fault_server.url)
    body = json.dumps(chat_body("cut off")).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST " + url.path.encode() + b"/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body[:len(body) // 2])
    assert fault_server.wait_idle(10)
    assert fault_server.calls == 0 and fault_server.requests == []
    assert post_chat(fault_server.url, "whole").status_code == 200
    assert fault_server.calls == 1

def test_fault_server_json_answers(fault_server: FaultServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "label": {"$ref": "#/$defs/Label"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "count": {"type": "integer"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "why": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "inner": {"type": "object", "properties": {"x": {"type": "string"}},
                      "additionalProperties": False, "required": ["x"]},
        },
        "required": ["label", "score", "count", "ok", "tags", "why", "inner"],
        "additionalProperties": False,
        "$defs": {"Label": {"type": "string", "enum": ["positive", "negative"]}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}
    content = post_chat(fault_server.url, response_format=fmt).json()["choices"][0]["message"]["content"]
    value = json.loads(content)
    jsonschema.validate(value, schema)
    assert value["label"] == "positive" and value["tags"] == ["echo"] and value["ok"] is True
    content = post_chat(fault_server.url, "the text",
                        response_format={"type": "json_object"}).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"echo": "the text"}


# ---------------------------------------------------------------------------------------------
# Fault server: scripted faults
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "header", "expected"), [
    ("429", "Retry-After", "1"),
    ("429-frac", "Retry-After", "0.2"),
    ("429-ms", "retry-after-ms", "100"),
    ("429-reset", "x-ratelimit-reset-requests", "250ms"),
    ("429-reset-1s", "x-ratelimit-reset-requests", "1s"),
])
def test_fault_server_rate_limit_hints(fault_server: FaultServer, mode: str, header: str, expected: str) -> None:
    fault_server.script(mode)
    response = post_chat(fault_server.url)
    assert response.status_code == 429
    assert response.headers[header] == expected
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert post_chat(fault_server.url).status_code == 200  # one-shot


def test_fault_server_rate_limit_date_and_none(fault_server: FaultServer) -> None:
    fault_server.script("429-date", "429-none", Fault.rate_limit(7), Fault.rate_limit(retry_after=1.5))
    dated = post_chat(fault_server.url)
    assert email.utils.parsedate_to_datetime(dated.headers["Retry-After"]).tzinfo is not None
    bare = post_chat(fault_server.url)
    assert bare.status_code == 429
    assert not [h for h in bare.headers if "retry" in h.lower() or "ratelimit" in h.lower()]
    assert post_chat(fault_server.url).headers["Retry-After"] == "7"
    assert post_chat(fault_server.url).headers["Retry-After"] == "1.5"


def test_fault_server_error_statuses(fault_server: FaultServer) -> None:
    fault_server.script("quota", "500", "500-empty", "502", "502-html", "503", "503-empty", "500-text",
                        "401", "403", "404", Fault.error(503, headers={"Retry-After": "2"}))
    quota = post_chat(fault_server.url)
    assert (quota.status_code, quota.json()["error"]["code"]) == (429, "insufficient_quota")
    server_error = post_chat(fault_server.url)
    assert server_error.status_code == 500 and server_error.json()["error"]["type"] == "server_error"
    empty = post_chat(fault_server.url)
    assert (empty.status_code, empty.content) == (500, b"")
    assert post_chat(fault_server.url).json()["error"]["type"] == "cf_bad_gateway"
    html = post_chat(fault_server.url)
    assert html.status_code == 502 and html.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in html.text
    assert post_chat(fault_server.url).status_code == 503
    assert post_chat(fault_server.url).content == b""
    text = post_chat(fault_server.url)
    assert text.headers["Content-Type"].startswith("text/plain") and text.text == "Internal Server Error"
    assert post_chat(fault_server.url).json()["error"]["code"] == "invalid_api_key"
    assert post_chat(fault_server.url).status_code == 403
    assert post_chat(fault_server.url).json()["error"]["code"] == "model_not_found"
    assert post_chat(fault_server.url).headers["Retry-After"] == "2"
    assert fault_server.pending == 0


def test_fault_server_broken_answers(fault_server: FaultServer) -> None:
    fault_server.script("reset", "malformed", "error-200", "empty-200")
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError) as caught:
            session.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=10)
        assert "reset" in str(caught.value).lower()
        malformed = session.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=10)
        assert malformed.status_code == 200
        with pytest.raises(ValueError):
            malformed.json()
        error_200 = session.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=10)
        assert error_200.status_code == 200 and "error" in error_200.json()
        empty = session.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=10)
        assert empty.status_code == 200 and empty.content == b""
        assert session.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=10).ok


def test_fault_server_stream_cut_and_error(fault_server: FaultServer) -> None:
    fault_server.script(Fault.stream_cut(after=1), "stream-error", "stream-cut")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sse_events(post_chat(fault_server.url, "one two three", stream=True))
    response = post_chat(fault_server.url, "one two three", stream=True)
    _, events = sse_events(response)
    assert "[DONE]" not in events and events[-1]["error"]["type"] == "server_error"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post_chat(fault_server.url, "not streamed")  # cut half-way through Content-Length


def test_fault_server_keepalive_noise(fault_server: FaultServer) -> None:
    fault_server.script("keepalive", "keepalive")
    comments, events = sse_events(post_chat(fault_server.url, "a b", stream=True,
                                            stream_options={"include_usage": True}))
    assert ": keep-alive" in comments and ": OPENROUTER PROCESSING" in comments
    assert events[0]["choices"] == [] and "prompt_filter_results" in events[0]
    assert stream_text(events) == "echo: a b" and events[-1] == "[DONE]"
    padded = post_chat(fault_server.url, "a b")
    assert padded.content.startswith(b"\n") and padded.json()["choices"][0]["message"]["content"] == "echo: a b"


def test_fault_server_slow_answer(fault_server: FaultServer) -> None:
    stall = threading.Event()
    fault_server.script(Fault.slow(120, until=stall))
    try:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=(5, 0.3))
    finally:
        stall.set()
    assert fault_server.requests[0].fault == "slow-120"
    fault_server.script(Fault.slow(120, until=stall))  # already set: no wait at all
    answer = requests.post(fault_server.url + "/chat/completions", json=chat_body(), timeout=(5, 60))
    assert answer.json()["choices"][0]["message"]["content"] == "echo: hello there"


def test_fault_server_filters_and_context(fault_server: FaultServer) -> None:
    fault_server.script("content-filter", "filtered", "context-length")
    blocked = post_chat(fault_server.url).json()["error"]
    assert blocked["code"] == "content_filter" and blocked["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    filtered = post_chat(fault_server.url).json()["choices"][0]
    assert filtered["finish_reason"] == "content_filter" and filtered["message"]["content"] == ""
    too_long = post_chat(fault_server.url)
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    fault_server.set_context_limit(5)
    assert post_chat(fault_server.url, "a b c").status_code == 200
    assert post_chat(fault_server.url, "a b c d e f").json()["error"]["code"] == "context_length_exceeded"


def test_fault_server_giant_answer(fault_server: FaultServer) -> None:
    fault_server.script(Fault.giant(mb=1.5))
    response = post_chat(fault_server.url)
    assert len(response.content) > 1.5 * 1024 * 1024
    assert len(response.json()["choices"][0]["message"]["content"]) == int(1.5 * 1024 * 1024)


# ---------------------------------------------------------------------------------------------
# Fault server: rules (auth, headers, rejected parameters)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("scheme", "good", "query"), [
    ("bearer", {"Authorization": "Bearer k1"}, ""),
    ("api-key", {"api-key": "k1"}, ""),
    ("header:Ocp-Apim-Subscription-Key", {"Ocp-Apim-Subscription-Key": "k1"}, ""),
    ("query:key", {}, "?key=k1"),
    ("any", {"x-api-key": "k1"}, ""),
])
def test_fault_server_auth(fault_server: FaultServer, scheme: str, good: Dict[str, str], query: str) -> None:
    fault_server.require_auth("k1", scheme)
    url = fault_server.url + "/chat/completions"
    assert requests.post(url + query, json=chat_body(), headers=good, timeout=10).status_code == 200
    denied = requests.post(url, json=chat_body(), headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    assert requests.post(url, json=chat_body(), timeout=10).status_code == 401


def test_fault_server_required_header(fault_server: FaultServer) -> None:
    fault_server.require_header("X-Gateway-Key", "g1", status=400)
    assert post_chat(fault_server.url).status_code == 400
    assert post_chat(fault_server.url, headers={"X-Gateway-Key": "nope"}).status_code == 400
    assert post_chat(fault_server.url, headers={"x-gateway-key": "g1"}).status_code == 200


def test_fault_server_rejected_parameters(fault_server: FaultServer) -> None:
    fault_server.reject_param("max_completion_tokens")
    fault_server.reject_param("seed", style="vllm")
    fault_server.reject_param("n", style="mistral")
    assert post_chat(fault_server.url, max_tokens=5).status_code == 200
    openai_style = post_chat(fault_server.url, max_completion_tokens=5)
    assert openai_style.status_code == 400
    assert openai_style.json()["error"]["param"] == "max_completion_tokens"
    assert openai_style.json()["error"]["code"] == "unsupported_parameter"
    vllm_style = post_chat(fault_server.url, seed=1).json()
    assert vllm_style["object"] == "error" and vllm_style["code"] == 400 and "'seed'" in vllm_style["message"]
    mistral = post_chat(fault_server.url, n=1)
    assert mistral.status_code == 422
    assert mistral.json()["message"]["detail"][0]["loc"] == ["body", "n"]


def test_fault_server_rejects_stream_role_and_unknown_model(fault_server: FaultServer) -> None:
    fault_server.reject_stream()
    fault_server.reject_role("developer")
    fault_server.reject_unknown_models()
    refused = post_chat(fault_server.url, stream=True)
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "stream is not supported"
    developer = requests.post(fault_server.url + "/chat/completions", timeout=10, json={
        "model": "fault-chat", "messages": [{"role": "developer", "content": "be brief"},
                                            {"role": "user", "content": "hi"}]})
    assert developer.status_code == 422 and "unknown variant `developer`" in developer.json()["error"]["message"]
    assert post_chat(fault_server.url, model="gpt-unknown").status_code == 404
    assert post_chat(fault_server.url).status_code == 200


def test_fault_server_rules_order_and_times(fault_server: FaultServer) -> None:
    fault_server.require_auth("k1")
    fault_server.script("500")
    assert post_chat(fault_server.url).status_code == 401  # rules first; the script is kept
    assert post_chat(fault_server.url, headers={"Authorization": "Bearer k1"}).status_code == 500
    fault_server.reset()
    rule = fault_server.add_rule("503", when=when_param("temperature"), times=2)
    statuses = [post_chat(fault_server.url, temperature=0).status_code for _ in range(3)]
    assert statuses == [503, 503, 200] and rule.hits == 2
    fault_server.always(Fault.error(418, {"error": {"message": "teapot"}}))
    assert post_chat(fault_server.url).status_code == 418
    # a second always() replaces the first instead of sitting behind it; rules added otherwise stay
    fault_server.add_rule("502", when=when_param("seed"))
    fault_server.always("503")
    assert [post_chat(fault_server.url).status_code, post_chat(fault_server.url, seed=1).status_code] == [503, 502]


# ---------------------------------------------------------------------------------------------
# Fault server: markers, random faults, counters, limits, concurrency, CLI
# ---------------------------------------------------------------------------------------------
def test_fault_server_content_markers(fault_server: FaultServer) -> None:
    rows = ["fine", "bad FAIL:500", "flaky FAIL:429*2", "fine too"]
    statuses = [[post_chat(fault_server.url, row).status_code for row in rows] for _ in range(3)]
    assert statuses == [[200, 500, 429, 200], [200, 500, 429, 200], [200, 500, 200, 200]]
    with pytest.raises(requests.ConnectionError):
        requests.post(fault_server.url + "/embeddings", json={"model": "e", "input": ["ok", "x FAIL:reset"]},
                      timeout=10)
    assert post_chat(fault_server.url, "FAIL:no-such-mode").status_code == 400


def test_fault_server_random_faults_are_seeded(fault_server: FaultServer) -> None:
    def run(server: FaultServer) -> List[int]:
        server.set_fault_rate(0.5, modes=["500", "503"], seed=42)
        return [post_chat(server.url, f"row {i}").status_code for i in range(40)]

    first = run(fault_server)
    with FaultServer() as other:
        assert run(other) == first
    assert set(first) == {200, 500, 503}
    assert sum(fault_server.injected.values()) == first.count(500) + first.count(503)
    fault_server.set_fault_rate(0)
    assert post_chat(fault_server.url).status_code == 200
    fault_server.set_fault_rate(1.0, modes=["reset"])
    with pytest.raises(requests.ConnectionError):
        post_chat(fault_server.url)


def test_fault_server_counters_and_reset(fault_server: FaultServer) -> None:
    with requests.Session() as session:
        for i in range(3):
            session.post(fault_server.url + "/chat/completions?trace=1", json=chat_body(f"n{i}"),
                         headers={"X-Custom": "v"}, timeout=10)
    assert fault_server.calls == 3 and fault_server.calls_to("chat") == 3
    first = fault_server.requests[0]
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert first.header("X-CUSTOM") == "v" and first.headers["x-custom"] == "v"
    assert first.json["messages"][0]["content"] == "n0" and first.text == "n0" and first.fault == "ok"
    assert len({r.client_port for r in fault_server.requests}) == 1  # one keep-alive connection
    fault_server.reset()
    assert fault_server.calls == 0 and fault_server.requests == [] and not fault_server.injected


def test_fault_server_rpm_limit() -> None:
    with FaultServer(rpm_limit=6, clock=lambda: 100.0) as server:  # one request of burst; the clock never moves
        assert post_chat(server.url).status_code == 200
        limited = post_chat(server.url)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
        assert server.injected["rpm-limit"] == 1
    with FaultServer(rpm_limit=6, rpm_retry_after=False, clock=lambda: 100.0) as server:
        post_chat(server.url)
        assert "Retry-After" not in post_chat(server.url).headers


def test_fault_server_rpm_bucket_refills_with_its_clock() -> None:
    now = [100.0]
    with FaultServer(rpm_limit=6, clock=lambda: now[0]) as server:
        assert post_chat(server.url).status_code == 200
        assert post_chat(server.url).status_code == 429
        now[0] += 10.0  # one request's worth at 6 per minute
        assert post_chat(server.url).status_code == 200
        assert post_chat(server.url).status_code == 429


def test_fault_server_down_drops_a_range_of_request_numbers(fault_server: FaultServer) -> None:
    fault_server.down(first=2, count=2)
    outcomes = []
    for i in range(5):
        with requests.Session() as session:
            try:
                session.post(fault_server.url + "/chat/completions", json=chat_body(f"n{i}"), timeout=10)
                outcomes.append("answered")
            except requests.ConnectionError:
                outcomes.append("dropped")
    assert outcomes == ["answered", "dropped", "dropped", "answered", "answered"]
    assert [(r.number, r.fault) for r in fault_server.requests] == [
        (1, "ok"), (2, "down"), (3, "down"), (4, "ok"), (5, "ok")]
    assert fault_server.injected["down"] == 2
    fault_server.reset()  # numbers start again at 1
    post_chat(fault_server.url)
    assert fault_server.requests[0].number == 1
    with pytest.raises(ValueError):
        fault_server.down(first=0, count=1)


def test_fault_server_when_numbered(fault_server: FaultServer) -> None:
    fault_server.add_rule("503", when_numbered(3))
    assert [post_chat(fault_server.url).status_code for _ in range(4)] == [200, 200, 503, 503]


def test_fault_server_hold_keeps_requests_until_released(fault_server: FaultServer) -> None:
    gate = fault_server.hold(after=1)
    assert post_chat(fault_server.url, "first").status_code == 200
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(post_chat, fault_server.url, "second")
        assert gate.wait(60), "the second request never reached the gate"
        assert gate.held == 1 and not held.done()
        gate.release()
        answer = held.result(timeout=60)
    assert answer.json()["choices"][0]["message"]["content"] == "echo: second"
    assert post_chat(fault_server.url, "third").status_code == 200  # released for good
    assert gate.held == 1


def test_fault_server_stop_and_deadline_release_held_requests() -> None:
    server = FaultServer().start()
    gate = server.hold(after=0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(post_chat, server.url)
        assert gate.wait(60)
        server.stop()
        held.exception(timeout=60)  # answered or cut: what matters is that it ends
    with FaultServer() as server:
        server.hold(after=0, deadline_s=0.01)
        assert post_chat(server.url).status_code == 200  # a forgotten gate never hangs a request


def test_fault_server_latency_setting_still_answers() -> None:
    with FaultServer(latency_ms=20) as server:
        assert post_chat(server.url, "x").json()["choices"][0]["message"]["content"] == "echo: x"


def test_fault_server_many_concurrent_connections(fault_server: FaultServer) -> None:
    def one(i: int) -> str:
        with requests.Session() as session:
            response = session.post(fault_server.url + "/chat/completions", json=chat_body(f"row {i}"), timeout=180)
            return response.json()["choices"][0]["message"]["content"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(one, range(400)))
    assert answers == [f"echo: row {i}" for i in range(400)]
    assert fault_server.calls == 400


def test_fault_server_cli() -> None:
    proc = subprocess.Popen([sys.executable, "tests/servers/fault_server", "--port", "0", "--rpm-limit",
                             "600000", "--api-key", "k"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().strip() if ready else ""
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
        url = line.split(" ", 1)[1]
        assert post_chat(url).status_code == 401
        assert post_chat(url, headers={"api-key": "k"}).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "calls=2" in err


# ---------------------------------------------------------------------------------------------
# llama.cpp (xllamacpp) serving SmolLM2
# ---------------------------------------------------------------------------------------------
def test_llama_models(llama_server: Any) -> None:
    assert llama_server.endswith("/v1") and llama_server.model == "smollm2"
    models = requests.get(llama_server.base_url + "/models", timeout=180).json()
    assert "smollm2" in [m["id"] for m in models["data"]]
    assert requests.get(llama_server.target_uri + "/health", timeout=180).status_code == 200


def test_llama_chat(llama_server: Any) -> None:
    response = post_chat(llama_server.base_url, "Say hello.", model="smollm2", max_tokens=16, temperature=0)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "smollm2"
    assert body["choices"][0]["message"]["content"].strip()
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] > 0


def test_llama_stream_with_usage(llama_server: Any) -> None:
    response = post_chat(llama_server.base_url, "Count to three.", model="smollm2", max_tokens=12,
                         stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    _, events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"] == [] and events[-2]["usage"]["completion_tokens"] > 0
    assert stream_text(events)


def test_llama_json_schema(llama_server: Any) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "sentiment", "strict": True, "schema": SENTIMENT_SCHEMA}}
    response = post_chat(llama_server.base_url, "Review: 'I loved it, wonderful.' Give the sentiment.",
                         model="smollm2", max_tokens=40, temperature=0, response_format=fmt)
    assert response.status_code == 200
    value = json.loads(response.json()["choices"][0]["message"]["content"])
    jsonschema.validate(value, SENTIMENT_SCHEMA)


def test_llama_embeddings(llama_server: Any) -> None:
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 8%.", "Bonjour tout le monde"]

    def embed(inputs: List[str]) -> List[List[float]]:
        response = requests.post(llama_server.base_url + "/embeddings", json={"model": "smollm2", "input": inputs},
                                 timeout=180)
        assert response.status_code == 200
        data = response.json()["data"]
        assert [d["index"] for d in data] == list(range(len(inputs)))
        return [d["embedding"] for d in data]

    batch = embed(texts)
    assert all(len(vector) == 576 for vector in batch)
    assert math.isclose(sum(v * v for v in batch[0]), 1.0, rel_tol=1e-2)
    assert batch[0] != batch[1]
    # a vector does not depend on its batch neighbours (needs the unified KV cache with parallel slots)
    for text, vector in zip(texts, batch):
        alone = embed([text])[0]
        assert sum(a * b for a, b in zip(alone, vector)) > 0.999


def test_llama_context_length_error(llama_server: Any) -> None:
    response = post_chat(llama_server.base_url, "word " * 6000, model="smollm2", max_tokens=4)  # n_ctx 4096
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "exceed_context_size_error"


def test_llama_launcher_with_api_key(tmp_path: Any) -> None:
    proc, url = start_llama_server(api_keys=["sk-llama"], parallel=1, n_ctx=1024, embedding=False,
                                   log_dir=str(tmp_path))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert post_chat(url + "/v1", "hi", model="smollm2", max_tokens=2).status_code == 401
        ok = post_chat(url + "/v1", "hi", model="smollm2", max_tokens=2,
                       headers={"Authorization": "Bearer sk-llama"})
        assert ok.status_code == 200
    finally:
        assert stop_process(proc) == 0  # SIGTERM: clean exit


# ---------------------------------------------------------------------------------------------
# LiteLLM proxy
# ---------------------------------------------------------------------------------------------
def azure_url(proxy: Any, deployment: str, operation: str = "chat/completions") -> str:
    return f"{proxy.target_uri}/openai/deployments/{deployment}/{operation}?api-version=2024-10-21"


def test_litellm_openai_route(litellm_proxy: Any) -> None:
    assert litellm_proxy["base_url"] == litellm_proxy.base_url and litellm_proxy.base_url.endswith("/v1")
    response = post_chat(litellm_proxy.base_url, model="mock-gpt", headers=litellm_proxy.headers)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the LiteLLM mock."
    mock_json = post_chat(litellm_proxy.base_url, model="mock-json", headers=litellm_proxy.headers)
    assert json.loads(mock_json.json()["choices"][0]["message"]["content"]) == {"sentiment": "positive"}


def test_litellm_azure_route(litellm_proxy: Any) -> None:
    headers = {"api-key": litellm_proxy.master_key}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    response = requests.post(azure_url(litellm_proxy, "mock-gpt"), json=body, headers=headers, timeout=180)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the LiteLLM mock."
    streamed = requests.post(azure_url(litellm_proxy, "mock-gpt"), headers=headers, timeout=30,
                             json={**body, "stream": True, "stream_options": {"include_usage": True}})
    _, events = sse_events(streamed)
    assert events[-1] == "[DONE]" and stream_text(events) == "Hello from the LiteLLM mock."
    unknown = requests.post(azure_url(litellm_proxy, "no-such-deployment"), json=body, headers=headers, timeout=180)
    assert unknown.status_code == 400


def test_litellm_stream_openai_route(litellm_proxy: Any) -> None:
    response = post_chat(litellm_proxy.base_url, model="mock-gpt", headers=litellm_proxy.headers, stream=True,
                         stream_options={"include_usage": True})
    _, events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert stream_text(events) == "Hello from the LiteLLM mock."
    assert any(isinstance(e, dict) and e.get("usage") for e in events)


def test_litellm_embeddings_both_routes(litellm_proxy: Any) -> None:
    openai_route = requests.post(litellm_proxy.base_url + "/embeddings", headers=litellm_proxy.headers,
                                 json={"model": "mock-embed", "input": ["a"]}, timeout=180)
    assert openai_route.status_code == 200 and openai_route.json()["data"][0]["embedding"] == [0.1, 0.2, 0.3]
    azure_route = requests.post(azure_url(litellm_proxy, "mock-embed", "embeddings"), json={"input": "a"},
                                headers={"api-key": litellm_proxy.master_key}, timeout=180)
    assert azure_route.status_code == 200 and azure_route.json()["data"][0]["embedding"] == [0.1, 0.2, 0.3]
    real = requests.post(azure_url(litellm_proxy, "smollm2-embed", "embeddings"), json={"input": "a"},
                         headers={"api-key": litellm_proxy.master_key}, timeout=180)
    assert real.status_code == 200 and len(real.json()["data"][0]["embedding"]) == 576


def test_litellm_routes_to_llama(litellm_proxy: Any) -> None:
    response = post_chat(litellm_proxy.base_url, "Say hello.", model="smollm2", max_tokens=8,
                         headers=litellm_proxy.headers)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].strip()


def test_litellm_auth_and_errors(litellm_proxy: Any) -> None:
    missing = post_chat(litellm_proxy.base_url, model="mock-gpt")
    assert missing.status_code == 401
    wrong = post_chat(litellm_proxy.base_url, model="mock-gpt", headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 400  # without a database, any other key is looked up as a virtual key
    unknown = post_chat(litellm_proxy.base_url, model="no-such-model", headers=litellm_proxy.headers)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "400"
    x_api_key = post_chat(litellm_proxy.base_url, model="mock-gpt", headers={"x-api-key": litellm_proxy.master_key})
    assert x_api_key.status_code == 200


def test_litellm_rate_limits(litellm_proxy: Any) -> None:
    throttled = post_chat(litellm_proxy.base_url, model="mock-429", headers=litellm_proxy.headers)
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    statuses = [post_chat(litellm_proxy.base_url, model="mock-limited", headers=litellm_proxy.headers)
                for _ in range(5)]  # rpm 3 per minute for the whole session
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and limited[0].json()["error"]["type"] == "rate_limit_error"


def test_fault_server_embeddings_faults(fault_server: FaultServer) -> None:
    fault_server.script("stream-cut", "keepalive", "503")
    url = fault_server.url + "/embeddings"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(url, json={"model": "e", "input": "a"}, timeout=10)
    padded = requests.post(url, json={"model": "e", "input": "a"}, timeout=10)
    assert padded.content.startswith(b"\n") and len(padded.json()["data"][0]["embedding"]) == 8
    assert requests.post(url, json={"model": "e", "input": "a"}, timeout=10).status_code == 503
