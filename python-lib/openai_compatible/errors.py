"""One family of exceptions for every provider, built from the many error shapes they send.

Every exception carries the provider's own words (``provider_message``), the HTTP status, and the
``param`` the provider blamed when it named one. ``kind`` is a short, stable label written to the
``*_error_type`` output columns.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any, Mapping, Optional

from .context_limit import is_context_length_message


class OpenAICompatibleError(Exception):
    """Base class of every error raised by this library."""

    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        param: Optional[str] = None,
        error_type: Optional[str] = None,
        provider_message: Optional[str] = None,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.error_type = error_type
        self.provider_message = provider_message
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class SettingsError(OpenAICompatibleError, ValueError):
    """The preset or a call's arguments are wrong; raised before any request is sent."""

    kind = "settings"


class InvalidArgumentError(SettingsError, TypeError):
    """A call's argument has the wrong type or shape (a string where a list of messages is expected...): a
    ``TypeError`` as Python code expects, and a :class:`SettingsError` as the rest of this library's input errors."""


class AuthenticationError(OpenAICompatibleError):
    """The provider refused the credentials (HTTP 401, or a gateway's equivalent)."""

    kind = "authentication"


class PermissionDeniedError(OpenAICompatibleError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""

    kind = "permission"


class UnknownModelError(OpenAICompatibleError):
    """The model or deployment does not exist on the provider, or the preset doesn't offer it."""

    kind = "unknown_model"


class BadRequestError(OpenAICompatibleError):
    """The provider rejected the request (HTTP 400/422); ``param`` names the field when known."""

    kind = "bad_request"


class ContextLengthError(BadRequestError):
    """The prompt plus the requested output exceed the model's context window."""

    kind = "context_length"


class ContentFilterError(BadRequestError):
    """The provider's content filter blocked the prompt or the answer."""

    kind = "content_filter"


class RateLimitError(OpenAICompatibleError):
    """Too many requests (HTTP 429); retried after the provider's hint or a backoff."""

    kind = "rate_limited"
    retryable = True


class QuotaExceededError(RateLimitError):
    """The account's quota or credit is exhausted: retrying cannot help."""

    kind = "quota_exhausted"
    retryable = False


class ServerError(OpenAICompatibleError):
    """The provider failed (HTTP 5xx, 408, 409)."""

    kind = "server_error"
    retryable = True


class APIConnectionError(OpenAICompatibleError):
    """The provider could not be reached, or the connection broke. ``unreachable`` is True when no server was
    reached at all (connection refused, unknown host): a service that is down rather than one that restarted."""

    kind = "connection"
    retryable = True
    unreachable = False


class APITimeoutError(APIConnectionError):
    """No answer within the connection's timeouts; a connection error, as in the openai SDK and requests
    (catch it before :class:`APIConnectionError` to tell the two apart)."""

    kind = "timeout"
    retryable = True


class InvalidResponseError(OpenAICompatibleError):
    """The provider answered, but not with the JSON or the stream the API specifies."""

    kind = "invalid_response"
    retryable = True


class OutputValidationError(OpenAICompatibleError):
    """The model's answer doesn't satisfy what was asked (invalid JSON, a label outside the classes)."""

    kind = "invalid_output"


# --- reading error bodies -------------------------------------------------------------------------

_BODY_KEEP = 2000


def _as_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _has_words(value: Any) -> bool:
    """Whether a field says something: non-blank text, a number, a non-empty object or list. A null, an empty or
    blank string, ``false`` or an empty container is a field a server filled by habit, never the error's words."""
    if isinstance(value, str):
        return bool(value.strip())
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (dict, list)):
        return bool(value)
    return True


def _words(value: Any) -> Optional[str]:
    """The field as text when it says something (:func:`_has_words`), else None."""
    return _as_text(value) if _has_words(value) else None


def _empty_error() -> dict[str, Any]:
    return {"message": None, "type": None, "code": None, "param": None, "detail": None, "retry_delay": None}


def parse_error_body(text: str) -> dict[str, Any]:
    """Extracts ``message``, ``type``, ``code`` and ``param`` from any known error body shape.

    Handles the OpenAI envelope, Google's ``google.rpc.Status`` envelope (``code``, ``message``, ``status``,
    ``details``: https://cloud.google.com/apis/design/errors), alone or in a one-element JSON array as Gemini's
    OpenAI layer sends it (google-gemini/gemini-cli#12823), a bare string ``error`` (TGI), FastAPI ``detail``,
    Cloudflare ``errors[]``, APIM ``statusCode``/``message``, Spring's ``error`` reason phrase beside its
    ``message``, vLLM's unwrapped ``{"object": "error"}``, Mistral's object-valued ``message``, errors nested in
    gateways' errors, and an error body sent as the text of a gateway's message. A field that says nothing (null,
    empty) never hides words elsewhere. Non-JSON bodies (HTML pages) become a short text message.
    """
    try:
        data: Any = json.loads(text) if text.strip() else None
    except ValueError:
        out = _empty_error()
        out["message"] = plain_text(text)
        return out
    return read_error(data)


def read_error(data: Any, depth: int = 0) -> dict[str, Any]:
    """:func:`parse_error_body` for a body already parsed from JSON (all fields None for JSON of no shape we know:
    a number, an empty list...)."""
    out = _empty_error()
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, str):
        out["message"] = data.strip() or None
        return out
    if not isinstance(data, dict):
        return out
    err: Any = data.get("error")
    beside = isinstance(err, str) and _has_words(data.get("message"))
    if beside or not (isinstance(err, (dict, str)) and _has_words(err)):
        # no error object, one that says nothing, or a string beside a message: Spring's body, whose "error" is only
        # the reason phrase ("Gateway Timeout") of the words in "message" (spring-cloud/spring-cloud-gateway#820)
        err = data
    if isinstance(err, str):
        out["message"] = err
        out["type"] = _words(data.get("error_type"))
        return out
    wrappers: list[dict[str, Any]] = []  # an error nested in errors (gateways wrapping the upstream body)
    while (isinstance(err, dict) and not _has_words(err.get("message"))
           and isinstance(err.get("error"), (dict, str)) and _has_words(err.get("error"))):
        wrappers.append(err)
        err = err["error"]
    if isinstance(err, str):
        out["message"] = err
        _fill_from(out, wrappers, data)
        return out
    if not _has_words(err.get("message")) and _has_words(err.get("detail")):
        out["message"] = _as_text(err["detail"])
    elif not _has_words(err.get("message")) and isinstance(err.get("errors"), list) and err["errors"]:
        items = err["errors"]
        first = next((item for item in items if _has_words(item.get("message") if isinstance(item, dict) else item)),
                     items[0])
        out["message"] = _words(first.get("message") if isinstance(first, dict) else first)
        out["code"] = _words(first.get("code")) if isinstance(first, dict) else None
    else:
        out["message"] = _words(err.get("message"))
        out["detail"] = _words(err.get("detail")) or _words(data.get("detail"))
    # Google's canonical code ("INVALID_ARGUMENT") stands for the type; a numeric status is only the HTTP status
    status = err.get("status")
    out["type"] = _words(err.get("type")) or (status.strip() or None if isinstance(status, str) else None)
    if beside and out["type"] is None:  # the string beside the message names the error ("model_not_found")
        out["type"] = _words(data["error"])
    out["code"] = out["code"] or _words(err.get("code"))
    out["param"] = _words(err.get("param"))
    inner = err.get("innererror")
    if isinstance(inner, dict) and not out["code"]:
        out["code"] = _words(inner.get("code"))
    out["retry_delay"] = _retry_delay(err.get("details"))
    out["param"] = out["param"] or _detail_field(err.get("details")) or _detail_field(err.get("detail"))
    _fill_from(out, wrappers, data if err is not data else None)
    if depth < 3 and isinstance(err.get("message"), str):
        _read_embedded(out, err["message"], depth)
    return out


def _read_embedded(out: dict[str, Any], message: str, depth: int) -> None:
    """Reads an error body sent as the text of a message: a proxy that passes Google's error on as JSON text
    (Kilo-Org/kilocode#6476, lbjlaq/Antigravity-Manager#1942), a gateway re-wrapping the engine's body
    (vllm-project/aibrix#2594). The inner fields come first (they are the error's), the outer ones fill in; text
    that is JSON but no error envelope stays the message."""
    if not message.lstrip().startswith(("{", "[")):
        return
    try:
        data = json.loads(message)
    except ValueError:
        return
    first = data[0] if isinstance(data, list) and data else data
    if not (isinstance(first, dict) and "error" in first):
        return
    inner = read_error(data, depth + 1)
    if inner["message"] is None:
        return
    for key, value in inner.items():
        if value is not None or key == "message":
            out[key] = value


def _fill_from(out: dict[str, Any], wrappers: list[dict[str, Any]], outside: Optional[dict[str, Any]]) -> None:
    """The type, code and param the nested error lacks, from the objects that wrap it, the nearest first: a
    gateway that wraps the upstream's words may put the status or code beside them, not inside. Without a message,
    the words of a wrapper's ``detail`` or, last, of the body around the error object (``outside``)."""
    for key in ("type", "code", "param"):
        for wrapper in reversed(wrappers):
            if out[key] is None and _has_words(wrapper.get(key)):
                out[key] = _as_text(wrapper[key])
    around = list(reversed(wrappers)) + ([outside] if outside is not None else [])
    for key in ("message", "detail"):
        for wrapper in around:
            if out["message"] is None and _has_words(wrapper.get(key)):
                out["message"] = _as_text(wrapper[key])


_HTML_TAG = re.compile(r"<(?:!--|!doctype\b|/?[a-z][a-z0-9]*\b[^<>]*>)", re.IGNORECASE)


def plain_text(text: str, limit: int = 240) -> Optional[str]:
    """A short message from a non-JSON body: plain text as is, an HTML error page as its title and text."""
    if _HTML_TAG.search(text):  # a page, not a message that compares ("must be > 0 and <= 2")
        title_match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        title = re.sub(r"\s+", " ", title_match.group(1)).strip() if title_match else ""
        body = re.sub(r"<(head|script|style)\b[^>]*>.*?</\1\s*>", " ", text, flags=re.IGNORECASE | re.DOTALL)
        body = re.sub(r"<!--.*?-->", " ", body, flags=re.DOTALL)
        body = re.sub(r"<[^>]*>", " ", body)
        body = html.unescape(re.sub(r"\s+", " ", body)).strip()
        if title and not body.startswith(title):
            body = f"{html.unescape(title)}: {body}" if body else html.unescape(title)
        text = body.replace("<", " ").replace(">", " ")
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or None


def _detail_field(details: Any) -> Optional[str]:
    """The request field a validation error's ``details`` name (``{"loc": ["body", "seed"]}``, as Azure AI
    Foundry and FastAPI servers send: https://learn.microsoft.com/en-us/azure/ai-foundry/model-inference/
    reference/reference-model-inference-api), when the message itself names none."""
    if not isinstance(details, list):
        return None
    for item in details:
        loc = item.get("loc") if isinstance(item, dict) else None
        if isinstance(loc, list) and len(loc) >= 2 and loc[0] == "body" and isinstance(loc[1], str):
            return loc[1]
    return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_delay(details: Any) -> Optional[float]:
    """Seconds from a Google ``RetryInfo`` detail (``"retryDelay": "26s"``), if the error carries one."""
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and "RetryInfo" in str(item.get("@type", "")):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


_PARAM_PATTERNS = [
    re.compile(r"Unsupported parameter: '([A-Za-z_][\w.]*)'"),
    re.compile(r"Unrecognized request argument supplied: ([A-Za-z_]\w*)"),
    re.compile(r"'body',\s*'([A-Za-z_]\w*)'"),
    re.compile(r'"body",\s*"([A-Za-z_]\w*)"'),
    re.compile(r"Unknown name \\?\"([A-Za-z_]\w*)\\?\""),
    re.compile(r"property '([A-Za-z_]\w*)' is unsupported"),
    re.compile(r"unknown field `([A-Za-z_]\w*)`"),
    re.compile(r"Extra inputs are not permitted.*?'([A-Za-z_]\w*)'"),
    re.compile(r"'([A-Za-z_]\w*)' is not supported"),
    re.compile(r"([A-Za-z_]\w*) is not supported"),
    re.compile(r"does not support (?:parameters?:? )?\[?'?([A-Za-z_]\w*)"),
]


def blamed_parameter(info: Mapping[str, Any]) -> Optional[str]:
    """The request field an error blames: the ``param`` field, or one named in the message."""
    param = info.get("param")
    if isinstance(param, str) and param and param not in ("prompt", "messages"):
        return param.split(".")[0].split("[")[0]
    message = " ".join(str(info.get(k) or "") for k in ("message", "detail"))
    for pattern in _PARAM_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return None


_QUOTA_MARKERS = ("insufficient_quota", "exceeded your current quota", "quota exceeded", "billing",
                  "credit balance", "out of credits", "quota_exceeded")
# a 429 that states a per-period rate is a rate limit even when it points at the billing page to raise it
# (Together: togethercomputer/MoA#27); an account out of credit says so by code or with these words
_RATE_MARKERS = ("per min", "per sec", "per hour", "requests per", "tokens per", "rate limit", "rate_limit")
_MODEL_MARKERS = ("model_not_found", "deploymentnotfound", "does not exist", "unknown model",
                  "invalid model", "model not found", "no such model", "invalid model name", "unsupported model")


def error_from_response(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    redact=str,
    where: str = "",
    auth: str = "",
) -> OpenAICompatibleError:
    """Builds the right exception for an HTTP error answer (or a success status carrying an error).

    ``auth`` says how the request was authenticated (scheme and header or parameter name, never the key:
    :meth:`ConnectionSettings.auth_description`); a refusal of the credentials (401, 403) repeats it, so
    that a key sent under the wrong scheme can be told from a wrong key.
    """
    body = redact(body)  # before anything cuts it: a key cut in two would escape the mask
    info = parse_error_body(body)
    provider_message = info["message"] or f"HTTP {status}"
    haystack = " ".join(str(v) for k, v in info.items() if v and k != "retry_delay").lower()
    cls: type[OpenAICompatibleError]
    # field by field: joined, a number from one field (a numeric code such as 429) would read as the limit in
    # another's sentence ("1000 tokens over the limit" + "429")
    if any(is_context_length_message(str(v)) for k, v in info.items() if v and k != "retry_delay"):
        cls = ContextLengthError
    elif "content_filter" in haystack or "responsibleaipolicyviolation" in haystack:
        cls = ContentFilterError
    elif status == 429:
        # a quota that says when to come back (Google's RetryInfo) is a per-minute limit, not an exhausted account
        exhausted = "insufficient_quota" in haystack or (
            info["retry_delay"] is None and any(m in haystack for m in _QUOTA_MARKERS)
            and not any(m in haystack for m in _RATE_MARKERS))
        cls = QuotaExceededError if exhausted else RateLimitError
    elif status == 402:  # Payment Required: the account has no credit left (DeepSeek, OpenRouter error codes)
        cls = QuotaExceededError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404 or (status == 400 and any(m in haystack for m in _MODEL_MARKERS)):
        cls = UnknownModelError
    elif status in (408, 409) or status >= 500:
        cls = ServerError
    elif 400 <= status < 500:
        cls = BadRequestError
    else:
        cls = InvalidResponseError
    param = blamed_parameter(info) if cls in (BadRequestError, UnknownModelError) else info.get("param")
    hint = {
        AuthenticationError: f"{' ' + auth if auth else ''} Check the API key (or your per-user key) and the "
                             "authentication scheme ('auth_scheme': the service may expect another one).",
        PermissionDeniedError: f"{' ' + auth if auth else ''} The key is valid but not allowed to use this model or "
                               "endpoint.",
        UnknownModelError: " Check the model ID or deployment name in the preset.",
        QuotaExceededError: " The provider account's quota or credit is exhausted.",
        ContextLengthError: " Shorten the input or lower the max output tokens.",
    }.get(cls, "")
    if cls is UnknownModelError and not any(m in haystack for m in _MODEL_MARKERS):
        # a 404 that names no model is most often a wrong URL (a base_url without /v1, a mistyped path)
        hint = (" The URL was not found: check the preset's base_url (it usually ends in /v1; in Azure style, the "
                "target URI and the deployment name), then the model ID.")
    route = wrong_route_hint(haystack)
    if route:
        hint = " " + route
    prefix = f"{where}: " if where else ""
    stop = "" if provider_message.rstrip().endswith((".", "!", "?")) else "."
    message = f"{prefix}HTTP {status} {cls.kind}: {provider_message.rstrip()}{stop}{hint}"
    error = cls(
        message,
        status=status,
        code=info.get("code"),
        param=param,
        error_type=info.get("type"),
        provider_message=provider_message,
        request_id=headers.get("x-request-id") or headers.get("apim-request-id"),
        retry_after=info["retry_delay"],
        body=body[:_BODY_KEEP],
    )
    if route:
        error.retryable = False  # the same URL gets the same answer
    return error


# how servers say that no API lives at the requested path: LM Studio answers 200 with "Unexpected endpoint or
# method" (lmstudio-ai/lmstudio-bug-tracker#618), Cloudflare "Could not route to ..." (anomalyco/opencode#18552)
_ROUTE_MARKERS = ("no such route", "unexpected endpoint", "could not route", "route not found", "unknown route",
                  "no route matched", "cannot post /", "cannot get /", "404 page not found", "invalid url (",
                  "method not allowed")


def wrong_route_hint(text: str) -> str:
    """The advice for an answer that says the requested path does not exist ("" when it says nothing of the
    sort): which preset field to change, with the likely fix (a doubled or a missing ``/v1``)."""
    low = text.lower()
    if not any(marker in low for marker in _ROUTE_MARKERS):
        return ""
    if "/v1/v1" in low:
        fix = "the base_url ends in /v1 and the path added another: remove one /v1 from 'base_url'"
    elif re.search(r"(get|post) /(models|chat/completions|embeddings)\b", low):
        fix = "the path lacks /v1: add /v1 at the end of 'base_url'"
    else:
        fix = ("check 'base_url' in the preset (it usually ends in /v1; for Cloudflare, the account id in the URL "
               "must be yours)")
    return f"The provider has no API at this URL: {fix}."
