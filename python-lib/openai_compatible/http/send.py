"""One HTTP exchange with the provider: the request goes out, and the answer comes back as a response or
a JSON body, or the failure as one of the library's exceptions. No retries here (see ``retries``)."""
from __future__ import annotations

import json
from typing import Callable, Mapping, Optional

import requests

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidResponseError,
    OpenAICompatibleError,
    SettingsError,
    error_from_response,
    plain_text,
    read_error,
    wrong_route_hint,
)
from ..oauth2 import TokenProvider
from ..retry import retry_hint
from ..settings import ConnectionSettings, Endpoint, safe_url
from ..stats import CallStats
from .auth import endpoint_key, request_headers, request_query
from .failures import is_timeout, never_connected, transport_reason
from .prefix import PrefixHint
from .replicas import replica_url
from .transport import Response, Transport

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # read at call time, so a test may lower it


class Sender:
    """Sends requests to one connection's endpoints and maps every failure to an exception."""

    def __init__(self, settings: ConnectionSettings, transport: Transport, redact: Callable[[object], str], *,
                 tokens: Optional[TokenProvider] = None, stats: Optional[CallStats] = None) -> None:
        self.settings = settings
        self.transport = transport
        self.redact = redact
        self.tokens = tokens  # OAuth2 schemes: the shared token provider
        self.stats = stats
        self.prefix = PrefixHint(settings, transport)  # a 404 or a web page may mean base_url lacks /v1

    def send(self, method: str, endpoint: Endpoint, path: str, body: Optional[dict], *, where: str,
             stream: bool = False, renewed: bool = False) -> Response:
        """One HTTP exchange; returns a successful response (its body unread) or raises a normalised error.

        ``where`` starts every error message (``"chat with 'm'"``). Raises :class:`APITimeoutError`,
        :class:`APIConnectionError` (TLS included) or the exception of an HTTP error status, with the
        provider's retry hint (``Retry-After``...) in ``retry_after``. With an OAuth2 scheme, a 401 drops the
        token that was sent and the request goes once more with a new one (``renewed``).
        """
        s = self.settings
        url = replica_url(endpoint.base) + path  # with replicas, the one chosen for this attempt
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        token = self.tokens.token() if self.tokens is not None else None
        headers = request_headers(s, endpoint, "text/event-stream" if stream else "application/json", token=token)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.transport.request(method, url, data=data, headers=headers,
                                              params=request_query(s, endpoint),
                                              timeout=(s.connect_timeout_s, s.read_timeout_s))
        except requests.exceptions.SSLError as exc:
            raise APIConnectionError(self.redact(
                f"{where}: TLS failed for {safe_url(url)} ({transport_reason(exc)}). If the provider uses a corporate "
                "certificate authority, set 'ca_bundle' in the preset.")) from None
        except requests.exceptions.Timeout as exc:
            phase = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
            limit = s.connect_timeout_s if phase == "connect" else s.read_timeout_s
            raise APITimeoutError(self.redact(
                f"{where}: no answer from {safe_url(url)} within the {phase} timeout ({limit:g}s). Raise "
                f"'{phase}_timeout_s' in the preset if the provider is slow.")) from None
        except (requests.exceptions.InvalidProxyURL, requests.exceptions.InvalidSchema) as exc:
            # a proxy from the environment (the preset's is checked when it is read): a SOCKS one without
            # PySocks, or one without a host. Both are ValueErrors, which the next clause blames on a header
            raise SettingsError(self.redact(
                f"{where}: the request could not be sent through the proxy ({exc}). Check the environment's "
                "HTTP_PROXY, HTTPS_PROXY and ALL_PROXY, or set 'proxy' in the preset (an http:// or https:// "
                "proxy).")) from None
        except ValueError as exc:  # a header or URL value the HTTP library refuses; its text quotes the value
            raise SettingsError(self.redact(
                f"{where}: the request could not be sent ({exc}): a header or URL value holds a character HTTP "
                "does not allow. Check the preset's api_key (or your per-user key), extra_headers and "
                "extra_query.")) from None
        except requests.exceptions.RequestException as exc:
            error = APIConnectionError(self.redact(
                f"{where}: cannot reach {safe_url(url)} ({transport_reason(exc)})."))
            error.unreachable = never_connected(exc)
            raise error from None
        if response.status_code == 401 and token is not None and not renewed:
            response.close()
            self.tokens.invalidate(token)
            if self.stats is not None:
                self.stats.add(http_calls=1)
            return self.send(method, endpoint, path, body, where=where, stream=stream, renewed=True)
        if response.status_code >= 400:
            text = self.read_text(response, where, limit=1024 * 1024)
            error = error_from_response(response.status_code, text, response.headers, redact=self.redact,
                                        where=where, auth=s.auth_description(bool(endpoint_key(s, endpoint))))
            hint = retry_hint(response.headers)
            if hint is not None:  # the headers' hint first, else one from the body (Google's RetryInfo)
                error.retry_after = hint
            raise self.prefix.amend(error) if response.status_code == 404 else error
        return response

    def read_text(self, response: Response, where: str, limit: Optional[int] = None) -> str:
        """The whole body as text (UTF-8), at most ``limit`` bytes (default :data:`MAX_RESPONSE_BYTES`);
        closes the response."""
        limit = limit or MAX_RESPONSE_BYTES
        chunks, size = [], 0
        # a body whose framing gives its size (not one sent chunked, whatever Content-Length it also declares),
        # within the limit and not compressed, is read in one go (the piecewise read costs more CPU than the rest
        # of reading an answer); any other is counted as it arrives
        known = response.length_remaining
        whole = known is not None and known <= limit and not response.headers.get("Content-Encoding")
        try:
            if whole:
                chunks.append(response.read())
            else:
                for chunk in response.iter_content(chunk_size=65536):
                    size += len(chunk)
                    if size > limit:
                        response.close()
                        error = InvalidResponseError(f"{where}: the answer is larger than {limit // (1024 * 1024)} "
                                                     "MB; refusing to read it.")
                        error.retryable = False  # the same request would bring the same oversized answer
                        raise error
                    chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            if is_timeout(exc):
                raise APITimeoutError(self.redact(
                    f"{where}: the answer stalled past the read timeout ({self.settings.read_timeout_s:g}s). "
                    "Raise 'read_timeout_s' in the preset if the provider is slow.")) from None
            raise APIConnectionError(self.redact(f"{where}: the connection broke while reading the answer "
                                                 f"({transport_reason(exc)}).")) from None
        finally:
            response.close()
        return b"".join(chunks).decode("utf-8", errors="replace")

    def post_json(self, endpoint: Endpoint, path: str, body: dict, *, where: str) -> dict:
        """POSTs ``body`` and returns the answer's JSON object (a JSON list comes as ``{"data": [...]}``)."""
        return self.decode(self.send("POST", endpoint, path, body, where=where), where)

    def get_json(self, endpoint: Endpoint, path: str, *, where: str) -> dict:
        """GETs ``path`` and returns the answer's JSON object (a JSON list comes as ``{"data": [...]}``)."""
        return self.decode(self.send("GET", endpoint, path, None, where=where), where)

    def decode(self, response: Response, where: str) -> dict:
        """The JSON body of a successful response; an HTML page, a non-JSON body or an error object inside a
        success answer raise (masked and cut)."""
        text = self.read_text(response, where)
        try:
            data = json.loads(text)
        except ValueError:
            if "html" in response.headers.get("Content-Type", "").lower() or text.lstrip()[:15].lower().startswith(
                    ("<!doctype html", "<html")):
                page = (plain_text(self.redact(text)) or "")[:200]  # mask, then cut
                moved = ""
                if response.history:  # an SSO proxy sends the API call to its sign-in page (etalab-ia/OpenGateLLM#844)
                    moved = (f" after a redirect to {safe_url(response.url)} (a sign-in page or proxy stands in "
                             "front of the API)")
                error = self.prefix.amend(InvalidResponseError(
                    f"{where}: HTTP {response.status_code} but the answer is an HTML page{moved} ({page!r}), not the "
                    "API's JSON: check that the preset's URL is the API's (base_url usually ends in /v1), not a web "
                    "UI or a login page."))
                error.retryable = False  # the same URL brings the same page
                raise error from None
            snippet = self.redact(text)[:200].strip()  # mask, then cut
            route = wrong_route_hint(text)
            said = f"but the body is not JSON: {snippet!r}" if snippet else "with an empty body instead of JSON"
            error = InvalidResponseError(f"{where}: HTTP {response.status_code} {said}"
                                         + (f". {route}" if route else "."))
            if route:
                error.retryable = False  # the same URL brings the same page
            raise error from None
        if isinstance(data, dict) and _looks_like_error(data):
            raise error_in_answer(data, text, response.headers, self.redact, where)
        if not isinstance(data, (dict, list)):
            raise InvalidResponseError(f"{where}: the answer is JSON but not an object.")
        return data if isinstance(data, dict) else {"data": data}


_ANSWER_KEYS = ("choices", "data", "models", "result", "object")


def _looks_like_error(data: dict) -> bool:
    """Whether a success answer is an error body in any envelope: ``error`` (OpenAI, LM Studio), vLLM's
    ``{"object": "error"}``, Cloudflare's ``{"success": false, "errors": [...]}``, FastAPI's ``detail``."""
    if data.get("error"):
        return not data.get("choices") and not data.get("data")
    if data.get("object") == "error" or (data.get("success") is False and data.get("errors")):
        return True
    return bool(data.get("detail")) and not any(key in data for key in _ANSWER_KEYS)


def error_in_answer(data: dict, text: str, headers: Mapping[str, str], redact: Callable[[object], str],
                    where: str) -> OpenAICompatibleError:
    """The exception for an error object inside a success answer or a stream event: its ``code`` is the
    status when it is an HTTP one; otherwise a stream's error is a server error (500), and a plain
    answer's an invalid response."""
    code = read_error(data)["code"]  # the code beside the words, beneath any wrapper that says nothing
    try:
        status = int(float(code)) if code is not None else 0
    except (TypeError, ValueError, OverflowError):
        status = 0
    if not 400 <= status < 600:
        status = 500 if "stream" in where else 200
    error = error_from_response(status, text, headers, redact=redact, where=where)
    if status == 200:
        message = error.message.replace(f"HTTP 200 {error.kind}", "an error object with HTTP 200")
        error = InvalidResponseError(message, provider_message=error.provider_message, body=error.body)
        # a 200 that carries an error is no passing failure: most often the URL reaches a server that has no
        # API there (lmstudio-ai/lmstudio-bug-tracker#618), and a retry gets the same answer
        error.retryable = False
        if "base_url" not in error.message:
            error.message += (" A success status with an error body usually means the URL is not the API's: "
                              "check 'base_url' in the preset.")
    return error
