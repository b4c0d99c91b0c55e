"""Client-side limits shared by every worker of a connection: requests and tokens per minute, and a
common cooldown after the provider answers 429, so concurrency never becomes a storm of 429s."""
from __future__ import annotations

import threading
import time
from typing import Callable


class RateLimiter:
    """Paces requests (GCRA: evenly spaced, no burst) and estimated tokens, and holds a shared cooldown.

    ``acquire`` blocks the calling thread until its request may go. Limits of 0 mean unlimited.
    """

    def __init__(self, requests_per_minute: float = 0, tokens_per_minute: float = 0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_request = 0.0
        self._token_debt_until = 0.0
        self._cooldown_until = 0.0
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self.requests_per_minute or self.tokens_per_minute)

    def acquire(self, tokens: int = 0) -> None:
        """Waits for this request's turn (and for any cooldown) and books its slot."""
        with self._lock:
            now = self._clock()
            start = max(now, self._cooldown_until)
            if self.requests_per_minute:
                start = max(start, self._next_request)
                self._next_request = start + 60.0 / self.requests_per_minute
            if self.tokens_per_minute and tokens:
                # a bucket holding one minute of tokens, refilled continuously (as providers count): a request
                # goes once the bucket holds its tokens; one larger than the bucket waits for a full bucket
                cost = tokens * 60.0 / self.tokens_per_minute
                start = max(start, self._token_debt_until + min(cost, 60.0) - 60.0)
                self._token_debt_until = max(self._token_debt_until, start) + cost
            wait = start - now
            if wait > 0:
                self.waited_s += wait
        if wait > 0:
            self._sleep(wait)

    def adjust_tokens(self, estimated: int, actual: int) -> None:
        """Corrects the token budget once the provider reported the real usage."""
        if self.tokens_per_minute and actual >= 0:
            with self._lock:
                self._token_debt_until += (actual - estimated) * 60.0 / self.tokens_per_minute

    def cool_down(self, seconds: float) -> None:
        """Holds every worker for ``seconds`` (the provider said 429)."""
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)


def estimate_tokens(text_chars: int, max_output_tokens: int = 0) -> int:
    """A provider-neutral estimate (about 4 characters per token) plus the output budget."""
    return text_chars // 4 + 1 + max(0, max_output_tokens)
