"""Client-side limits shared by every worker of a connection: requests and tokens per minute, and a
common cooldown after the provider answers 429, so concurrency never becomes a storm of 429s.

Several processes (DSS partitions built in parallel, several users' recipes) may share one provider while
each preset states the provider's whole limit. No coordination service exists between them, so each
process adapts on its own, as TCP flows share a link. Over windows of about a second, a process whose
requests met 429s lowers the share of the preset's rate it uses to what the provider let through (so N
processes starting together at the full rate settle near rate / N in one window), and a window without 429
lets the share creep back (additive increase). The provider's wait hint is honoured with a random extra,
so processes told the same wait don't resume together.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Callable, Optional


class RateLimiter:
    """Paces requests (GCRA: evenly spaced, no burst) and estimated tokens, and holds a shared cooldown.

    ``acquire`` blocks the calling thread until its request may go. Limits of 0 mean unlimited.
    ``share`` is the part of ``requests_per_minute`` this process uses. At the end of each window (at least
    ``window_s`` and 10 requests long) in which some requests met a 429 (:meth:`on_rate_limited`), it becomes
    ``share x answered / sent``, but not below the rate that got through (answered per second, within the
    share), and times ``backoff`` in the first such window of a run of them only (at most halved, never below
    ``min_share``); after a window without 429 that used its share, it grows by ``recovery_per_s`` per second
    (one second's worth at most per window).
    ``jitter`` is the largest extra fraction added to a provider's wait hint.
    """

    def __init__(self, requests_per_minute: float = 0, tokens_per_minute: float = 0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep, *,
                 backoff: float = 0.95, recovery_per_s: float = 0.03, min_share: float = 0.02, jitter: float = 0.25,
                 window_s: float = 0.25, rng: Optional[random.Random] = None) -> None:
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.backoff, self.recovery_per_s, self.min_share, self.jitter = backoff, recovery_per_s, min_share, jitter
        self._rng = rng or random.Random()
        self.window_s = window_s
        self.share = 1.0  # of requests_per_minute, lowered by the provider's 429s
        self._window_start = clock()
        self._window = 0  # the window's number: a 429 counts in the window its request was sent in
        self._sent_in = threading.local()  # the window of the request this thread sent last
        self._sent = 0
        self._refused = 0
        self._refusing = False  # the last window ended had 429s
        self._next_request = 0.0
        self._token_debt_until = 0.0
        self._cooldown_until = 0.0
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self.requests_per_minute or self.tokens_per_minute)

    def acquire(self, tokens: int = 0) -> None:
        """Waits for this request's turn (and for any cooldown) and books its slot. A 429's hold that began
        while it waited for its turn holds it too: it books a turn after the hold (else the turns booked before
        a 429, a second's worth with many workers, went out into the provider's refusal)."""
        booked = False
        while True:
            with self._lock:
                now = self._clock()
                start = max(now, self._cooldown_until)
                if self.requests_per_minute:
                    self._adapt(now)
                    start = max(start, self._next_request)
                    self._next_request = start + 60.0 / (self.requests_per_minute * self.share)
                if self.tokens_per_minute and tokens and not booked:
                    # a bucket holding one minute of tokens, refilled continuously (as providers count): a request
                    # goes once the bucket holds its tokens; one larger than the bucket waits for a full bucket
                    cost = tokens * 60.0 / self.tokens_per_minute
                    start = max(start, self._token_debt_until + min(cost, 60.0) - 60.0)
                    self._token_debt_until = max(self._token_debt_until, start) + cost
                booked = True
                hold = self._cooldown_until
                wait = start - now
                if wait > 0:
                    self.waited_s += wait
            if wait > 0:
                self._sleep(wait)
            with self._lock:
                if self._cooldown_until > hold and self._cooldown_until > self._clock():
                    continue  # a hold began while it waited, and goes on
                if self.requests_per_minute:  # counted when it goes, not when it booked its turn (maybe windows
                    self._sent += 1           # earlier)
                    self._sent_in.window = self._window
                return

    def adjust_tokens(self, estimated: int, actual: int) -> None:
        """Corrects the token budget once the provider reported the real usage."""
        if self.tokens_per_minute and actual >= 0:
            with self._lock:
                self._token_debt_until += (actual - estimated) * 60.0 / self.tokens_per_minute

    def _adapt(self, now: float) -> None:
        """Ends the window when it is long enough, and moves the share by what it saw."""
        elapsed = now - self._window_start
        interval = 60.0 / (self.requests_per_minute * self.share)
        if elapsed < max(self.window_s, 10 * interval) or not self._sent:
            return
        if self._refused:
            answered = max(0, self._sent - self._refused)
            # The margin is taken once per run of windows with 429s: a provider's bucket emptied by an overload
            # goes on refusing a few requests after the share has come under its rate, and a margin in each of
            # those windows took three processes from 1.35 to 0.5 of the rate between two overloads.
            margin = 1.0 if self._refusing else self.backoff
            # Nor below the rate that got through: turns booked before the share fell go at the old spacing,
            # so the refused part of this window, applied to the lowered share, would count the overload twice.
            got_through = answered / elapsed * 60.0 / self.requests_per_minute
            # at most halved per window: a burst of 429s from a provider that was just emptied is no measure
            self.share = max(self.min_share, self.share * max(0.5, answered / self._sent * margin),
                             min(self.share, got_through) * margin)
        elif self._sent >= elapsed * self.requests_per_minute * self.share / 60.0 / 2:
            # grows only when it was used: a share the process doesn't use proves nothing about the provider
            self.share = min(1.0, self.share + self.recovery_per_s * min(elapsed, 1.0))
        self._refusing = bool(self._refused)
        self._window_start, self._sent, self._refused = now, 0, 0
        self._window += 1

    def on_rate_limited(self, seconds: Optional[float]) -> float:
        """The provider answered 429: another process may be using the same quota. Counts it against this
        window (see the class) and holds every worker for the provider's wait hint (``seconds``, None without
        one) plus a random part of up to ``jitter`` of it. Returns the hold in seconds."""
        with self._lock:
            now = self._clock()
            # a 429 to a request sent under an older share says nothing about the current one (else one
            # overload would lower the share window after window)
            if getattr(self._sent_in, "window", None) == self._window:
                self._refused += 1
            hold = max(0.0, seconds or 0.0) * (1.0 + self._rng.uniform(0.0, self.jitter))
            self._cooldown_until = max(self._cooldown_until, now + hold)
            return hold

    def cool_down(self, seconds: float) -> None:
        """Holds every worker for ``seconds`` (the provider said 429)."""
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)


def estimate_tokens(text_chars: int, max_output_tokens: int = 0) -> int:
    """A provider-neutral estimate (about 4 characters per token) plus the output budget."""
    return text_chars // 4 + 1 + max(0, max_output_tokens)
