"""Several replicas behind one preset: which replica each HTTP attempt goes to, and which replicas are left out.

A preset may name more servers serving the same models (``replica_urls`` beside ``base_url``, or
``replica_target_uris`` beside ``target_uri``). Each attempt of the retry loop goes to one of them:

- **least outstanding requests**: the available replica with the fewest requests assigned and not yet
  finished, relative to its concurrency limit (ties: the one chosen least recently). Unlike round robin, a
  slow or busy replica gets fewer requests, and a held request keeps counting against its replica;
- **passive health checks**: a replica whose attempt is refused, breaks, times out or answers 5xx is left out
  for a cool-down of 5 s (nginx's upstream module likewise takes a server out after one failure,
  ``max_fails=1``, for ``fail_timeout``). Once the cool-down is over, the next request is its probe, and the
  only one it gets until answered (half-open, as a circuit breaker): an answer brings it back, a failure
  doubles the cool-down, up to 60 s (Envoy's outlier detection likewise lengthens each ejection);
- **failover**: the failed attempt is retried by the retry loop, and since its replica is now left out the
  retry goes to another one, at once (the error is marked ``failover``). An attempt that failed got no
  answer, so nothing is paid twice; an answered row is never sent again. While another replica is available,
  a refused connection is one replica's failure, not the service's (``unreachable`` is cleared): a down replica
  does not stop the job;
- **when every replica is out**, attempts go to the one whose cool-down ends first, with the retry loop's usual
  backoff, so a service that is wholly down still stops the job quickly.

Each replica has its own :class:`ConcurrencyLimiter`: with automatic concurrency (``max_concurrency`` 0) each
finds its own capacity; a fixed ``max_concurrency`` applies to each replica. The preset's rate limits
(``requests_per_minute``, ``tokens_per_minute``) stay shared: they are the service's quota.

The sender learns the replica of its attempt from :func:`replica_url` (a thread-local set for the attempt), so
that request building stays unaware of replicas. Time comes from an injected clock.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from ..concurrency import ConcurrencyLimiter
from ..errors import APIConnectionError, APITimeoutError, OpenAICompatibleError, ServerError
from ..settings import ConnectionSettings, safe_url

log = logging.getLogger("openai_compatible")

COOL_DOWN_S = 5.0
MAX_COOL_DOWN_S = 60.0

_local = threading.local()  # the (replicated root, chosen replica's root) of this thread's attempt


def replica_url(base: str) -> str:
    """``base`` (an endpoint's base URL) moved to the replica chosen for the current attempt; unchanged outside
    an attempt or for a base that is not replicated. The sender calls it where it builds the request URL."""
    route = getattr(_local, "route", None)
    if route is None or not _under(base, route[0]):
        return base
    return route[1] + base[len(route[0]):]


def _under(base: str, root: str) -> bool:
    return base == root or base.startswith(root + "/")


def is_replica_failure(error: BaseException) -> bool:
    """True for what says a replica is unwell rather than the request wrong: a refused, broken or timed-out
    connection (TLS included) and a 5xx answer. A 429, a 4xx or an unreadable answer say nothing of its health,
    nor does an OAuth2 token endpoint failing before the request was sent (``token_endpoint``, oauth2.py)."""
    if getattr(error, "token_endpoint", False):
        return False
    if isinstance(error, APIConnectionError):
        return True
    return isinstance(error, ServerError) and (error.status or 0) >= 500


def _problem(error: BaseException) -> str:
    """A few words for a replica's failure, for logs and the pool's status."""
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIConnectionError):
        return "refused connection" if error.unreachable else "broken connection"
    return f"HTTP {getattr(error, 'status', None) or 'error'}"


@dataclass(eq=False)
class Replica:
    """One server of the pool: its root URL, concurrency limiter and health."""

    root: str
    limiter: ConcurrencyLimiter
    outstanding: int = 0  # attempts assigned and not finished (waiting for a slot included)
    failures: int = 0  # cool-downs in a row; 0: healthy
    down_until: float = -math.inf
    probing: bool = False  # a probe is in flight (cool-down over, not yet back)
    epoch: int = 0  # moves at each change of health: outcomes of attempts from an older epoch are stale
    chosen_at: int = 0
    last_problem: str = field(default="", repr=False)

    @property
    def healthy(self) -> bool:
        return self.failures == 0

    def available(self, now: float) -> bool:
        """Healthy, or its cool-down is over and no probe is in flight."""
        return self.healthy or (now >= self.down_until and not self.probing)

    def load(self) -> float:
        return self.outstanding / max(1, self.limiter.limit)


class ReplicaPool:
    """Chooses a replica for each attempt, and keeps the concurrency of each.

    Stands where a :class:`ConcurrencyLimiter` stands for the client (``upper``, ``limit``, ``automatic``,
    ``describe()``...), those figures being the sums over the replicas. ``roots`` are the replicas' URLs, the
    preset's own first; a base URL under ``roots[0]`` is replicated, any other (an Azure endpoint with its own
    Target URI) goes to its own server through ``default``, a limiter of its own.
    """

    def __init__(self, roots: tuple, limiter: Callable[[], ConcurrencyLimiter], *,
                 clock: Callable[[], float] = time.monotonic, cool_down_s: float = COOL_DOWN_S,
                 max_cool_down_s: float = MAX_COOL_DOWN_S, default_used: bool = False) -> None:
        if len(roots) < 2:
            raise ValueError("a replica pool needs at least two replicas")
        self.primary = roots[0]
        self.replicas = [Replica(root, limiter()) for root in roots]
        self.default = limiter()
        self.default_used = default_used
        self.cool_down_s = cool_down_s
        self.max_cool_down_s = max_cool_down_s
        self.clock = clock  # seconds; cool-downs are read from it (a test may move it)
        self._lock = threading.Lock()
        self._order = itertools.count(1)

    @classmethod
    def for_settings(cls, settings: ConnectionSettings, *,
                     clock: Callable[[], float] = time.monotonic) -> Optional[ReplicaPool]:
        """The pool of a connection whose preset names replicas; None without (one server: nothing to choose)."""
        roots = settings.replica_roots()
        if not roots:
            return None
        unreplicated = any(not _under(e.base, roots[0]) for e in settings.endpoints)
        return cls(roots, lambda: ConcurrencyLimiter(settings.max_concurrency, settings.concurrency_upper_bound,
                                                     clock=clock),
                   clock=clock, default_used=unreplicated)

    # --- choosing ------------------------------------------------------------------------------------

    def serves(self, base: str) -> bool:
        """True when requests to ``base`` may go to any replica."""
        return _under(base, self.primary)

    def choose(self) -> tuple[Replica, int, bool]:
        """The replica for the next attempt, counted as outstanding on it; with the epoch it was chosen in and
        whether the attempt is its probe. Call :meth:`finish` with the attempt's outcome."""
        with self._lock:
            now = self.clock()
            available = [r for r in self.replicas if r.available(now)]
            if available:
                # a replica whose cool-down is over gets the next request as its probe: it is back the sooner
                replica = min(available, key=lambda r: (r.healthy, r.load(), r.outstanding, r.chosen_at))
            else:  # every replica is out: the one back first (the retry loop's backoff paces these attempts)
                replica = min(self.replicas, key=lambda r: (r.down_until, r.outstanding, r.chosen_at))
            probe = not replica.healthy and not replica.probing
            replica.probing = replica.probing or probe
            replica.outstanding += 1
            replica.chosen_at = next(self._order)
            return replica, replica.epoch, probe

    def finish(self, replica: Replica, epoch: int, probe: bool, error: Optional[BaseException]) -> bool:
        """Records an attempt's outcome on its replica. Returns True when another replica is available now (the
        attempt's failure is then one replica's, and the retry may go elsewhere)."""
        with self._lock:
            now = self.clock()
            replica.outstanding -= 1
            if probe:
                replica.probing = False
            if error is None:
                if not replica.healthy:
                    replica.failures, replica.down_until, replica.epoch = 0, -math.inf, replica.epoch + 1
                    log.info("Replica %s answers again; it takes requests again.", safe_url(replica.root))
            elif is_replica_failure(error) and epoch == replica.epoch:
                # an attempt sent before the last change of health says nothing new (a replica that was just left
                # out sees its other requests fail too; they must not lengthen its cool-down)
                replica.failures += 1
                replica.epoch += 1
                pause = min(self.max_cool_down_s, self.cool_down_s * 2 ** (replica.failures - 1))
                replica.down_until = now + pause
                replica.last_problem = _problem(error)
                log.warning("Replica %s is left out for %gs after a %s; its requests go to the other replicas.",
                            safe_url(replica.root), pause, replica.last_problem)
            return any(r is not replica and r.available(now) for r in self.replicas)

    @contextmanager
    def attempt(self, base: str = "", *, retry: bool = False) -> Iterator[Callable[[], None]]:
        """Holds a concurrency slot on the replica chosen for one HTTP attempt to ``base``, and routes the
        sender's URL there (:func:`replica_url`). Yields ``sending``, as :meth:`ConcurrencyLimiter.attempt`
        (``retry`` too).

        A replica's failure is recorded; when another replica is available the error is marked ``failover``
        (retry at once, elsewhere) and loses ``unreachable`` (the service is not down)."""
        if not self.serves(base):
            with self.default.attempt(retry=retry) as sending:
                yield sending
            return
        replica, epoch, probe = self.choose()
        previous = getattr(_local, "route", None)
        _local.route = (self.primary, replica.root)
        error: Optional[BaseException] = None
        try:
            with replica.limiter.attempt(retry=retry) as sending:
                yield sending
        except BaseException as exc:
            error = exc
            raise
        finally:
            _local.route = previous
            elsewhere = self.finish(replica, epoch, probe, error)
            if isinstance(error, OpenAICompatibleError) and is_replica_failure(error) and elsewhere:
                error.failover = True
                if isinstance(error, APIConnectionError):
                    error.unreachable = False

    # --- what the client shows as its concurrency ----------------------------------------------------

    def _limiters(self) -> list[ConcurrencyLimiter]:
        return [r.limiter for r in self.replicas] + ([self.default] if self.default_used else [])

    @property
    def automatic(self) -> bool:
        return self.default.automatic

    @property
    def upper(self) -> int:
        """The most requests the pool may ever let through at once (the sum over the replicas)."""
        return sum(limiter.upper for limiter in self._limiters())

    @property
    def limit(self) -> int:
        """Requests that may be in flight now, on the replicas that are not left out."""
        now = self.clock()
        taken = sum(r.limiter.limit for r in self.replicas if r.available(now))
        return max(1, taken) + (self.default.limit if self.default_used else 0)

    @property
    def inflight(self) -> int:
        return sum(limiter.inflight for limiter in self._limiters())

    @property
    def peak_limit(self) -> int:
        return sum(limiter.peak_limit for limiter in self._limiters())

    def status(self) -> list[tuple[str, str]]:
        """Each replica's URL (without credentials or query) and state: ``up`` or ``left out (timeout)``."""
        now = self.clock()
        out = []
        for r in self.replicas:
            state = "up" if r.healthy else (f"left out ({r.last_problem})" if now < r.down_until
                                            else "being probed" if r.probing else "to be probed")
            out.append((safe_url(r.root), state))
        return out

    def describe(self) -> str:
        """``3 replicas: http://a:8000/v1 automatic, 37 now (peak 52, bound 256); ...``, for logs and summaries."""
        states = dict(self.status())
        parts = []
        for r in self.replicas:
            where = safe_url(r.root)
            state = states[where]
            parts.append(f"{where} {r.limiter.describe()}" + ("" if state == "up" else f", {state}"))
        return f"{len(self.replicas)} replicas: " + "; ".join(parts)


def pinned_overrides(settings: ConnectionSettings, root: str) -> dict:
    """The setting changes that send every request of a connection to the one replica at ``root`` (for a check
    that must reach each replica, not the pool's choice): for :meth:`ConnectionSettings.with_overrides`."""
    if settings.style == "openai":
        return {"base_url": root, "replica_urls": ()}
    first = settings.target_uri
    endpoints = tuple(dataclasses.replace(e, base=root + e.base[len(first):]) if _under(e.base, first) else e
                      for e in settings.endpoints)
    return {"target_uri": root, "replica_target_uris": (), "endpoints": endpoints}
