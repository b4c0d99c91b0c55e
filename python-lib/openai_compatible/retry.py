"""When to retry a failed call, and how long to wait: the provider's hints first, else backoff."""
from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Mapping, Optional

from .errors import OpenAICompatibleError

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> Optional[float]:
    """Seconds in a Go-style duration (``6m0s``, ``250ms``, ``1.5s``) or a bare number of seconds."""
    text = text.strip()
    try:
        value = float(text)
        return None if math.isnan(value) else value
    except ValueError:
        pass
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def retry_hint(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[float]:
    """Seconds the provider asks us to wait, from ``retry-after-ms``, ``Retry-After`` or ``x-ratelimit-reset-*``.

    ``Retry-After`` may be seconds (integer or fractional) or an HTTP date. Returns None without a hint.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after-ms")
    if value:
        try:
            number = float(value)
            if not math.isnan(number):
                return max(0.0, number / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value:
        try:
            number = float(value)
            if not math.isnan(number):
                return max(0.0, number)
        except ValueError:
            try:
                when = parsedate_to_datetime(value).timestamp()
                return max(0.0, when - (time.time() if now is None else now))
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
    resets = [parse_duration(lower[k]) for k in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
              if lower.get(k)]
    resets = [r for r in resets if r is not None and not math.isnan(r)]
    return max(0.0, max(resets)) if resets else None


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry, and the backoff when the provider gives no hint."""

    max_retries: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_hint_s: float = 60.0  # a provider asking for longer still gets at most this per wait

    def should_retry(self, error: OpenAICompatibleError, attempt: int) -> bool:
        """True when ``error`` is transient and the retry budget allows another attempt."""
        return error.retryable and attempt < self.max_retries

    def delay(self, attempt: int, hint: Optional[float] = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (attempt counts from 0)."""
        if hint is not None and not math.isnan(hint):
            return max(0.0, min(hint, self.max_hint_s))
        backoff = min(self.initial_delay_s * (2 ** attempt), self.max_delay_s)
        return backoff * (0.5 + random.random() / 2)  # jitter spreads the retries of parallel workers
