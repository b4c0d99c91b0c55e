"""Automatic concurrency: how many requests a connection keeps in flight, learnt from what the provider does.

The rule follows TCP congestion control and the gradient / Vegas limits of Netflix's concurrency-limits
library, reading the two signals providers give:

- servers that *refuse* beyond their capacity (gateways, clouds: 429 without a wait hint, 503, or
  timeouts; a 429 with a hint is a rate quota, which ratelimit.py answers, and only holds growth): the limit drops
  to just under what was in flight when the refusal came back, once per round trip, so the refusals of
  one burst count as one signal (multiplicative decrease);
- servers that *queue* beyond it (vLLM, llama.cpp, Ollama: nothing is refused, latency grows): by
  Little's law, a round whose mean latency is above the unloaded latency had requests waiting in a queue;
  the limit becomes what the server actually served (in flight x unloaded latency / latency), the gradient
  rule, and the next rounds measure the unloaded latency again.

While nothing is refused and latency holds, the limit doubles each round trip until the first sign of
congestion (slow start), then grows by a small allowance per round trip. It never leaves
[1, upper bound]. A round trip ("round") is the mean latency of the previous round.

Time comes from an injected clock, so tests drive the controller with synthetic sequences.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from .errors import APITimeoutError, OpenAICompatibleError, QuotaExceededError, RateLimitError, ServerError

DEFAULT_UPPER_BOUND = 256

# Outcomes of one HTTP attempt, as the controller reads them.
OK, REFUSED, HELD, OTHER = "ok", "refused", "held", "other"


def outcome_of(error: Optional[BaseException]) -> str:
    """``refused`` for the errors that say "too many requests at once" (429 without a wait hint, 503, 529 and
    timeouts); ``held`` for a 429 with a wait hint (a rate quota: the provider says when to come back, and
    the rate limiter's share adapts to it, not the concurrency); ``other`` for any other error (it says
    nothing about load); ``ok`` without error."""
    if error is None:
        return OK
    if isinstance(error, QuotaExceededError):
        return OTHER  # no amount of waiting or slowing down brings that quota back within the run
    if isinstance(error, RateLimitError):
        return HELD if error.retry_after is not None else REFUSED
    if isinstance(error, APITimeoutError):
        return REFUSED
    # 503: the server is overloaded (RFC 9110 15.6.4); 529: Anthropic's "overloaded", also sent by some gateways
    if isinstance(error, ServerError) and error.status in (503, 529):
        return REFUSED
    return OTHER


class AdaptiveLimit:
    """The limit and the rule that moves it; not thread-safe (:class:`ConcurrencyLimiter` holds the lock).

    ``upper`` is the admin's bound, ``initial`` the limit before anything is known. ``backoff`` multiplies
    the in-flight count at a refusal. ``tolerance`` is how far above the unloaded latency a round's mean may
    go before it counts as queueing (1.5, as Netflix's Gradient2 limit: room for the latency a busy client
    machine adds by itself as it sends more). ``initial`` 16: most servers take that many at once, and
    slow start doubles it from there, so a run finds a capacity of 100 in three round trips.
    ``baseline_rounds`` is how many recent rounds the unloaded latency is the minimum of, so it follows a
    server whose answers really got longer. Latencies are in seconds.
    """

    def __init__(self, upper: int = DEFAULT_UPPER_BOUND, *, initial: int = 16, lower: int = 1, backoff: float = 0.9,
                 tolerance: float = 1.25, baseline_rounds: int = 200,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if upper < 1:
            raise ValueError(f"the upper bound of the concurrency must be at least 1, not {upper}")
        self.upper = int(upper)
        self.lower = max(1, min(int(lower), self.upper))
        self.backoff = backoff
        self.tolerance = tolerance
        self._clock = clock
        self._limit = float(min(self.upper, max(self.lower, initial)))
        self.slow_start = True
        self._rtt: Optional[float] = None  # the previous round's mean latency
        self._baselines: deque[float] = deque(maxlen=baseline_rounds)
        self._decrease_until = -math.inf
        self._hold_until = -math.inf
        self._ceiling = math.inf  # what was in flight at the last refusal
        self._changed_at = -math.inf  # when the limit last moved: answers to older requests don't judge it
        self._new_round(clock())
        self.refusals = 0
        self.samples = 0

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(self.lower, min(self.upper, int(self._limit)))

    @property
    def unloaded_latency(self) -> Optional[float]:
        """The 10th percentile of recent round means, taken as the latency of the server without a queue (seconds)."""
        if not self._baselines:
            return None
        # a low percentile rather than the minimum: on a busy client machine one lucky round would set a bar
        # that ordinary rounds then miss, and the limit would fall below the server's capacity
        ranked = sorted(self._baselines)
        return ranked[len(ranked) // 10]

    def _new_round(self, now: float) -> None:
        self._round_start: Optional[float] = None  # a round spans a round trip of answers from its first one
        self._round_latency = 0.0
        self._round_inflight = 0
        self._round_count = 0
        self._round_refused = False

    def on_hint(self, retry_after: float) -> None:
        """The provider asked to wait ``retry_after`` seconds: no growth before then."""
        self._hold_until = max(self._hold_until, self._clock() + max(0.0, retry_after))

    def on_refusal(self, inflight: int, retry_after: Optional[float] = None) -> None:
        """A request was refused (or timed out) while ``inflight`` other requests were in flight."""
        now = self._clock()
        self.refusals += 1
        self.slow_start = False
        self._round_refused = True
        if retry_after and retry_after > 0:
            self._hold_until = max(self._hold_until, now + retry_after)  # no growth before the provider's hint
        if now < self._decrease_until:
            # the same overload as the refusal that already lowered the limit: no second cut, but the refused
            # request's slot isn't handed to another request that the server would refuse just as fast
            self._limit = max(float(self.lower), min(self._limit, float(inflight)))
            return
        # what was in flight measures the capacity only if the limit was in use; otherwise the refusal came from
        # someone else's load or a passing fault, and the limit just steps down
        self._ceiling = min(self._limit, float(inflight)) if inflight + 1 >= self._limit / 2 else self._limit
        self._set(self._ceiling * self.backoff, now)
        self._decrease_until = now + (self._rtt or 0.0)

    def on_success(self, latency_s: float, inflight: int) -> None:
        """A request was answered after ``latency_s`` with ``inflight`` requests in flight (itself included)."""
        self.samples += 1
        now = self._clock()
        if now - latency_s < self._changed_at:
            return  # sent under the previous limit: says nothing of this one (else slow start overshoots)
        self._round_latency += max(0.0, latency_s)
        self._round_inflight += inflight
        self._round_count += 1
        if self._round_start is None:
            self._round_start = now
        if now - self._round_start >= (self._rtt if self._rtt is not None else latency_s):
            self._end_round(now)

    def _end_round(self, now: float) -> None:
        mean = self._round_latency / self._round_count
        inflight = self._round_inflight / self._round_count
        refused = self._round_refused
        self._new_round(now)
        self._rtt = mean
        self._baselines.append(mean)
        base = self.unloaded_latency or mean
        if refused or now < self._hold_until:
            return
        # far below the last refusal, grow by sqrt(limit)/2 per round trip, to get back quickly; close to it,
        # by one (a probe), so that finding the capacity again costs a refusal or two, not a burst
        allowance = 1.0 if self._limit >= self._ceiling * 0.85 else max(1.0, math.sqrt(self._limit) / 2)
        if mean > base * self.tolerance:
            # queueing: back to what the server serves without a queue, so the next round measures the
            # unloaded latency again (else the baseline would creep up with the queue it tolerates)
            self.slow_start = False
            served = inflight * base / mean
            self._set(min(self._limit, served), now)
            return
        if inflight < self._limit / 2:
            return  # the limit wasn't used (too few rows in flight): it proved nothing, so it doesn't grow
        self._set(self._limit * 2 if self.slow_start else self._limit + allowance, now)

    def _set(self, limit: float, now: float) -> None:
        limit = max(float(self.lower), min(float(self.upper), limit))
        if int(limit) != int(self._limit):
            self._changed_at = now
            self._new_round(now)
        self._limit = limit


class ConcurrencyLimiter:
    """A semaphore shared by every thread of a connection, whose size is fixed or follows :class:`AdaptiveLimit`.

    ``fixed`` > 0 pins the limit; 0 makes it automatic, between 1 and ``upper``. Use::

        with limiter.attempt():
            response = send()   # its latency, or its error, is reported to the controller
    """

    def __init__(self, fixed: int = 0, upper: int = DEFAULT_UPPER_BOUND, *,
                 clock: Callable[[], float] = time.monotonic, controller: Optional[AdaptiveLimit] = None) -> None:
        self.fixed = max(0, int(fixed))
        self.controller = None if self.fixed else (controller or AdaptiveLimit(upper, clock=clock))
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._inflight = 0  # slots held
        self._sending = 0  # slots whose request is on the wire (not waiting for the rate limiter)
        self.peak_limit = self.limit

    @property
    def automatic(self) -> bool:
        return self.controller is not None

    @property
    def upper(self) -> int:
        """The most requests this limiter may ever let through at once."""
        return self.controller.upper if self.controller else self.fixed

    @property
    def limit(self) -> int:
        return self.controller.limit if self.controller else self.fixed

    @property
    def inflight(self) -> int:
        return self._inflight

    def acquire(self, timeout: Optional[float] = None, *, sending: bool = True) -> float:
        """Blocks until a request may go; returns its start time (for :meth:`release`).
        ``sending=False``: the slot's request first waits for something else (the rate limiter); call
        :meth:`begin` when it is sent. Raises TimeoutError when ``timeout`` seconds pass first."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._inflight < self.limit, timeout):
                raise TimeoutError("no concurrency slot became free in time")
            self._inflight += 1
            self._sending += sending
            return self._clock()

    def begin(self) -> float:
        """The request of a slot taken with ``sending=False`` goes now; returns its start time."""
        with self._cond:
            self._sending += 1
            return self._clock()

    def release(self, started: float, outcome: str = OK, retry_after: Optional[float] = None) -> None:
        """Frees the slot whose request was sent at ``started`` and reports the attempt's outcome (``ok``,
        ``refused``, ``held``, ``other``)."""
        with self._cond:
            inflight = self._sending  # requests on the wire, this one included: what the provider saw
            self._inflight -= 1
            self._sending -= 1
            if self.controller is not None:
                if outcome == OK:
                    self.controller.on_success(self._clock() - started, inflight)
                elif outcome == REFUSED:
                    self.controller.on_refusal(inflight - 1, retry_after)
                elif outcome == HELD:
                    self.controller.on_hint(retry_after or 0.0)
                self.peak_limit = max(self.peak_limit, self.controller.limit)
            free = self.limit - self._inflight
            if free > 0:
                self._cond.notify(free)

    @contextmanager
    def attempt(self) -> Iterator[Callable[[], None]]:
        """Holds a slot around one HTTP attempt and reports how it went. Yields ``sending``: call it once the
        request goes (after the rate limiter's wait), so that wait counts neither as latency nor as load."""
        started = [self.acquire(sending=False)]
        sent = [False]

        def sending() -> None:
            if not sent[0]:
                sent[0] = True
                started[0] = self.begin()

        try:
            yield sending
        except OpenAICompatibleError as exc:
            sending()
            self.release(started[0], outcome_of(exc), exc.retry_after)
            raise
        except BaseException:
            sending()
            self.release(started[0], OTHER)
            raise
        sending()
        self.release(started[0], OK)

    def describe(self) -> str:
        """``12`` or ``automatic, 37 now (peak 52, bound 256)``, for logs and summaries."""
        if not self.controller:
            return str(self.fixed)
        return f"automatic, {self.limit} now (peak {self.peak_limit}, bound {self.upper})"
