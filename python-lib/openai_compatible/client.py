"""The client: one connection to one OpenAI-compatible provider, as a preset describes it.

A short facade over the ``http`` sub-package, which sends, retries, streams, builds requests and
discovers models; this module only puts those parts together for one connection.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

from .compat import Compatibility, default_token_field
from .concurrency import ConcurrencyLimiter
from .http.arguments import checked_messages, output_token_limit
from .http.auth import token_provider
from .http.chat import ChatCompletions, ChatRequest
from .http.discovery import ModelDiscovery
from .http.embeddings import Embeddings, checked_texts
from .http.replicas import ReplicaPool
from .http.retries import RetryLoop
from .http.sdk import openai_client, sdk_endpoint
from .http.send import Sender
from .http.streaming import ChatStream
from .http.transport import Transport
from .ratelimit import RateLimiter
from .redact import Redactor, install_log_filters
from .results import ChatResult, EmbeddingResult
from .retry import RetryPolicy
from .settings import ConnectionSettings, Endpoint, safe_url
from .stats import CallStats

__all__ = ["ChatStream", "Client"]


class Client:
    """A connection to an OpenAI-compatible provider.

    Build it from a preset (the dict DSS hands over for a PRESET parameter)::

        client = Client.from_preset(preset)
        result = client.chat([{"role": "user", "content": "Hello"}], model="llama3", max_output_tokens=64)
        print(result.text, result.usage.total_tokens)

    A client is safe to share between threads; close it (or use ``with``) to free its connections.
    ``compat`` is the record of provider quirks to start from (default: the preset's switches, adapting
    at run time); ``limiter`` and ``retry`` replace the preset's rate limits and retry policy.
    """

    def __init__(self, settings: ConnectionSettings, *, compat: Optional[Compatibility] = None,
                 limiter: Optional[RateLimiter] = None, retry: Optional[RetryPolicy] = None) -> None:
        self.settings = settings
        self._redact = Redactor(settings.secrets())
        install_log_filters()
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self.limiter = limiter or RateLimiter(settings.requests_per_minute, settings.tokens_per_minute)
        # requests in flight: fixed, or automatic (0) when each attempt's outcome steers the limit; with replicas,
        # the pool that spreads attempts over them, one limiter each
        self.replicas = ReplicaPool.for_settings(settings)
        self.concurrency: Union[ConcurrencyLimiter, ReplicaPool] = self.replicas or ConcurrencyLimiter(
            settings.max_concurrency, settings.concurrency_upper_bound)
        self.compat = compat or Compatibility(settings, default_token_field=default_token_field(settings))
        self.stats = CallStats()
        self.transport = Transport(settings)
        # OAuth2 schemes: one token per credentials, shared by every client and thread of the process
        self._tokens = token_provider(settings)
        if self._tokens is not None:
            self._tokens.watch(self._redact)
        sender = Sender(settings, self.transport, self._redact, tokens=self._tokens, stats=self.stats)
        self.retries = RetryLoop(self.retry, self.limiter, self.stats, self.concurrency)
        self._discovery = ModelDiscovery(settings, sender, self.retries)
        self._chat = ChatCompletions(sender, self.retries, self.compat)
        self._embeddings = Embeddings(sender, self.retries, self.compat)

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]], **overrides: Any) -> Client:
        """Validates ``preset`` and connects. ``overrides`` replace preset fields (e.g. ``max_retries=0``)."""
        return cls(ConnectionSettings.from_preset(preset, **overrides))

    def close(self) -> None:
        """Frees the connection pool."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.settings
        where = safe_url(s.base_url) if s.style == "openai" else f"{len(s.endpoints)} endpoints"
        if self.replicas is not None:
            where += f" ({len(self.replicas.replicas)} replicas)"
        return f"<openai_compatible.Client style={s.style} {where}>"

    # --- models -------------------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Model IDs this connection offers: the preset's list, plus those discovered from ``GET /models``
        when the preset allows discovery."""
        return self._discovery.models()

    def discover_models(self, refresh: bool = False) -> list[dict]:
        """The provider's ``GET /models`` list (OpenAI style), each entry a dict with at least ``id``.
        Cached for the client's lifetime unless ``refresh``."""
        return self._discovery.discover(refresh)

    def endpoint_for(self, model: str) -> Endpoint:
        """Where ``model`` is served; raises :class:`UnknownModelError` for a model the preset doesn't offer."""
        return self._discovery.endpoint_for(model)

    # --- calls --------------------------------------------------------------------------------------

    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, *, max_output_tokens: Optional[int] = None,
             response_format: Optional[dict] = None, max_tokens: Optional[int] = None, **options: Any) -> ChatResult:
        """One chat completion.

        ``messages`` are OpenAI chat messages (a list of ``{"role": ..., "content": ...}``; anything else is an
        :class:`InvalidArgumentError`, a ``TypeError``). ``max_output_tokens`` caps the answer, as in the recipes
        and ``apply()`` (``max_tokens``, the OpenAI field's name, is accepted too) and is sent under the field the
        provider accepts. Only the options you set are sent: ``temperature``, ``top_p``, ``stop``, ``seed``,
        ``logprobs``, ``top_logprobs``, ``tools``, ``tool_choice``...; ``response_format`` is adapted to the
        preset's JSON mode. ``result.attempts`` counts this call's HTTP requests. Raises a subclass of
        :class:`OpenAICompatibleError` on failure.
        """
        limit = output_token_limit(max_output_tokens, max_tokens, "chat")
        return self._chat.create(self._request(checked_messages(messages, "chat"), model, limit, response_format,
                                               options))

    def stream(self, messages: Sequence[Mapping[str, Any]], model: str, *, max_output_tokens: Optional[int] = None,
               response_format: Optional[dict] = None, max_tokens: Optional[int] = None,
               **options: Any) -> ChatStream:
        """A streamed chat completion: iterate it for text pieces; afterwards ``.result`` holds the whole
        :class:`ChatResult` (usage included when the provider reports it). Arguments as in :meth:`chat`.

        When the provider can't stream (preset ``streaming`` = no, or auto and the provider refuses),
        the answer is fetched in one call and yielded as a single piece.
        """
        limit = output_token_limit(max_output_tokens, max_tokens, "stream")
        return self._chat.stream(self._request(checked_messages(messages, "stream"), model, limit, response_format,
                                               options))

    def _request(self, messages: Sequence[Mapping[str, Any]], model: str, max_tokens: Optional[int],
                 response_format: Optional[dict], options: Mapping[str, Any]) -> ChatRequest:
        return ChatRequest(self.endpoint_for(model), model, messages, max_tokens, response_format, options)

    def embed(self, texts: Sequence[str], model: str, *, dimensions: Optional[int] = None) -> list[list[float]]:
        """Embeds ``texts``; returns one vector (list of floats) per text, in input order."""
        return self.embed_result(texts, model, dimensions=dimensions).vectors

    def embed_result(self, texts: Sequence[str], model: str, *,
                     dimensions: Optional[int] = None) -> EmbeddingResult:
        """Like :meth:`embed`, with usage, model and latency."""
        texts = checked_texts(texts)
        if not texts:
            return EmbeddingResult(vectors=[])
        return self._embeddings.create(self.endpoint_for(model), model, texts, dimensions)

    # --- the official SDK ---------------------------------------------------------------------------

    def openai(self, model: Optional[str] = None, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client (``openai.AzureOpenAI`` for an Azure OpenAI deployment) configured with
        this connection's URL, key, headers, query parameters, TLS, proxy, timeouts and retries.

        In Azure style, pass ``model`` (an endpoint name) to get a client bound to that endpoint; with a
        single endpoint it is the default. ``kwargs`` are passed to the SDK client's constructor.
        With replicas in the preset, the SDK's requests are spread over them and a failing one is left out,
        sharing this client's choices and health (an ``http_client`` passed in ``kwargs`` reaches the first
        server only, with a warning). Needs the ``openai`` package (``pip install openai``).
        """
        return openai_client(self.settings, sdk_endpoint(self.settings, model, self.endpoint_for), self._tokens,
                             self.replicas, **kwargs)
