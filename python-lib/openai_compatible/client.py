"""The client: one connection to one OpenAI-compatible provider, as a preset describes it.

It builds URLs for both preset styles, authenticates, retries what is transient, adapts to what the
provider refuses, reads answers leniently, and never lets a secret out.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .compat import Compatibility
from .errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    OpenAICompatibleError,
    RateLimitError,
    SettingsError,
    _plain_text,
    error_from_response,
)
from .pricing import estimated_cost
from .ratelimit import RateLimiter, estimate_tokens
from .redact import Redactor, install_log_filters
from .results import ChatResult, EmbeddingResult, Usage
from .retry import RetryPolicy, retry_hint
from .settings import ConnectionSettings, Endpoint, _safe_url
from .sse import iter_sse_data
from .stats import CallStats

log = logging.getLogger("openai_compatible")
T = TypeVar("T")

USER_AGENT = "dss-plugin-openai-compatible/0.1.0"
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHAT_OPTIONS = ("temperature", "top_p", "stop", "seed", "n", "presence_penalty", "frequency_penalty",
                 "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls", "user")


class Client:
    """A connection to an OpenAI-compatible provider.

    Build it from a preset (the dict DSS hands over for a PRESET parameter)::

        client = Client.from_preset(preset)
        result = client.chat([{"role": "user", "content": "Hello"}], model="llama3", max_tokens=64)
        print(result.text, result.usage.total_tokens)

    A client is safe to share between threads; close it (or use ``with``) to free its connections.
    """

    def __init__(self, settings: ConnectionSettings, *, limiter: Optional[RateLimiter] = None,
                 retry: Optional[RetryPolicy] = None) -> None:
        self.settings = settings
        self._redact = Redactor(settings.secrets())
        install_log_filters()
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self.limiter = limiter or RateLimiter(settings.requests_per_minute, settings.tokens_per_minute)
        default_field = ("max_completion_tokens"
                         if settings.endpoints and all(e.kind == "azure_deployment" for e in settings.endpoints)
                         else "max_tokens")
        self.compat = Compatibility(settings, default_token_field=default_field)
        self.stats = CallStats()
        self._discovered: Optional[list[dict]] = None
        self._discovery_lock = threading.Lock()
        self._env_proxies: dict[str, dict] = {}
        self._session = self._make_session()

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]], **overrides: Any) -> Client:
        """Validates ``preset`` and connects. ``overrides`` replace preset fields (e.g. ``max_retries=0``)."""
        settings = ConnectionSettings.from_preset(preset)
        if overrides:
            settings = settings.with_overrides(**overrides)
        return cls(settings)

    def _make_session(self) -> requests.Session:
        s = self.settings
        session = requests.Session()
        pool = max(10, s.max_concurrency * 2)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # The environment (proxies, CA bundle) is read once here, not by requests on every call: that lookup
        # was a third of the client's CPU per request. The preset's own settings win over the environment.
        session.trust_env = False
        env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        session.verify = (s.ca_bundle or env_bundle or True) if s.verify_tls else False
        if s.client_cert:
            session.cert = (s.client_cert, s.client_key) if s.client_key else s.client_cert
        if s.proxy:
            session.proxies = {"http": s.proxy, "https": s.proxy}
        session.headers.update({"User-Agent": USER_AGENT})
        return session

    def _proxies_for(self, url: str) -> Optional[dict]:
        """The preset's proxy, else the environment's for this URL's host (honouring NO_PROXY), cached."""
        if self._session.proxies:
            return self._session.proxies
        origin = url.split("/", 3)[:3]
        key = "/".join(origin)
        proxies = self._env_proxies.get(key)
        if proxies is None:
            found = requests.utils.get_environ_proxies(url) or {}
            proxies = self._env_proxies[key] = {k: v for k, v in found.items() if k != "no"}
        return proxies or None

    def close(self) -> None:
        """Frees the connection pool."""
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.settings
        where = _safe_url(s.base_url) if s.style == "openai" else f"{len(s.endpoints)} endpoints"
        return f"<openai_compatible.Client style={s.style} {where}>"

    # --- public API ---------------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Model IDs this connection offers: the preset's list, plus those discovered from ``GET /models``
        when the preset allows discovery."""
        listed = self.settings.listed_models()
        if self.settings.style != "openai" or not self.settings.discover_models:
            return listed
        try:
            found = [m["id"] for m in self.discover_models()]
        except OpenAICompatibleError:
            if listed:
                log.warning("Model discovery failed; using the preset's list only.", exc_info=False)
                return listed
            raise
        return listed + [m for m in found if m not in listed]

    def discover_models(self, refresh: bool = False) -> list[dict]:
        """The provider's ``GET /models`` list (OpenAI style), each entry a dict with at least ``id``.
        Cached for the client's lifetime unless ``refresh``."""
        if self.settings.style != "openai":
            raise SettingsError("Model discovery needs an OpenAI-style preset; Azure-style presets list endpoints.")
        with self._discovery_lock:
            if self._discovered is None or refresh:
                endpoint = Endpoint(name="", kind="openai", base=self.settings.base_url)
                data = self._with_retries(lambda: self._get_json(endpoint, "/models", where="GET /models"))
                items = data.get("data") if isinstance(data, dict) else data
                if not isinstance(items, list):
                    items = data.get("models") if isinstance(data, dict) else None
                if not isinstance(items, list):
                    raise InvalidResponseError("GET /models: the answer has no model list ('data').")
                models = []
                for item in items:
                    if isinstance(item, dict) and (item.get("id") or item.get("name") or item.get("model")):
                        models.append(dict(item, id=str(item.get("id") or item.get("model") or item.get("name"))))
                    elif isinstance(item, str):
                        models.append({"id": item})
                self._discovered = models
            return list(self._discovered)

    def endpoint_for(self, model: str) -> Endpoint:
        """Where ``model`` is served; raises :class:`UnknownModelError` for a model the preset doesn't offer."""
        s = self.settings
        if s.style == "openai" and model not in s.models and s.discover_models:
            try:
                found = tuple(m["id"] for m in self.discover_models())
            except OpenAICompatibleError as exc:
                raise SettingsError(f"Model '{model}' is not in the preset's list and model discovery failed: "
                                    f"{exc}") from None
            return s.endpoint_for(model, found)
        return s.endpoint_for(model)

    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, *, max_tokens: Optional[int] = None,
             response_format: Optional[dict] = None, **options: Any) -> ChatResult:
        """One chat completion.

        ``messages`` are OpenAI chat messages. Only the options you set are sent: ``temperature``,
        ``top_p``, ``stop``, ``seed``, ``logprobs``, ``top_logprobs``, ``tools``, ``tool_choice``...;
        ``max_tokens`` is sent under the field the provider accepts; ``response_format`` is adapted to
        the preset's JSON mode. Raises a subclass of :class:`OpenAICompatibleError` on failure.
        """
        endpoint = self.endpoint_for(model)
        started = time.perf_counter()
        calls_before = self.stats.snapshot()["http_calls"]
        tokens = estimate_tokens(_chars(messages), max_tokens or 0)

        def build() -> dict:
            return self._chat_payload(endpoint, messages, max_tokens, response_format, options, stream=False)

        data = self._adaptive(build, lambda body: self._post_json(endpoint, "/chat/completions", body,
                                                                  where=f"chat with '{model}'"), tokens)
        result = _parse_chat(data, where=f"chat with '{model}'")
        self._settle_tokens(tokens, result.usage)
        result.latency_ms = (time.perf_counter() - started) * 1000.0
        result.attempts = self.stats.snapshot()["http_calls"] - calls_before
        result.cost = estimated_cost(self.settings.prices, model, result.usage)
        return result

    def stream(self, messages: Sequence[Mapping[str, Any]], model: str, *, max_tokens: Optional[int] = None,
               response_format: Optional[dict] = None, **options: Any) -> ChatStream:
        """A streamed chat completion: iterate it for text pieces; afterwards ``.result`` holds the whole
        :class:`ChatResult` (usage included when the provider reports it).

        When the provider can't stream (preset ``streaming`` = no, or auto and the provider refuses),
        the answer is fetched in one call and yielded as a single piece.
        """
        endpoint = self.endpoint_for(model)
        return ChatStream(self._stream_pieces(endpoint, model, messages, max_tokens, response_format, options))

    def embed(self, texts: Sequence[str], model: str, *, dimensions: Optional[int] = None) -> list[list[float]]:
        """Embeds ``texts``; returns one vector (list of floats) per text, in input order."""
        return self.embed_result(texts, model, dimensions=dimensions).vectors

    def embed_result(self, texts: Sequence[str], model: str, *,
                     dimensions: Optional[int] = None) -> EmbeddingResult:
        """Like :meth:`embed`, with usage, model and latency."""
        if isinstance(texts, str):
            raise SettingsError("embed() takes a list of texts; wrap a single text in a list.")
        texts = list(texts)
        if not texts:
            return EmbeddingResult(vectors=[])
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise SettingsError(f"embed(): input {index} is {type(text).__name__}, not text.")
        endpoint = self.endpoint_for(model)
        started = time.perf_counter()
        tokens = estimate_tokens(sum(len(t) for t in texts))

        def build() -> dict:
            body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
            if endpoint.model_in_body:
                body["model"] = endpoint.model_in_body
            if dimensions:
                body["dimensions"] = int(dimensions)
            return self.compat.apply(body)

        data = self._adaptive(build, lambda body: self._post_json(endpoint, "/embeddings", body,
                                                                  where=f"embeddings with '{model}'"), tokens)
        vectors = _parse_embeddings(data, len(texts), where=f"embeddings with '{model}'")
        usage = Usage.from_dict(data.get("usage"))
        self._settle_tokens(tokens, usage)
        return EmbeddingResult(vectors=vectors, usage=usage, model=data.get("model"),
                               cost=estimated_cost(self.settings.prices, model, usage),
                               latency_ms=(time.perf_counter() - started) * 1000.0)

    # --- connection test and the official SDK -------------------------------------------------------

    def check(self, models: Optional[Sequence[str]] = None) -> list:
        """Tests what the provider supports (reachability, TLS, key, models, streaming, JSON modes,
        output-token field, roles, embeddings) and which preset setting to change; returns a list of
        :class:`openai_compatible.check.CheckResult`. See :func:`openai_compatible.check.run_checks`."""
        from .check import run_checks

        return run_checks(self, models)

    def openai(self, model: Optional[str] = None, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client (``openai.AzureOpenAI`` for an Azure OpenAI deployment) configured with
        this connection's URL, key, headers, query parameters, TLS, proxy, timeouts and retries.

        In Azure style, pass ``model`` (an endpoint name) to get a client bound to that endpoint; with a
        single endpoint it is the default. ``kwargs`` are passed to the SDK client's constructor.
        Needs the ``openai`` package (``pip install openai``).
        """
        try:
            import httpx
            import openai
        except ImportError:
            raise ImportError("client.openai() needs the official OpenAI Python SDK: install the 'openai' package "
                              "in this code environment (pip install openai), or use client.chat(), "
                              "client.stream() and client.embed(), which need nothing more.") from None
        s = self.settings
        if s.style == "openai":
            endpoint = Endpoint(name=model or "", kind="openai", base=s.base_url)
        elif model:
            endpoint = self.endpoint_for(model)
        elif len(s.endpoints) == 1:
            endpoint = s.endpoints[0]
        else:
            raise SettingsError("This Azure-style preset has several endpoints: pass the one to use, e.g. "
                                f"client.openai('{s.endpoints[0].name}'). Endpoints: "
                                f"{', '.join(e.name for e in s.endpoints)}.")
        placeholder = "openai-compatible-no-bearer"  # the SDK insists on a key; this one is never sent
        key = self._key_for(endpoint)
        headers = dict(s.extra_headers)
        if s.organization:
            headers["OpenAI-Organization"] = s.organization
        query: dict[str, str] = dict(s.extra_query)
        sdk_key, bearer = placeholder, None
        if key and s.auth_scheme == "bearer":
            sdk_key, bearer = key, key
        elif key and s.auth_scheme == "api_key_header" and endpoint.kind == "azure_deployment":
            sdk_key = key  # AzureOpenAI sends its key as the api-key header itself
        elif key and s.auth_scheme == "api_key_header":
            headers["api-key"] = key
        elif key and s.auth_scheme == "custom_header":
            headers[s.auth_header_name] = key
        elif key and s.auth_scheme == "query_param":
            query[s.auth_query_param] = key

        def drop_placeholder(request: Any) -> None:
            if request.headers.get("Authorization") == f"Bearer {placeholder}":
                del request.headers["Authorization"]
            if request.headers.get("api-key") == placeholder:
                del request.headers["api-key"]

        verify: Any = (s.ca_bundle or True) if s.verify_tls else False
        cert: Any = (s.client_cert, s.client_key) if s.client_cert and s.client_key else (s.client_cert or None)
        http_client = httpx.Client(verify=verify, cert=cert, proxy=s.proxy or None,
                                   timeout=httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s),
                                   event_hooks={"request": [drop_placeholder]})
        options: dict[str, Any] = dict(default_headers=headers or None, default_query=query or None,
                                       http_client=http_client, max_retries=s.max_retries)
        options.update(kwargs)
        if endpoint.kind == "azure_deployment":
            if bearer:
                return openai.AzureOpenAI(base_url=endpoint.base, api_version=s.api_version, azure_ad_token=bearer,
                                          **options)
            return openai.AzureOpenAI(base_url=endpoint.base, api_version=s.api_version, api_key=sdk_key, **options)
        return openai.OpenAI(base_url=endpoint.base, api_key=sdk_key, **options)

    # --- requests -----------------------------------------------------------------------------------

    def _chat_payload(self, endpoint: Endpoint, messages: Sequence[Mapping[str, Any]], max_tokens: Optional[int],
                      response_format: Optional[dict], options: Mapping[str, Any], stream: bool) -> dict:
        unknown = [k for k in options if k not in _CHAT_OPTIONS]
        if unknown:
            raise SettingsError(f"Unknown chat option(s): {', '.join(unknown)}. Known: {', '.join(_CHAT_OPTIONS)}.")
        if not messages:
            raise SettingsError("chat() needs at least one message.")
        body: dict[str, Any] = {}
        if endpoint.model_in_body:
            body["model"] = endpoint.model_in_body
        body["messages"] = self.compat.map_messages([dict(m) for m in messages])
        for key, value in options.items():
            if value is not None:
                body[key] = value
        if max_tokens is not None:
            body[self.compat.token_field] = int(max_tokens)
        fmt = self.compat.response_format(response_format)
        if fmt:
            body["response_format"] = fmt
        if stream:
            body["stream"] = True
            if self.compat.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return self.compat.apply(body)

    def _adaptive(self, build: Callable[[], dict], send: Callable[[dict], T], tokens: int) -> T:
        """Sends with retries; when the provider refuses a field, adapts once per problem and resends."""
        for _ in range(6):
            body = build()
            try:
                return self._with_retries(lambda body=body: send(body), tokens)
            except BadRequestError as exc:
                if isinstance(exc, (ContextLengthError, ContentFilterError)) or not self.compat.adapt(exc, body):
                    raise  # a prompt too long or filtered is not a field the provider refuses
        raise BadRequestError("The provider kept refusing the request after adapting it; see the log.")

    def _with_retries(self, send: Callable[[], T], tokens: int = 0) -> T:
        attempt = 0
        while True:
            self.limiter.acquire(tokens)
            self.stats.add(http_calls=1)
            try:
                return send()
            except OpenAICompatibleError as exc:
                if isinstance(exc, RateLimitError):
                    self.stats.add(rate_limited=1)
                if not self.retry.should_retry(exc, attempt):
                    raise
                delay = self.retry.delay(attempt, exc.retry_after)
                self.stats.add(retries=1)
                log.info("Retrying in %.2fs after %s (retry %d of %d).", delay, exc.kind, attempt + 1,
                         self.retry.max_retries)
                if isinstance(exc, RateLimitError):
                    self.limiter.cool_down(delay)  # every worker waits, not just this one
                else:
                    time.sleep(delay)
                attempt += 1

    def _headers(self, endpoint: Endpoint, accept: str = "application/json") -> dict[str, str]:
        s = self.settings
        headers = {"Accept": accept}
        if s.organization:
            headers["OpenAI-Organization"] = s.organization
        headers.update(dict(s.extra_headers))
        key = self._key_for(endpoint)
        if key:
            if s.auth_scheme == "bearer":
                headers["Authorization"] = f"Bearer {key}"
            elif s.auth_scheme == "api_key_header":
                headers["api-key"] = key
            elif s.auth_scheme == "custom_header":
                headers[s.auth_header_name] = key
        return headers

    def _query(self, endpoint: Endpoint) -> dict[str, str]:
        s = self.settings
        params = dict(s.extra_query)
        if endpoint.kind == "azure_deployment" and s.api_version:
            params["api-version"] = s.api_version
        key = self._key_for(endpoint)
        if key and s.auth_scheme == "query_param":
            params[s.auth_query_param] = key
        return params

    def _key_for(self, endpoint: Endpoint) -> Optional[str]:
        if endpoint.api_key and not self.settings.per_user_key:
            return endpoint.api_key
        return self.settings.api_key

    def _send(self, method: str, endpoint: Endpoint, path: str, body: Optional[dict], *, where: str,
              stream: bool = False) -> requests.Response:
        """One HTTP exchange; returns a successful response or raises a normalised error."""
        s = self.settings
        url = endpoint.base + path
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = self._headers(endpoint, "text/event-stream" if stream else "application/json")
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            # verify and proxies per request: requests lets REQUESTS_CA_BUNDLE / HTTPS_PROXY override the session's
            response = self._session.request(method, url, data=data, headers=headers, params=self._query(endpoint),
                                             timeout=(s.connect_timeout_s, s.read_timeout_s), stream=True,
                                             verify=self._session.verify, proxies=self._proxies_for(url))
        except requests.exceptions.SSLError as exc:
            raise APIConnectionError(self._redact(
                f"{where}: TLS failed for {_safe_url(url)} ({_reason(exc)}). If the provider uses a corporate "
                "certificate authority, set 'ca_bundle' in the preset.")) from None
        except requests.exceptions.Timeout as exc:
            phase = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
            limit = s.connect_timeout_s if phase == "connect" else s.read_timeout_s
            raise APITimeoutError(self._redact(
                f"{where}: no answer from {_safe_url(url)} within the {phase} timeout ({limit:g}s). Raise "
                f"'{phase}_timeout_s' in the preset if the provider is slow.")) from None
        except requests.exceptions.RequestException as exc:
            raise APIConnectionError(self._redact(
                f"{where}: cannot reach {_safe_url(url)} ({_reason(exc)}).")) from None
        if response.status_code >= 400:
            text = self._read_text(response, where, limit=1024 * 1024)
            error = error_from_response(response.status_code, text, response.headers, redact=self._redact,
                                        where=where)
            hint = retry_hint(response.headers)
            if hint is not None:  # the headers' hint first, else one from the body (Google's RetryInfo)
                error.retry_after = hint
            raise error
        return response

    def _read_text(self, response: requests.Response, where: str, limit: Optional[int] = None) -> str:
        limit = limit or MAX_RESPONSE_BYTES
        chunks, size = [], 0
        try:
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
            if _is_timeout(exc):
                raise APITimeoutError(self._redact(
                    f"{where}: the answer stalled past the read timeout ({self.settings.read_timeout_s:g}s). "
                    "Raise 'read_timeout_s' in the preset if the provider is slow.")) from None
            raise APIConnectionError(self._redact(f"{where}: the connection broke while reading the answer "
                                                  f"({_reason(exc)}).")) from None
        finally:
            response.close()
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _post_json(self, endpoint: Endpoint, path: str, body: dict, *, where: str) -> dict:
        return self._decode(self._send("POST", endpoint, path, body, where=where), where)

    def _get_json(self, endpoint: Endpoint, path: str, *, where: str) -> dict:
        return self._decode(self._send("GET", endpoint, path, None, where=where), where)

    def _decode(self, response: requests.Response, where: str) -> dict:
        text = self._read_text(response, where)
        try:
            data = json.loads(text)
        except ValueError:
            if "html" in response.headers.get("Content-Type", "").lower() or text.lstrip()[:15].lower().startswith(
                    ("<!doctype html", "<html")):
                page = (_plain_text(self._redact(text)) or "")[:200]  # mask, then cut
                raise InvalidResponseError(f"{where}: HTTP {response.status_code} but the answer is an HTML page "
                                           f"({page!r}), not the API's JSON: check that the preset's URL is the "
                                           "API's (base_url usually ends in /v1), not a web UI or a login page."
                                           ) from None
            snippet = self._redact(text)[:200].strip() or "an empty body"  # mask, then cut
            raise InvalidResponseError(f"{where}: HTTP {response.status_code} but the body is not JSON: "
                                       f"{snippet!r}") from None
        if isinstance(data, dict) and data.get("error") and not data.get("choices") and not data.get("data"):
            raise _status_error(data, text, response.headers, self._redact, where)
        if not isinstance(data, (dict, list)):
            raise InvalidResponseError(f"{where}: the answer is JSON but not an object.")
        return data if isinstance(data, dict) else {"data": data}

    def _settle_tokens(self, estimated: int, usage: Usage) -> None:
        if usage.total_tokens is not None:
            self.limiter.adjust_tokens(estimated, usage.total_tokens)
            self.stats.add(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)

    # --- streaming ----------------------------------------------------------------------------------

    def _stream_pieces(self, endpoint: Endpoint, model: str, messages: Sequence[Mapping[str, Any]],
                       max_tokens: Optional[int], response_format: Optional[dict],
                       options: Mapping[str, Any]) -> Iterator[Any]:
        where = f"stream with '{model}'"
        tokens = estimate_tokens(_chars(messages), max_tokens or 0)
        started = time.perf_counter()
        calls_before = self.stats.snapshot()["http_calls"]

        def finished(result: ChatResult) -> ChatResult:
            """The whole stream's latency and HTTP calls (refused or broken attempts included)."""
            result.latency_ms = (time.perf_counter() - started) * 1000.0
            result.attempts = self.stats.snapshot()["http_calls"] - calls_before
            result.cost = estimated_cost(self.settings.prices, model, result.usage)
            return result

        attempt = 0
        while True:
            if not self.compat.streaming:
                result = self.chat(messages, model, max_tokens=max_tokens, response_format=response_format,
                                   **options)
                if result.text:
                    yield result.text
                yield finished(result)
                return

            def build() -> dict:
                if not self.compat.streaming:
                    raise _StreamingRefusedError  # learnt from the last answer: don't ask for a stream again
                return self._chat_payload(endpoint, messages, max_tokens, response_format, options, stream=True)

            try:
                response = self._adaptive(build, lambda body: self._send("POST", endpoint, "/chat/completions",
                                                                         body, where=where, stream=True), tokens)
            except _StreamingRefusedError:
                continue  # the provider refused streaming: fetch in one piece
            if "json" in response.headers.get("Content-Type", "") and "event-stream" not in response.headers.get(
                    "Content-Type", ""):
                # a provider that ignores "stream" and answers in one piece
                result = _parse_chat(self._decode(response, where), where)
                self._settle_tokens(tokens, result.usage)
                if result.text:
                    yield result.text
                yield finished(result)
                return
            pieces: list[str] = []
            try:
                for item in self._read_stream(response, where, pieces):
                    if isinstance(item, ChatResult):
                        self._settle_tokens(tokens, item.usage)  # token budget and counters, as for chat()
                        item = finished(item)
                    yield item
                return
            except OpenAICompatibleError as exc:
                if pieces or not self.retry.should_retry(exc, attempt):
                    raise
                delay = self.retry.delay(attempt, exc.retry_after)
                self.stats.add(retries=1)
                log.info("Retrying the stream in %.2fs after %s.", delay, exc.kind)
                time.sleep(delay)
                attempt += 1
            finally:
                response.close()

    def _read_stream(self, response: requests.Response, where: str, pieces: list[str]) -> Iterator[Any]:
        finish_reason = model = None
        usage = Usage()
        tool_calls: list = []
        done = False
        started = time.perf_counter()
        try:
            for data in iter_sse_data(response.iter_content(chunk_size=None)):
                if data.strip() == "[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise InvalidResponseError(f"{where}: a stream event is not JSON: "
                                               f"{self._redact(data)[:200]!r}") from None
                if not isinstance(event, dict):
                    continue
                if event.get("error"):
                    raise _status_error(event, data, response.headers, self._redact, where + " (in the stream)")
                model = event.get("model") or model
                if event.get("usage"):
                    usage = Usage.from_dict(event["usage"])
                for choice in (event.get("choices") or [])[:1]:
                    if not isinstance(choice, dict):
                        continue
                    delta = choice.get("delta") or {}
                    piece = delta.get("content")
                    if isinstance(piece, str) and piece:
                        pieces.append(piece)
                        yield piece
                    if isinstance(delta.get("tool_calls"), list):
                        _merge_tool_calls(tool_calls, delta["tool_calls"])
                    finish_reason = choice.get("finish_reason") or finish_reason
        except requests.exceptions.RequestException as exc:
            if _is_timeout(exc):
                raise APITimeoutError(self._redact(
                    f"{where}: the stream stalled past the read timeout ({self.settings.read_timeout_s:g}s) after "
                    f"{len(pieces)} pieces. Raise 'read_timeout_s' in the preset if the provider is slow.")) from None
            if isinstance(exc, requests.exceptions.ChunkedEncodingError):
                raise InvalidResponseError(self._redact(
                    f"{where}: the stream ended without [DONE] after {len(pieces)} pieces ({_reason(exc)}); the "
                    "answer may be incomplete.")) from None
            raise APIConnectionError(self._redact(f"{where}: the stream broke after {len(pieces)} pieces "
                                                  f"({_reason(exc)}).")) from None
        if not done:
            raise InvalidResponseError(f"{where}: the stream ended without [DONE] after {len(pieces)} pieces; "
                                       "the answer may be incomplete.")
        yield ChatResult(text="".join(pieces), finish_reason=finish_reason, usage=usage, model=model,
                         latency_ms=(time.perf_counter() - started) * 1000.0, raw=None,
                         tool_calls=tool_calls or None)


class ChatStream:
    """Text pieces of a streamed answer; ``result`` (a :class:`ChatResult`) is set once it is consumed."""

    def __init__(self, source: Iterator[Any]) -> None:
        self._source = source
        self.result: Optional[ChatResult] = None

    def __iter__(self) -> Iterator[str]:
        for item in self._source:
            if isinstance(item, ChatResult):
                self.result = item
            else:
                yield item

    def text(self) -> str:
        """Consumes the stream and returns the whole answer."""
        return "".join(self)


# --- parsing ------------------------------------------------------------------------------------------

def _parse_chat(data: dict, where: str) -> ChatResult:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponseError(f"{where}: the answer has no 'choices'.")
    choice = choices[0]
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise InvalidResponseError(f"{where}: the answer's message is not an object.")
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ChatResult(
        text=content if isinstance(content, str) else "",
        finish_reason=choice.get("finish_reason"),
        usage=Usage.from_dict(data.get("usage")),
        model=data.get("model"),
        raw=data,
        tool_calls=message.get("tool_calls") or None,
        logprobs=choice.get("logprobs"),
    )


def _parse_embeddings(data: dict, expected: int, where: str) -> list[list[float]]:
    items = data.get("data")
    if not isinstance(items, list) or len(items) != expected:
        got = len(items) if isinstance(items, list) else "no"
        raise InvalidResponseError(f"{where}: expected {expected} vectors, got {got}.")
    ordered: list[Optional[list[float]]] = [None] * expected
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidResponseError(f"{where}: a vector entry is not an object.")
        index = item.get("index", position)
        vector = item.get("embedding")
        if isinstance(vector, str):  # base64 of float32, from providers that ignore encoding_format
            try:
                raw = base64.b64decode(vector, validate=True)
                vector = list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
            except (ValueError, struct.error):  # binascii.Error is a ValueError
                raise InvalidResponseError(f"{where}: vector {position} is text, not numbers.") from None
        if (not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None
                or not isinstance(vector, list) or not vector
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector)):
            raise InvalidResponseError(f"{where}: vector {position} is missing, misplaced or not numbers.")
        ordered[index] = [float(v) for v in vector]
    return ordered  # type: ignore[return-value]


def _status_error(data: dict, text: str, headers: Mapping[str, str], redact: Callable[[object], str],
                  where: str) -> OpenAICompatibleError:
    """An error object inside a success answer or a stream: use its code as the status when it is one."""
    err = data.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    try:
        status = int(code) if code is not None else 0
    except (TypeError, ValueError):
        status = 0
    if not 400 <= status < 600:
        status = 500 if "stream" in where else 200
    error = error_from_response(status, text, headers, redact=redact, where=where)
    if status == 200:
        error = InvalidResponseError(error.message.replace("HTTP 200 error", "an error object with HTTP 200"),
                                     provider_message=error.provider_message, body=error.body)
    return error


def _merge_tool_calls(calls: list, fragments: list) -> None:
    """Assembles streamed tool calls: fragments with the same ``index`` extend one call (its arguments arrive
    in pieces)."""
    for fragment in fragments:
        if not isinstance(fragment, dict):
            continue
        index = fragment.get("index")
        call = next((c for c in calls if index is not None and c.get("index") == index), None)
        if call is None:
            calls.append(json.loads(json.dumps(fragment)))  # a copy, free of the event it came from
            continue
        for key, value in fragment.items():
            if key == "function" and isinstance(value, dict):
                function = call.setdefault("function", {})
                for name, part in value.items():
                    if name == "arguments" and isinstance(part, str):
                        function["arguments"] = (function.get("arguments") or "") + part
                    elif part is not None:
                        function[name] = part
            elif value is not None and key != "index":
                call[key] = value


class _StreamingRefusedError(Exception):
    """Internal: the provider refused ``stream``; the caller falls back to a plain call."""


def _is_timeout(exc: BaseException) -> bool:
    """True for a read timeout, including one ``requests`` reports as a ConnectionError while reading a body."""
    if isinstance(exc, requests.exceptions.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, (urllib3.exceptions.TimeoutError, socket.timeout))


def _reason(exc: BaseException) -> str:
    """A short, secret-free description of a transport failure."""
    text = str(exc)
    for marker, reason in (("Connection refused", "connection refused"), ("reset by peer", "connection reset"),
                           ("RemoteDisconnected", "the server closed the connection"),
                           ("Name or service not known", "unknown host"), ("nodename nor servname", "unknown host"),
                           ("CERTIFICATE_VERIFY_FAILED", "certificate verification failed"),
                           ("timed out", "timed out"), ("IncompleteRead", "the answer was cut short"),
                           ("InvalidChunkLength", "the answer was cut short"),
                           ("ProtocolError", "protocol error")):
        if marker in text:
            return reason
    return type(exc).__name__


def _chars(messages: Iterable[Mapping[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        total += len(content) if isinstance(content, str) else len(json.dumps(content or ""))
    return total
