"""Thread-safe counters of what a connection did: HTTP calls, retries, 429s, tokens."""
from __future__ import annotations

import threading


class CallStats:
    """Counters shared by every thread using one client."""

    FIELDS = ("http_calls", "retries", "rate_limited", "prompt_tokens", "completion_tokens", "reasoning_tokens")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.FIELDS, 0)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"CallStats({self.snapshot()})"
