"""What the connection checks share: the preset, fresh probe clients that never adapt, the results so far,
and what earlier checks observed (which model answers, whether the key was accepted...).

A check is a function ``check(ctx: CheckContext) -> None`` that sends a few small requests through
:meth:`CheckContext.call` and reports through :meth:`CheckContext.add`; ``registry`` lists them.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence

from ..client import Client
from ..compat import Compatibility, default_token_field
from ..errors import AuthenticationError, BadRequestError, OpenAICompatibleError, PermissionDeniedError
from ..ratelimit import RateLimiter
from ..reasoning import ReasoningBudgetError
from ..redact import Redactor
from ..retry import RetryPolicy
from ..settings import ConnectionSettings
from .explain import explain_error
from .result import CheckResult

if TYPE_CHECKING:  # the embeddings check uses this context; this module only holds its record
    from .embeddings import EmbedProbe

MAX_MODELS = 20
PING = [{"role": "user", "content": "Reply with the single word: OK"}]
NO_MODEL_ANSWERED = ("No model answered a basic chat, so this capability could not be tested. Fix the failures "
                     "above first.")


class Outcome(NamedTuple):
    """What one probe call gave: its value or its error, and how long it took (milliseconds)."""

    value: Any
    error: Optional[BaseException]
    latency_ms: float


class FixedCompatibility(Compatibility):
    """The preset's compatibility switches, with adaptation turned off: a refusal stays an error."""

    def adapt(self, error: BadRequestError, payload: dict[str, Any]) -> bool:
        return False


class CheckContext:
    """The state of one run of the checks on one connection."""

    def __init__(self, client: Client, models: Optional[Sequence[str]]) -> None:
        self.client = client
        self.settings: ConnectionSettings = client.settings
        self.redact = Redactor(self.settings.secrets())
        self.limiter = RateLimiter(self.settings.requests_per_minute, self.settings.tokens_per_minute)
        self.retry = RetryPolicy(max_retries=min(self.settings.max_retries, 1), max_delay_s=2.0, max_hint_s=5.0)
        self.results: list[CheckResult] = []
        self.requested = [m for m in (models or []) if m]
        self.known_models: list[str] = list(self.settings.listed_models())
        # what the checks observed, for the checks that come after them
        self.service_models: Optional[list[str]] = None  # GET /models, when it answered
        self.versioned_base: Optional[str] = None  # base_url + /v1, when the service answers there instead
        self.auth_error: Optional[OpenAICompatibleError] = None
        self.auth_ok = False
        self.rejected: Optional[BaseException] = None
        self.probe_model: Optional[str] = None
        self.chat_ok: set[str] = set()
        self.good_token_field: Optional[str] = None
        self.streaming_refused = False
        self.embedded: dict[str, EmbedProbe] = {}  # the embeddings calls made, by model
        self.skip_reason = NO_MODEL_ANSWERED

    # --- probe clients ------------------------------------------------------------------------------

    def probe(self, **overrides: Any) -> Client:
        """A fresh client on the preset's settings (plus ``overrides``) that never adapts and retries once."""
        changes: dict[str, Any] = {"max_retries": self.retry.max_retries}
        if self.settings.style == "openai":
            changes.update(models=tuple(dict.fromkeys(self.known_models + self.requested)), discover_models=False)
        changes.update(overrides)
        settings = self.settings.with_overrides(**changes)
        compat = FixedCompatibility(settings, default_token_field=default_token_field(settings))
        return Client(settings, compat=compat, limiter=self.limiter, retry=self.retry)

    def timed(self, call: Callable[[], Any]) -> Outcome:
        """Runs ``call`` and notes what it tells about the key; never raises (except KeyboardInterrupt)."""
        started = time.perf_counter()
        try:
            value, error = call(), None
        except ReasoningBudgetError as exc:  # a reasoning model thought through the probe's tiny limit: it answered
            value, error = exc.result, None
        except Exception as exc:  # a check reports whatever happened, it never stops the run
            value, error = None, exc
        if isinstance(error, (AuthenticationError, PermissionDeniedError)) and self.auth_error is None:
            self.auth_error = error
        elif error is None:
            self.auth_ok = True
        elif isinstance(error, BadRequestError) and self.rejected is None:
            self.rejected = error
        return Outcome(value, error, (time.perf_counter() - started) * 1000.0)

    def call(self, run: Callable[[Client], Any], **overrides: Any) -> Outcome:
        """``run(client)`` on a probe client with ``overrides``. Once the token field check found a field the
        service accepts, it is used, so that no other check fails because of it."""
        if self.good_token_field and "max_tokens_field" not in overrides:
            overrides = dict(overrides, max_tokens_field=self.good_token_field)
        with self.probe(**overrides) as client:
            return self.timed(lambda: run(client))

    # --- models -------------------------------------------------------------------------------------

    def chat_models(self) -> list[str]:
        """The models the per-model checks test: the requested ones, else the preset's (or discovered)."""
        return self.requested if self.requested else self.known_models

    # --- results ------------------------------------------------------------------------------------

    def add(self, name: str, label: str, status: str, meaning: str, setting: str = "", *,
            latency_ms: Optional[float] = None, model: Optional[str] = None, detail: str = "") -> CheckResult:
        """Records one result; every text is masked, the detail cut to 500 characters."""
        result = CheckResult(name=name, label=label, status=status, meaning=self.redact(meaning),
                             setting=self.redact(setting),
                             latency_ms=None if latency_ms is None else round(latency_ms, 1),
                             model=model, detail=self.redact(detail)[:500])
        self.results.append(result)
        return result

    def explain(self, error: BaseException, model: Optional[str]) -> tuple[str, str, str]:
        """(meaning, setting, status) of an error, knowing what the checks found about the URL."""
        url_fix = f"set 'base_url' to '{self.versioned_base}'" if self.versioned_base else ""
        return explain_error(error, self.settings, model, url_fix)

    def could_not_test(self, name: str, label: str, what: str, error: BaseException, latency_ms: float,
                       model: Optional[str]) -> CheckResult:
        """The result of a capability that could not be tested, because the call failed for another reason."""
        meaning, setting, status = self.explain(error, model)
        return self.add(name, label, status, f"Could not test {what}: " + meaning, setting, latency_ms=latency_ms,
                        model=model)
