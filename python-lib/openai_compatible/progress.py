"""Progress lines every few seconds and the closing summary of a run."""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

log = logging.getLogger("openai_compatible")


def _duration(seconds: float, tenths: bool = False) -> str:
    """``1h05m``, ``2m03s``, ``42s``; with ``tenths``, under 10 s as ``0.6s`` (a short run's time beside its
    rate: ``0s`` read as nothing done)."""
    if tenths and seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _rate(rows_per_s: float) -> str:
    """``12.5 rows/s``; below one row a second, two significant digits (``0.043 rows/s``), so that a slow job
    (a small server under load, long answers) does not read as stalled at ``0.0 rows/s``."""
    if rows_per_s >= 1 or rows_per_s <= 0:
        return f"{rows_per_s:.1f} rows/s"
    return f"{rows_per_s:.2g} rows/s"


@dataclass
class RunSummary:
    """What a run did. ``answered`` rows got an answer (new, cached or shared with a duplicate row)."""

    rows: int = 0
    answered: int = 0
    errors: Counter = field(default_factory=Counter)
    from_cache: int = 0
    deduplicated: int = 0
    requests_sent: int = 0
    http_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # part of completion_tokens, when the provider reports it
    cost: Optional[float] = None  # estimated, of the requests this run paid for; None when no answer had a price
    seconds: float = 0.0
    concurrency: str = ""  # the client's limit: "8", or "automatic, 37 now (peak 52, bound 256)"

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["errors"] = dict(self.errors)
        out["failed"] = self.failed
        return out

    def describe(self) -> str:
        errors = ", ".join(f"{kind}: {count}" for kind, count in self.errors.most_common()) or "none"
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.rows} rows in {_duration(self.seconds, tenths=True)} ({_rate(rate)}): {self.answered} answered "
                f"({self.from_cache} from the cache, {self.deduplicated} duplicates), {self.failed} errors "
                f"({errors}); {self.requests_sent} requests, {self.http_calls} HTTP calls, {self.retries} retries, "
                f"{self.rate_limited} rate-limited (429); tokens: {self.prompt_tokens} in, "
                f"{self.completion_tokens} out"
                + (f" ({self.reasoning_tokens} of them reasoning)" if self.reasoning_tokens else "")
                + ("" if self.cost is None else f"; estimated cost: {self.cost:.6g}")
                + (f"; concurrency {self.concurrency}" if self.concurrency else ""))

    def add_cost(self, cost: Optional[float]) -> None:
        """Adds the estimated cost of one paid request (None: no price, nothing added)."""
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost


class ProgressReporter:
    """Logs ``rows done / total, rows/s, ETA, errors, tokens`` at most every ``every_s`` seconds.

    ``total`` is the exact number of rows when the caller knows it (a DataFrame's length); ``at_most`` a bound
    (a row limit the input may not reach), shown as such. Without a total, :meth:`input_ended` gives it once the
    whole input has been read; until then the lines show rows done and the rate only."""

    def __init__(self, total: Optional[int] = None, every_s: float = 5.0,
                 emit: Callable[[str], None] = log.info, clock: Callable[[], float] = time.monotonic,
                 at_most: Optional[int] = None) -> None:
        self.total = total
        self.at_most = at_most
        self.every_s = every_s
        self._emit = emit
        self._clock = clock
        self.started = clock()
        self._last = self.started

    def input_ended(self, rows: int) -> None:
        """The input has been read to its end, ``rows`` rows in all: the total, unless the caller gave one."""
        if self.total is None:
            self.total = rows

    def maybe_report(self, summary: RunSummary, done: int, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        if self.total:
            eta = _duration((self.total - done) / rate) if rate > 0 else "?"
            position = f"{done}/{self.total} rows ({100.0 * done / self.total:.0f}%), ETA {eta}"
        elif self.total is None and self.at_most:
            eta = _duration(max(self.at_most - done, 0) / rate) if rate > 0 else "?"
            position = f"{done} of at most {self.at_most} rows, ETA at most {eta}"
        else:
            position = f"{done} rows"
        self._emit(f"Progress: {position}, {_rate(rate)}, {summary.failed} errors, "
                   f"{summary.prompt_tokens + summary.completion_tokens} tokens"
                   + (f", concurrency {summary.concurrency}" if summary.concurrency else ""))
