"""The project's fault server: a real HTTP/1.1 server that speaks the OpenAI API and fails on demand.

In tests::

    with FaultServer() as fs:            # listens on 127.0.0.1, a free port
        fs.url                           # "http://127.0.0.1:PORT/v1" (OpenAI style base URL)
        fs.target_uri                    # "http://127.0.0.1:PORT" (Azure style target URI)
        fs.script("429", Fault.error(500), "reset")   # the next three calls fail, in that order
        fs.require_auth("sk-x", scheme="api-key")      # persistent rule
        ...
        fs.calls, fs.requests, fs.injected             # what happened

As a CLI (benchmarks): ``python tests/servers/fault_server.py --port 8100 --latency-ms 200 --rpm-limit 6000``
prints ``READY http://127.0.0.1:8100/v1`` and serves until SIGINT/SIGTERM.

Routes: ``POST {prefix}/chat/completions``, ``POST {prefix}/embeddings``, ``GET {prefix}/models`` (prefix
``/v1`` by default; ``/openai/v1`` is accepted too), and the Azure routes
``POST /openai/deployments/{name}/chat/completions|embeddings?api-version=...``.

Default answers are deterministic: chat content is ``"echo: " + <last user message>`` (a JSON object
under ``response_format``), usage counts whitespace-separated words, embeddings are unit vectors
derived from a hash of each input (dimension 8, or ``dimensions``).

Choosing what a request gets, first match wins:
1. the server-side RPM limit (``rpm_limit``): 429 when exceeded;
2. rules (``add_rule`` and the ``require_*``/``reject_*`` helpers), in the order they were added;
3. the one-shot queue (``script``);
4. content markers: ``FAIL:<mode>`` in the last user message (any input for embeddings) applies that
   mode every time; ``FAIL:<mode>*N`` only the first N times that same text is seen;
5. random faults (``set_fault_rate``);
6. the normal answer.
Anywhere a fault is expected, a mode name from ``MODES`` (or ``slow-<seconds>``, ``giant-<MB>``) works too.
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import email.utils
import hashlib
import json
import math
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

JSON = "application/json"
SSE = "text/event-stream"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
_MARKER = re.compile(r"FAIL:([A-Za-z0-9_\-]+(?:\.\d+)?)(?:\*(\d+))?")
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")


def oai_error(message: Any, type_: Optional[str] = "invalid_request_error", param: Optional[str] = None,
              code: Any = None, **extra: Any) -> Dict[str, Any]:
    """The canonical OpenAI error envelope."""
    error = {"message": message, "type": type_, "param": param, "code": code}
    error.update(extra)
    return {"error": error}


DEFAULT_ERRORS: Dict[int, Dict[str, Any]] = {
    400: oai_error("Bad request."),
    401: oai_error("Incorrect API key provided. You can find your API key at https://example.invalid.",
                   code="invalid_api_key"),
    403: oai_error("You are not allowed to access this model.", "permission_error", code="forbidden"),
    404: oai_error("The model does not exist or you do not have access to it.", code="model_not_found"),
    408: oai_error("Request timed out.", "timeout"),
    409: oai_error("Conflict: the request could not be completed.", "conflict"),
    422: oai_error("Unprocessable entity.", "invalid_request_error"),
    429: oai_error("Rate limit reached for requests per min (RPM). Please try again later.", "requests",
                   code="rate_limit_exceeded"),
    500: oai_error("The server had an error while processing your request. Sorry about that!",
                   "server_error"),
    502: {"error": {"code": 502, "message": "Bad gateway.", "param": None, "type": "cf_bad_gateway"}},
    503: oai_error("The server is overloaded or not ready yet.", "server_error"),
    504: oai_error("Gateway timeout.", "server_error"),
}

_HTML_PAGE = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
              "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclasses.dataclass(frozen=True)
class Fault:
    """One way of answering a request; build them with the class methods below.

    ``kind`` is one of: ok, respond, reset, cut, stream_error, keepalive, malformed, giant, filtered.
    ``delay`` is slept before answering; ``interval`` between SSE events.
    """

    kind: str = "ok"
    label: str = "ok"
    status: int = 200
    body: Any = None  # respond: dict (JSON), str/bytes (as is, with content_type) or None (empty)
    content_type: str = JSON
    headers: Tuple[Tuple[str, str], ...] = ()
    delay: float = 0.0
    interval: float = 0.0
    after: int = 2  # cut / stream_error: content events sent first
    size: int = 0  # giant: bytes of content
    retry_after_date: Optional[float] = None  # Retry-After as an HTTP date, this many seconds ahead

    # -- normal answers -------------------------------------------------------------------------
    @classmethod
    def ok(cls) -> Fault:
        """The normal answer (useful in a script: ``fs.script("500", Fault.ok(), "500")``)."""
        return cls()

    @classmethod
    def slow(cls, seconds: float, interval: float = 0.0) -> Fault:
        """The normal answer after sleeping ``seconds`` (and ``interval`` between SSE events)."""
        return cls(label=f"slow-{seconds:g}", delay=seconds, interval=interval)

    @classmethod
    def keepalive(cls, interval: float = 0.0) -> Fault:
        """A normal answer padded the way proxies pad it: SSE comments (``: keep-alive``,
        ``: OPENROUTER PROCESSING``), an Azure-style first chunk with ``choices: []`` and
        ``prompt_filter_results``, empty-choices chunks between deltas; for non-stream requests,
        blank lines before the JSON body."""
        return cls(kind="keepalive", label="keepalive", interval=interval)

    # -- HTTP errors ----------------------------------------------------------------------------
    @classmethod
    def error(cls, status: int, body: Any = "default", *, headers: Optional[Mapping[str, str]] = None,
              content_type: Optional[str] = None, label: Optional[str] = None) -> Fault:
        """An HTTP error. ``body``: "default" (an OpenAI-shaped body for the status), a dict (JSON),
        a str/bytes (sent as is, text/plain unless ``content_type``), or None (empty body)."""
        if isinstance(body, str) and body == "default":
            body = DEFAULT_ERRORS.get(status, oai_error(f"HTTP {status}", "server_error"))
        if content_type is None:
            content_type = JSON if isinstance(body, (dict, list)) or body is None else TEXT
        return cls(kind="respond", label=label or str(status), status=status, body=body,
                   content_type=content_type, headers=tuple((headers or {}).items()))

    @classmethod
    def rate_limit(cls, retry_after: Optional[float] = None, *, retry_after_ms: Optional[int] = None,
                   retry_after_date: Optional[float] = None, reset_requests: Optional[str] = None,
                   reset_tokens: Optional[str] = None, body: Any = "default") -> Fault:
        """429. ``retry_after``: seconds in ``Retry-After`` (an int is sent as an int, a float as is:
        ``0.5``); ``retry_after_ms``: ``retry-after-ms``; ``retry_after_date``: ``Retry-After`` as an
        HTTP date that many seconds ahead; ``reset_requests``/``reset_tokens``: ``x-ratelimit-reset-*``
        values such as ``"1s"``, ``"250ms"``. All None: no hint at all."""
        headers: Dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = (str(int(retry_after)) if float(retry_after).is_integer()
                                      else f"{retry_after:g}")
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(int(retry_after_ms))
        if reset_requests is not None:
            headers["x-ratelimit-reset-requests"] = reset_requests
            headers["x-ratelimit-remaining-requests"] = "0"
        if reset_tokens is not None:
            headers["x-ratelimit-reset-tokens"] = reset_tokens
            headers["x-ratelimit-remaining-tokens"] = "0"
        fault = cls.error(429, body, headers=headers, label="429")
        return dataclasses.replace(fault, retry_after_date=retry_after_date)

    @classmethod
    def quota(cls) -> Fault:
        """429 ``insufficient_quota`` (not worth retrying)."""
        return cls.error(429, oai_error("You exceeded your current quota, please check your plan and "
                                        "billing details.", "insufficient_quota", code="insufficient_quota"),
                         label="quota")

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """An HTML error page from a reverse proxy (nginx style)."""
        reason = BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
        return cls.error(status, _HTML_PAGE.format(code=status, reason=reason), content_type=HTML,
                         label=f"{status}-html")

    @classmethod
    def context_length(cls, limit: int = 4096) -> Fault:
        """400 ``context_length_exceeded`` (OpenAI wording)."""
        return cls.error(400, oai_error(
            f"This model's maximum context length is {limit} tokens. However, your messages resulted "
            f"in more tokens. Please reduce the length of the messages.", param="messages",
            code="context_length_exceeded"), label="context-length")

    @classmethod
    def content_filter(cls) -> Fault:
        """Azure's 400 for a prompt blocked by the content filter."""
        categories = {name: {"filtered": name == "violence", "severity": "high" if name == "violence" else "safe"}
                      for name in ("hate", "self_harm", "sexual", "violence")}
        categories["jailbreak"] = {"filtered": False, "detected": False}
        body = oai_error("The response was filtered due to the prompt triggering Azure OpenAI's content "
                         "management policy.", None, param="prompt", code="content_filter", status=400,
                         innererror={"code": "ResponsibleAIPolicyViolation",
                                     "content_filter_result": categories})
        return cls.error(400, body, label="content-filter")

    @classmethod
    def filtered(cls) -> Fault:
        """200 whose output was filtered: ``finish_reason: "content_filter"``, empty content."""
        return cls(kind="filtered", label="filtered")

    @classmethod
    def unsupported_param(cls, name: str = "max_completion_tokens", style: str = "openai") -> Fault:
        """A rejected request parameter, as OpenAI (400), vLLM (400, unwrapped) or Mistral (422,
        message is an object) word it."""
        if style == "openai":
            hint = {"max_completion_tokens": " Use 'max_tokens' instead.",
                    "max_tokens": " Use 'max_completion_tokens' instead."}.get(name, "")
            body: Dict[str, Any] = oai_error(f"Unsupported parameter: '{name}' is not supported with this "
                                             f"model.{hint}", param=name, code="unsupported_parameter")
            return cls.error(400, body, label=f"unsupported-param:{name}")
        if style == "vllm":
            detail = [{"type": "extra_forbidden", "loc": ("body", name), "msg": "Extra inputs are not permitted"}]
            body = {"object": "error", "message": str(detail), "type": "BadRequestError", "param": None,
                    "code": 400}
            return cls.error(400, body, label=f"unsupported-param-vllm:{name}")
        if style == "mistral":
            detail = [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted",
                       "url": "https://errors.pydantic.dev/2.6/v/extra_forbidden"}]
            body = {"object": "error", "message": {"detail": detail}, "type": "invalid_request_error",
                    "param": None, "code": None}
            return cls.error(422, body, label=f"unsupported-param-mistral:{name}")
        raise ValueError(f"unknown style {style!r} (openai, vllm, mistral)")

    @classmethod
    def developer_role(cls, status: int = 422) -> Fault:
        """The ``developer`` role rejected, in DeepSeek's (serde) wording."""
        return cls.error(status, oai_error(
            "Failed to deserialize the JSON body into the target type: messages[0].role: unknown variant "
            "`developer`, expected one of `system`, `user`, `assistant`, `tool` at line 1 column 28",
            code="invalid_request_error"), label="developer-role")

    @classmethod
    def stream_unsupported(cls) -> Fault:
        """400 "stream is not supported"."""
        return cls.error(400, oai_error("stream is not supported", param="stream", code="unsupported_value"),
                         label="stream-unsupported")

    # -- broken answers -------------------------------------------------------------------------
    @classmethod
    def reset(cls) -> Fault:
        """Close the connection with a TCP RST (SO_LINGER 0) without answering."""
        return cls(kind="reset", label="reset")

    @classmethod
    def malformed(cls) -> Fault:
        """200 whose JSON body is cut in the middle."""
        return cls(kind="malformed", label="malformed")

    @classmethod
    def error_200(cls) -> Fault:
        """200 whose body is an error envelope."""
        return cls.error(200, oai_error("Internal error while generating.", "server_error", code=500),
                         label="error-200")

    @classmethod
    def empty_200(cls) -> Fault:
        """200 with an empty body."""
        return cls.error(200, None, label="empty-200")

    @classmethod
    def stream_cut(cls, after: int = 2) -> Fault:
        """The connection drops after ``after`` content events (no ``[DONE]``, unterminated chunked
        body); a non-stream answer is cut half-way through its announced Content-Length."""
        return cls(kind="cut", label="stream-cut", after=after)

    @classmethod
    def stream_error(cls, after: int = 1) -> Fault:
        """After ``after`` content events, a ``data: {"error": {...}}`` event, then the stream ends
        without ``[DONE]``; a non-stream request gets a 200 error body."""
        return cls(kind="stream_error", label="stream-error", after=after)

    @classmethod
    def giant(cls, mb: float = 5.0) -> Fault:
        """200 whose content is ``mb`` megabytes of text."""
        return cls(kind="giant", label=f"giant-{mb:g}", size=int(mb * 1024 * 1024))


MODES: Dict[str, Fault] = {
    "ok": Fault.ok(),
    "429": Fault.rate_limit(1),
    "429-none": Fault.rate_limit(),
    "429-frac": Fault.rate_limit(0.2),
    "429-date": Fault.rate_limit(retry_after_date=1),
    "429-ms": Fault.rate_limit(retry_after_ms=100),
    "429-reset": Fault.rate_limit(reset_requests="250ms"),
    "429-reset-1s": Fault.rate_limit(reset_requests="1s"),
    "quota": Fault.quota(),
    **{str(code): Fault.error(code) for code in (400, 401, 403, 404, 408, 409, 422, 500, 502, 503, 504)},
    **{f"{code}-empty": Fault.error(code, None, label=f"{code}-empty") for code in (500, 502, 503)},
    "500-text": Fault.error(500, "Internal Server Error", label="500-text"),
    "502-html": Fault.html(502),
    "504-html": Fault.html(504),
    "unknown-model": Fault.error(404, label="unknown-model"),
    "reset": Fault.reset(),
    "malformed": Fault.malformed(),
    "error-200": Fault.error_200(),
    "empty-200": Fault.empty_200(),
    "stream-cut": Fault.stream_cut(),
    "stream-error": Fault.stream_error(),
    "keepalive": Fault.keepalive(),
    "slow": Fault.slow(2.0),
    "giant": Fault.giant(),
    "context-length": Fault.context_length(),
    "content-filter": Fault.content_filter(),
    "filtered": Fault.filtered(),
    "stream-unsupported": Fault.stream_unsupported(),
    "developer-role": Fault.developer_role(),
    "unsupported-param": Fault.unsupported_param(),
    "unsupported-param-vllm": Fault.unsupported_param("seed", "vllm"),
    "unsupported-param-mistral": Fault.unsupported_param("max_completion_tokens", "mistral"),
}

MODES = {name: dataclasses.replace(fault, label=name) for name, fault in MODES.items()}
FaultLike = Union[Fault, str]
DEFAULT_RANDOM_MODES = ("429", "500", "502", "503", "reset")


def resolve(fault: FaultLike) -> Fault:
    """A Fault from a Fault or a mode name (``MODES`` keys, ``slow-<seconds>``, ``giant-<MB>``)."""
    if isinstance(fault, Fault):
        return fault
    if fault in MODES:
        return MODES[fault]
    for prefix, factory in (("slow-", Fault.slow), ("giant-", Fault.giant)):
        if fault.startswith(prefix):
            try:
                return factory(float(fault[len(prefix):]))
            except ValueError:
                break
    raise KeyError(f"unknown fault mode {fault!r}; known: {', '.join(sorted(MODES))}, slow-N, giant-N")


@dataclasses.dataclass
class RecordedRequest:
    """One request as the server saw it. Header names are lower-case."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    raw: bytes
    body: Any  # parsed JSON, or None if absent or invalid
    route: Optional[str] = None  # "chat", "embeddings", "models" or None (unknown path)
    deployment: Optional[str] = None  # Azure deployment name
    fault: str = "ok"  # label of what it got
    client_port: int = 0  # the client's TCP port: equal ports mean a reused (keep-alive) connection

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    @property
    def json(self) -> Dict[str, Any]:
        """The JSON body as a dict (empty if it was not an object)."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def model(self) -> Optional[str]:
        """The model asked for: the body's ``model``, else the Azure deployment."""
        model = self.json.get("model")
        return model if isinstance(model, str) else self.deployment

    @property
    def stream(self) -> bool:
        """True if the request asked for SSE."""
        return self.json.get("stream") is True

    @property
    def text(self) -> str:
        """The text answers echo and markers are looked for in: the last user message (chat) or
        all string inputs joined by newlines (embeddings)."""
        if self.route == "embeddings":
            return "\n".join(item for item in _inputs(self.json.get("input")) if isinstance(item, str))
        return last_user_text(self.json.get("messages"))


Predicate = Callable[[RecordedRequest], bool]


@dataclasses.dataclass
class Rule:
    """A persistent (or ``times``-limited) fault applied when ``when(request)`` is true."""

    fault: Fault
    when: Optional[Predicate] = None
    times: Optional[int] = None
    hits: int = 0


# -- predicates ---------------------------------------------------------------------------------
def when_param(name: str) -> Predicate:
    """The JSON body has this top-level key."""
    return lambda req: name in req.json


def when_stream(req: RecordedRequest) -> bool:
    """The request asks for streaming."""
    return req.stream


def when_role(role: str) -> Predicate:
    """A message has this role."""
    return lambda req: any(isinstance(m, dict) and m.get("role") == role for m in req.json.get("messages") or ())


def when_route(*routes: str) -> Predicate:
    """The request is for one of these routes ("chat", "embeddings", "models")."""
    return lambda req: req.route in routes


def when_text(substring: str) -> Predicate:
    """The request's text (see ``RecordedRequest.text``) contains substring."""
    return lambda req: substring in req.text


# -- content helpers ----------------------------------------------------------------------------
def content_text(content: Any) -> str:
    """The text of a message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") in ("text", None))
    return ""


def last_user_text(messages: Any) -> str:
    """The text of the last user message ("" if there is none)."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def words(text: str) -> int:
    """Usage is counted in whitespace-separated words."""
    return len(text.split())


def _inputs(value: Any) -> List[Any]:
    """Embedding inputs as a list: strings, or token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    return list(value) if isinstance(value, list) else []


def embedding_vector(item: Any, dimensions: int = 8) -> List[float]:
    """A deterministic unit vector derived from a hash of the input."""
    seed = item if isinstance(item, str) else json.dumps(item)
    data = b""
    counter = 0
    while len(data) < dimensions:
        data += hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        counter += 1
    raw = [byte / 127.5 - 1.0 for byte in data[:dimensions]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def schema_example(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A simple value valid against a simple JSON schema: strings "echo", numbers 1, booleans true,
    enums their first value, objects one value per property, arrays one item; local $refs resolved."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 20:
        return "echo"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_example(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return schema_example((options or schema[key])[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: schema_example(sub, root, depth + 1)
                for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [schema_example(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        value = 1
        if "minimum" in schema and value < schema["minimum"]:
            value = math.ceil(schema["minimum"])
        if "maximum" in schema and value > schema["maximum"]:
            value = math.floor(schema["maximum"])
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = "echo"
    if schema.get("minLength", 0) > len(text):
        text = text + "o" * (int(schema["minLength"]) - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# -- the HTTP plumbing --------------------------------------------------------------------------
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that go away are normal here; anything else is a bug worth printing."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)) or self.owner._stopping:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-server"
    disable_nagle_algorithm = True
    server: _HTTPServer
    _chunked = True

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def do_PUT(self) -> None:
        self.server.owner._handle(self)

    def do_DELETE(self) -> None:
        self.server.owner._handle(self)

    # -- writers --
    def send_bytes(self, status: int, body: bytes, content_type: str = JSON,
                   headers: Iterable[Tuple[str, str]] = (), length: Optional[int] = None) -> None:
        """Status line, headers and body in a single write."""
        reason = self.responses.get(status, ("",))[0]
        head = [f"HTTP/1.1 {status} {reason}", f"Server: {self.server_version}",
                f"Content-Type: {content_type}", f"Content-Length: {len(body) if length is None else length}"]
        head += [f"{name}: {value}" for name, value in headers]
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def start_stream(self, headers: Iterable[Tuple[str, str]] = ()) -> bool:
        """Send the headers of an SSE answer; returns True if the body is chunked (HTTP/1.1)."""
        chunked = self.request_version == "HTTP/1.1"
        if not chunked:
            self.close_connection = True
        head = ["HTTP/1.1 200 OK", f"Server: {self.server_version}", f"Content-Type: {SSE}",
                "Cache-Control: no-cache"]
        head += [f"{name}: {value}" for name, value in headers]
        head.append("Transfer-Encoding: chunked" if chunked else "Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        self._chunked = chunked
        return chunked

    def write_event(self, data: bytes) -> None:
        """One piece of an SSE body (framed as an HTTP chunk when chunked)."""
        if self._chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def end_stream(self) -> None:
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """Close the connection now, with a FIN (an incomplete answer, not a reset)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self) -> None:
        """Close the connection with a TCP RST: SO_LINGER on, timeout 0, then close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class FaultServer:
    """An OpenAI-compatible HTTP server with scriptable faults (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, prefix: str = "/v1",
                 latency_ms: float = 0, rpm_limit: Optional[float] = None, rpm_retry_after: bool = True,
                 models: Sequence[str] = ("fault-chat", "fault-embed"), record: bool = True,
                 markers: bool = True, verbose: bool = False) -> None:
        self.host = host
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.models = list(models)
        self.record = record
        self.markers = markers
        self.verbose = verbose
        self.rpm_retry_after = rpm_retry_after
        self._defaults = (latency_ms, rpm_limit)
        self._lock = threading.Lock()
        self._connections: set = set()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._httpd = _HTTPServer((host, port), _Handler, bind_and_activate=True)
        self._httpd.owner = self
        self.port: int = int(self._httpd.server_address[1])
        self._init_state()

    def _init_state(self) -> None:
        self._calls = 0
        self._requests: List[RecordedRequest] = []
        self._queue: Deque[Fault] = collections.deque()
        self._rules: List[Rule] = []
        self._marker_counts: Dict[Tuple[str, str], int] = {}
        self._fault_rate = 0.0
        self._fault_modes: List[Fault] = []
        self._rng = random.Random(0)
        self._random_routes: Tuple[str, ...] = ("chat", "embeddings")
        self.injected: collections.Counter = collections.Counter()
        self.latency_ms, self.rpm_limit = self._defaults
        self._bucket_rpm: Optional[float] = None
        self._tokens = 0.0
        self._stamp = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def target_uri(self) -> str:
        """``http://HOST:PORT`` (no ``/v1``): the Azure-style target URI."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ``http://HOST:PORT/v1``."""
        return self.target_uri + self.prefix

    def start(self) -> FaultServer:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fault-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        self._stopping = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- observing ------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Requests received (all routes) since start or ``reset()``."""
        return self._calls

    @property
    def requests(self) -> List[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._requests)

    def calls_to(self, route: str) -> int:
        """How many recorded requests went to route ("chat", "embeddings", "models")."""
        return sum(1 for req in self.requests if req.route == route)

    def reset(self) -> None:
        """Forget calls, requests and counters, and remove every rule, script and fault rate."""
        with self._lock:
            self._init_state()

    # -- scripting ------------------------------------------------------------------------------
    def script(self, *faults: FaultLike) -> None:
        """Queue one-shot faults: the next calls get them, in order (after rules, before markers)."""
        resolved = [resolve(f) for f in faults]
        with self._lock:
            self._queue.extend(resolved)

    @property
    def pending(self) -> int:
        """One-shot faults not yet used."""
        return len(self._queue)

    def add_rule(self, fault: FaultLike, when: Optional[Predicate] = None,
                 times: Optional[int] = None) -> Rule:
        """Apply fault to every request for which ``when`` is true (all if None), at most ``times``
        times (forever if None). Rules are tried in the order they were added."""
        rule = Rule(resolve(fault), when, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def always(self, fault: FaultLike) -> Rule:
        """Apply fault to every request."""
        return self.add_rule(fault)

    def remove_rule(self, rule: Rule) -> None:
        """Remove a rule added earlier."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def require_auth(self, key: str, scheme: str = "bearer", status: int = 401) -> Rule:
        """Answer ``status`` unless the request carries key. ``scheme``: "bearer"
        (``Authorization: Bearer``), "api-key", "x-api-key", "header:<Name>", "query:<param>",
        or "any" (bearer, api-key or x-api-key)."""
        def accepted(req: RecordedRequest) -> bool:
            bearer = req.header("authorization") == f"Bearer {key}"
            if scheme == "bearer":
                return bearer
            if scheme in ("api-key", "x-api-key"):
                return req.header(scheme) == key
            if scheme.startswith("header:"):
                return req.header(scheme[len("header:"):]) == key
            if scheme.startswith("query:"):
                return req.query.get(scheme[len("query:"):]) == key
            if scheme == "any":
                return bearer or key in (req.header("api-key"), req.header("x-api-key"))
            raise ValueError(f"unknown auth scheme {scheme!r}")

        accepted(RecordedRequest("GET", "/", {}, {}, b"", None))  # validates scheme now
        fault = Fault.error(status, DEFAULT_ERRORS[401] if status == 401 else "default", label="auth")
        return self.add_rule(fault, lambda req: not accepted(req))

    def require_header(self, name: str, value: Optional[str] = None, status: int = 401,
                       message: Optional[str] = None) -> Rule:
        """Answer ``status`` unless header ``name`` is present (and equals ``value`` if given)."""
        text = message or (f"Missing or invalid header '{name}'.")
        fault = Fault.error(status, oai_error(text, "invalid_request_error", code="missing_header"),
                            label=f"header:{name}")

        def missing(req: RecordedRequest) -> bool:
            got = req.header(name)
            return got is None or (value is not None and got != value)

        return self.add_rule(fault, missing)

    def reject_param(self, name: str, style: str = "openai") -> Rule:
        """Reject requests whose body has ``name`` (styles: openai, vllm, mistral)."""
        return self.add_rule(Fault.unsupported_param(name, style), when_param(name))

    def reject_stream(self) -> Rule:
        """400 "stream is not supported" for ``stream: true``."""
        return self.add_rule(Fault.stream_unsupported(), when_stream)

    def reject_role(self, role: str = "developer") -> Rule:
        """Reject messages with this role (DeepSeek's wording for ``developer``)."""
        fault = Fault.developer_role() if role == "developer" else Fault.error(
            400, oai_error(f"Invalid value: '{role}'. Supported values are: 'system', 'user', 'assistant'.",
                           param="messages[0].role", code="invalid_value"), label=f"role:{role}")
        return self.add_rule(fault, when_role(role))

    def reject_unknown_models(self, status: int = 404) -> Rule:
        """Answer ``status`` (model_not_found) when the model is not in ``self.models``."""
        def unknown(req: RecordedRequest) -> bool:
            return req.route in ("chat", "embeddings") and req.model not in self.models

        return self.add_rule(Fault.error(status, label="unknown-model"), unknown)

    def set_context_limit(self, max_words: int) -> Rule:
        """400 ``context_length_exceeded`` when the messages hold more than max_words words."""
        def too_long(req: RecordedRequest) -> bool:
            messages = req.json.get("messages") or []
            return sum(words(content_text(m.get("content"))) for m in messages if isinstance(m, dict)) > max_words

        return self.add_rule(Fault.context_length(max_words), too_long)

    def set_fault_rate(self, rate: float, modes: Sequence[FaultLike] = DEFAULT_RANDOM_MODES,
                       seed: int = 0, routes: Sequence[str] = ("chat", "embeddings")) -> None:
        """Fail a random ``rate`` (0..1) of the requests to ``routes``, each with a mode drawn
        uniformly from ``modes``; seeded, so a sequential run is reproducible. ``rate=0`` turns it off."""
        resolved = [resolve(m) for m in modes]
        with self._lock:
            self._fault_rate = float(rate)
            self._fault_modes = resolved
            self._rng = random.Random(seed)
            self._random_routes = tuple(routes)

    # -- request handling -----------------------------------------------------------------------
    def _route(self, path: str) -> Tuple[Optional[str], Optional[str]]:
        for prefix in {self.prefix, "/openai/v1"}:
            if path.startswith(prefix + "/"):
                rest = path[len(prefix):]
                if rest in ("/chat/completions", "/embeddings", "/models"):
                    return {"/chat/completions": "chat", "/embeddings": "embeddings", "/models": "models"}[rest], None
        match = _AZURE.match(path)
        if match:
            return ("chat" if match.group(2) == "chat/completions" else "embeddings"), match.group(1)
        return None, None

    def _take_rpm_token(self) -> Optional[float]:
        """Token bucket refilled at rpm/60 per second, holding one second's worth. Returns None if
        the request may go on, else the seconds until it could."""
        rpm = self.rpm_limit
        if not rpm:
            return None
        rate = rpm / 60.0
        capacity = max(1.0, rate)
        now = time.monotonic()
        if self._bucket_rpm != rpm:
            self._bucket_rpm, self._tokens, self._stamp = rpm, capacity, now
        self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate

    def _choose(self, req: RecordedRequest) -> Optional[Fault]:
        """Pick the fault for this request (None: the normal answer). Called with the lock held."""
        if req.route in ("chat", "embeddings"):
            wait = self._take_rpm_token()
            if wait is not None:
                headers: Dict[str, str] = {"x-ratelimit-limit-requests": str(int(self.rpm_limit or 0)),
                                           "x-ratelimit-remaining-requests": "0",
                                           "x-ratelimit-reset-requests": f"{max(1, int(wait * 1000))}ms"}
                if self.rpm_retry_after:
                    headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return Fault.error(429, headers=headers, label="rpm-limit")
        for rule in self._rules:
            if rule.when is None or rule.when(req):
                rule.hits += 1
                if rule.times is not None and rule.hits >= rule.times:
                    self._rules.remove(rule)
                return rule.fault
        if self._queue:
            return self._queue.popleft()
        if self.markers and req.route in ("chat", "embeddings"):
            text = req.text
            if "FAIL:" in text:
                for match in _MARKER.finditer(text):
                    name, limit = match.group(1), match.group(2)
                    if limit is not None:
                        key = (match.group(0), text)
                        seen = self._marker_counts.get(key, 0)
                        if seen >= int(limit):
                            continue
                        self._marker_counts[key] = seen + 1
                    try:
                        return resolve(name)
                    except KeyError as exc:
                        return Fault.error(400, oai_error(f"fault server: {exc.args[0]}"), label="bad-marker")
        if self._fault_rate > 0 and req.route in self._random_routes and self._fault_modes:
            if self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_modes)
        return None

    def _handle(self, h: _Handler) -> None:
        """Read, record, choose and answer one request."""
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        body: Any = None
        invalid_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                invalid_json = True
        parts = urlsplit(h.path)
        route, deployment = self._route(parts.path)
        req = RecordedRequest(method=h.command, path=parts.path, query=dict(parse_qsl(parts.query)),
                              headers={k.lower(): v for k, v in h.headers.items()}, raw=raw, body=body,
                              route=route, deployment=deployment, client_port=int(h.client_address[1]))
        with self._lock:
            self._calls += 1
            number = self._calls
            if self.record:
                self._requests.append(req)
            fault = self._choose(req) if route is not None else None
            if fault is not None:
                req.fault = fault.label
                self.injected[fault.label] += 1
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        request_id = ("x-request-id", f"req-fault-{number}")
        if fault is not None and fault.kind not in ("ok", "keepalive", "filtered", "giant", "cut", "stream_error"):
            self._send_fault(h, fault, request_id)
            return
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        problem = self._validate(h.command, req, route, invalid_json)
        if problem is not None:
            status, error = problem
            req.fault = f"invalid-{status}"
            h.send_bytes(status, _dumps(error), headers=[request_id])
            return
        extra = [request_id]
        if self.rpm_limit:
            extra += [("x-ratelimit-limit-requests", str(int(self.rpm_limit))),
                      ("x-ratelimit-remaining-requests", str(int(self._tokens)))]
        if route == "models":
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fault-server"}
                    for m in self.models]
            h.send_bytes(200, _dumps({"object": "list", "data": data}), headers=extra)
        elif route == "embeddings":
            self._answer_embeddings(h, req, fault or Fault.ok(), extra)
        else:
            self._answer_chat(h, req, fault or Fault.ok(), number, extra)

    def _validate(self, method: str, req: RecordedRequest, route: Optional[str],
                  invalid_json: bool) -> Optional[Tuple[int, Dict[str, Any]]]:
        """OpenAI-like checks of the request; returns (status, body) of the error, if any."""
        if route is None:
            return 404, oai_error(f"Invalid URL ({method} {req.path})", code="unknown_url")
        expected = "GET" if route == "models" else "POST"
        if method != expected:
            return 405, oai_error(f"Method {method} not allowed on {req.path}", code="method_not_allowed")
        if req.deployment is not None and "api-version" not in req.query:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        if route == "models":
            return None
        if invalid_json or not isinstance(req.body, dict):
            return 400, oai_error("We could not parse the JSON body of your request. (HINT: This likely "
                                  "means you aren't using your HTTP library correctly.)")
        if req.deployment is None and not isinstance(req.body.get("model"), str):
            return 400, oai_error("you must provide a model parameter", param="model")
        if route == "chat":
            messages = req.body.get("messages")
            if not isinstance(messages, list) or not messages:
                return 400, oai_error("Missing required parameter: 'messages'.", param="messages",
                                      code="missing_required_parameter")
        else:
            items = _inputs(req.body.get("input"))
            if not items:
                return 400, oai_error("'input' must be a non-empty string or array.", param="input")
            dims = req.body.get("dimensions", 8)
            if not isinstance(dims, int) or not 1 <= dims <= 4096:
                return 400, oai_error("'dimensions' must be an integer between 1 and 4096.", param="dimensions")
        return None

    def _send_fault(self, h: _Handler, fault: Fault, request_id: Tuple[str, str]) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.kind == "reset":
            h.reset()
            return
        if fault.kind == "malformed":
            h.send_bytes(200, b'{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,'
                              b'"message":{"role":"assistant","content":"unfinish', headers=[request_id])
            return
        body = fault.body
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = _dumps(body)
        headers = [request_id, *fault.headers]
        if fault.retry_after_date is not None:
            headers.append(("Retry-After", email.utils.formatdate(time.time() + fault.retry_after_date,
                                                                  usegmt=True)))
        h.send_bytes(fault.status, data, fault.content_type, headers)

    # -- normal answers -------------------------------------------------------------------------
    @staticmethod
    def _send_answer(h: _Handler, data: bytes, fault: Fault, extra: List[Tuple[str, str]]) -> None:
        """Send a non-stream 200 JSON answer, broken as ``fault`` says (cut, error body, padding)."""
        if fault.kind == "keepalive":
            data = b"\n\n\n" + data
        if fault.kind == "cut":
            h.send_bytes(200, data[: len(data) // 2], headers=extra, length=len(data))
            h.drop()
        elif fault.kind == "stream_error":
            h.send_bytes(200, _dumps(oai_error("The server had an error while processing your request.",
                                               "server_error")), headers=extra)
        else:
            h.send_bytes(200, data, headers=extra)

    def _answer_embeddings(self, h: _Handler, req: RecordedRequest, fault: Fault,
                           extra: List[Tuple[str, str]]) -> None:
        body = req.json
        dims = body.get("dimensions", 8)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(_inputs(body.get("input"))):
            vector = embedding_vector(item, dims)
            tokens += words(item) if isinstance(item, str) else len(item)
            value: Any = (base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                          if as_base64 else vector)
            data.append({"object": "embedding", "index": index, "embedding": value})
        answer = {"object": "list", "data": data, "model": req.model,
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        self._send_answer(h, _dumps(answer), fault, extra)

    def _answer_chat(self, h: _Handler, req: RecordedRequest, fault: Fault, number: int,
                     extra: List[Tuple[str, str]]) -> None:
        body = req.json
        text = last_user_text(body.get("messages"))
        response_format = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
        kind = response_format.get("type")
        if fault.kind == "giant":
            content = ("lorem ipsum " * (fault.size // 12 + 1))[: fault.size]
        elif fault.kind == "filtered":
            content = ""
        elif kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            content = json.dumps(schema_example(spec.get("schema") or {}))
        elif kind == "json_object":
            content = json.dumps({"echo": text})
        else:
            content = "echo: " + text
        finish = "content_filter" if fault.kind == "filtered" else "stop"
        prompt_words = sum(words(content_text(m.get("content")))
                           for m in body.get("messages") or [] if isinstance(m, dict))
        usage = {"prompt_tokens": prompt_words, "completion_tokens": words(content),
                 "total_tokens": prompt_words + words(content)}
        ident, created, model = f"chatcmpl-fault{number}", int(time.time()), req.model
        if not req.stream:
            message = {"role": "assistant", "content": content}
            choice: Dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            if fault.kind == "filtered":
                choice["content_filter_results"] = {"violence": {"filtered": True, "severity": "high"}}
            answer = {"id": ident, "object": "chat.completion", "created": created, "model": model,
                      "choices": [choice], "usage": usage}
            self._send_answer(h, _dumps(answer), fault, extra)
            return
        self._stream_chat(h, req, fault, content, finish, usage, (ident, created, model), extra)

    def _stream_chat(self, h: _Handler, req: RecordedRequest, fault: Fault, content: str, finish: str,
                     usage: Dict[str, int], meta: Tuple[str, int, Optional[str]],
                     extra: List[Tuple[str, str]]) -> None:
        ident, created, model = meta
        base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}

        def chunk(delta: Dict[str, Any], finish_reason: Optional[str] = None) -> bytes:
            payload = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                           "finish_reason": finish_reason}])
            return b"data: " + _dumps(payload) + b"\n\n"

        pieces = re.findall(r"\S+\s*", content) or ([content] if content else [])
        options = req.json.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        noisy = fault.kind == "keepalive"
        h.start_stream(extra)

        def send(data: bytes) -> None:
            if fault.interval:
                time.sleep(fault.interval)
            h.write_event(data)
            if noisy:
                h.write_event(b": keep-alive\n\n")

        if noisy:
            h.write_event(b": OPENROUTER PROCESSING\n\n")
            h.write_event(b"data: " + _dumps(dict(base, choices=[], prompt_filter_results=[
                {"prompt_index": 0, "content_filter_results": {}}])) + b"\n\n")
        send(chunk({"role": "assistant", "content": ""}))
        for count, piece in enumerate(pieces):
            if fault.kind in ("cut", "stream_error") and count >= fault.after:
                break
            send(chunk({"content": piece}))
            if noisy:
                h.write_event(b"data: " + _dumps(dict(base, choices=[])) + b"\n\n")
        if fault.kind == "cut":
            h.drop()
            return
        if fault.kind == "stream_error":
            h.write_event(b"data: " + _dumps(oai_error("The server had an error while processing your "
                                                       "request.", "server_error")) + b"\n\n")
            h.end_stream()
            return
        send(chunk({}, finish))
        if include_usage:
            send(b"data: " + _dumps(dict(base, choices=[], usage=usage)) + b"\n\n")
        h.write_event(b"data: [DONE]\n\n")
        h.end_stream()


def main(argv: Optional[List[str]] = None) -> int:
    """CLI: serve until SIGINT/SIGTERM; print a summary of calls and injected faults to stderr."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible fault server (benchmarks, manual tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--prefix", default="/v1")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--rpm-limit", type=float, default=None, help="429 above this many requests/min")
    parser.add_argument("--no-retry-after", action="store_true", help="RPM 429s without Retry-After")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="random fault probability (0..1)")
    parser.add_argument("--fault-modes", default=",".join(DEFAULT_RANDOM_MODES), help="comma-separated modes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require this key (any of Bearer, api-key, x-api-key)")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    server = FaultServer(args.host, args.port, prefix=args.prefix, latency_ms=args.latency_ms,
                         rpm_limit=args.rpm_limit, rpm_retry_after=not args.no_retry_after,
                         record=args.record, verbose=args.verbose)
    if args.api_key:
        server.require_auth(args.api_key, "any")
    if args.fault_rate:
        server.set_fault_rate(args.fault_rate, [m for m in args.fault_modes.split(",") if m], args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(f"READY {server.url}", flush=True)
        while not stop.wait(0.5):
            pass
    print(f"calls={server.calls} injected={dict(server.injected)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
