"""Ways of answering a request: the ``Fault`` value, its constructors, and the named modes (``MODES``).

Error bodies follow OpenAI's error envelope (https://platform.openai.com/docs/guides/error-codes).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, Mapping, Optional, Tuple, Union

JSON = "application/json"
SSE = "text/event-stream"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


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
    Kinds that replace the answer (respond, reset, malformed) are sent by ``answers.RESPONDERS``; the others
    shape the normal answer. A new replacing kind (a recorded answer replayed, say) adds a constructor here
    and a responder there.
    ``delay`` is waited before answering; ``interval`` between SSE events. With ``until`` (an event), each
    wait ends as soon as it is set: a test that sets it only after the client gave up gets a stall that no
    machine load can turn into an answer in time.
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
    until: Optional[threading.Event] = dataclasses.field(default=None, compare=False)

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until ``until`` is set if there is one (whichever comes first)."""
        if seconds <= 0:
            return
        if self.until is None:
            time.sleep(seconds)
        else:
            self.until.wait(seconds)

    # -- normal answers -------------------------------------------------------------------------
    @classmethod
    def ok(cls) -> Fault:
        """The normal answer (useful in a script: ``fs.script("500", Fault.ok(), "500")``)."""
        return cls()

    @classmethod
    def slow(cls, seconds: float, interval: float = 0.0, until: Optional[threading.Event] = None) -> Fault:
        """The normal answer after waiting ``seconds`` (and ``interval`` between SSE events); with ``until``,
        each wait ends when that event is set (``Fault.slow(120, until=done)`` stalls until the test says)."""
        return cls(label=f"slow-{seconds:g}", delay=seconds, interval=interval, until=until)

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
