"""The one retry loop, shared by plain calls and streams, and the per-call record it counts into.

Each attempt waits for the shared rate limiter, is counted (in the connection's totals and in the
call's own record), and is retried when the error is transient and the policy allows: after a 429
the wait goes through the limiter, so every worker of the connection waits, not just this one.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Optional, TypeVar, Union

from .. import cancel
from ..cancel import RunStoppedError
from ..compat import Compatibility
from ..concurrency import ConcurrencyLimiter
from ..errors import (
    APIConnectionError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    OpenAICompatibleError,
    RateLimitError,
)
from ..ratelimit import RateLimiter
from ..results import Usage
from ..retry import RetryPolicy
from ..stats import CallStats
from .replicas import ReplicaPool

log = logging.getLogger("openai_compatible")
T = TypeVar("T")

MAX_ADAPTATIONS = 6
# Until the provider has answered once, a refused or unreachable connection is retried this many times at most:
# a service that is down (or a wrong host or port) must stop a job in seconds, not after every row's backoff.
# Once it has answered, a refusal is a restart or a blip, and gets the policy's full retries.
RETRIES_BEFORE_FIRST_ANSWER = 1
LOGGED_MESSAGE_CHARS = 300


@dataclass
class Call:
    """One API call as its caller sees it: where it goes (for messages), its estimated tokens, the HTTP
    requests it sent (``attempts``: retries, adaptations and fallbacks included), when it started and when its
    first request went.

    Owned by one call, so concurrent calls on a shared client never count each other's requests.
    """

    where: str
    tokens: int = 0
    attempts: int = 0
    started: Optional[float] = None  # when the call began, on ``clock`` (now, unless given)
    base: str = ""  # the endpoint's base URL: with replicas, which servers may serve the call
    sent: Optional[float] = None  # when the first request went, on ``clock``
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def went(self) -> None:
        """Notes that a request is going now (the first one starts the latency)."""
        if self.sent is None:
            self.sent = self.clock()

    def elapsed_ms(self) -> float:
        """Milliseconds from the first request sent to now (from the call's start if none went): the retries
        and their waits count, the wait for a concurrency slot or a rate limit's turn before it does not. In
        automatic concurrency, rows wait for slots in the client, and counted, that wait read as a slow server."""
        since = self.sent if self.sent is not None else self.started
        return (self.clock() - (since or 0.0)) * 1000.0


class RetryLoop:
    """Sends with retries through a connection's rate limiter, policy and counters."""

    def __init__(self, policy: RetryPolicy, limiter: RateLimiter, stats: CallStats,
                 concurrency: Union[ConcurrencyLimiter, ReplicaPool, None] = None) -> None:
        self.policy = policy
        self.limiter = limiter
        self.stats = stats
        self.concurrency = concurrency or ConcurrencyLimiter(0)
        self.provider_answered = False  # set at the first HTTP answer of any status: the service is up

    def run(self, send: Callable[..., T], call: Call, *args: Any) -> T:
        """Returns ``send(*args)``'s value, retrying transient errors; raises the last error otherwise."""
        attempt = 0
        while True:
            try:
                # one concurrency slot per HTTP attempt, taken before the rate limiter's turn: only the requests
                # the limit allows book a turn, so a lower rate after a 429 applies at once
                with self._slot(call, retry=attempt > 0) as sending:
                    self.limiter.acquire(call.tokens)
                    cancel.check()  # the slot and the rate's turn may have come after the run stopped
                    sending()
                    call.went()
                    self.stats.add(http_calls=1)
                    call.attempts += 1
                    result = send(*args)
            except RunStoppedError:
                raise
            except OpenAICompatibleError as exc:
                if not isinstance(exc, APIConnectionError):
                    self.provider_answered = True
                if not self._wait_before_retry(exc, attempt, call):
                    raise
                attempt += 1
            else:
                self.provider_answered = True
                return result

    def _slot(self, call: Call, retry: bool) -> ContextManager[Callable[[], None]]:
        """A concurrency slot for one attempt; with replicas, on the replica chosen for it, which also gets the
        request (http/replicas.py): a retry after a replica's failure goes to another one. A retry's slot comes
        before those of first attempts: its row is the oldest, and the output waits for it."""
        if isinstance(self.concurrency, ReplicaPool):
            return self.concurrency.attempt(call.base, retry=retry)
        return self.concurrency.attempt(retry=retry)

    def _wait_before_retry(self, exc: OpenAICompatibleError, attempt: int, call: Call) -> bool:
        """Counts the failure; waits and returns True when it is worth another attempt."""
        limited = isinstance(exc, RateLimitError)
        if limited:
            self.stats.add(rate_limited=1)
        if not self.policy.should_retry(exc, attempt):
            return False
        unreached = getattr(exc, "unreachable", False) and not self.provider_answered
        if unreached and attempt >= RETRIES_BEFORE_FIRST_ANSWER:
            return False
        # another replica takes the retry at once: the failed one is left out, the others are not overloaded.
        # A first refusal that our own load caused (automatic concurrency probing above the capacity) comes
        # back a round trip later, when the lowered limit has made room for it; the backoff is for overloads
        # the limit can't explain, and would hold the row (and the output, in input order) for nothing
        soon = getattr(exc, "retry_soon_s", None)
        if getattr(exc, "failover", False):
            delay = 0.0
        elif soon is not None and attempt == 0:
            # from half to one and a half round trips: a burst refused together (the timeouts of one queue, a
            # probe's refusals) comes back spread over a round trip, not as one burst again
            delay = soon * (0.5 + random.random())
        else:
            delay = self.policy.delay(attempt, exc.retry_after)
        self.stats.add(retries=1)
        limit = min(self.policy.max_retries, RETRIES_BEFORE_FIRST_ANSWER) if unreached else self.policy.max_retries
        log.info("Retrying %s in %.2fs after %s (retry %d of %d): %s", call.where, delay, exc.kind, attempt + 1,
                 limit, _short(exc))
        # after a 429 every worker waits, not just this one, and this process uses less of the preset's rate;
        # automatic concurrency answers a 429 without a hint by lowering the limit: only this worker waits
        shared = limited and (exc.retry_after is not None or not self.concurrency.automatic)
        if shared:
            self.limiter.on_rate_limited(delay)
        else:
            if limited:
                self.limiter.on_rate_limited(None)
            cancel.sleep(delay)
        return True

    def run_adapting(self, build: Callable[[], dict], send: Callable[[dict], T], call: Call,
                     compat: Compatibility) -> T:
        """Like :meth:`run` for a request body: when the provider refuses a field, ``compat`` adapts once per
        problem and the body is built and sent again. A prompt too long or filtered is not adapted."""
        for _ in range(MAX_ADAPTATIONS):
            body = build()
            try:
                return self.run(send, call, body)
            except BadRequestError as exc:
                if isinstance(exc, (ContextLengthError, ContentFilterError)) or not compat.adapt(exc, body):
                    raise
        raise BadRequestError("The provider kept refusing the request after adapting it; see the log.")

    def settle(self, call: Call, usage: Usage) -> None:
        """Corrects the token budget with the usage the provider reported, and counts the tokens."""
        if usage.total_tokens is not None:
            self.limiter.adjust_tokens(call.tokens, usage.total_tokens)
            self.stats.add(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0,
                           reasoning_tokens=usage.reasoning_tokens or 0)


def _short(exc: OpenAICompatibleError) -> str:
    """The provider's own words (or the transport failure) for a log line, on one line and cut to a sensible
    length. Exception texts are built redacted; the log filter masks them again."""
    text = " ".join(str(getattr(exc, "provider_message", None) or exc).split())
    return text if len(text) <= LOGGED_MESSAGE_CHARS else text[:LOGGED_MESSAGE_CHARS - 3] + "..."
