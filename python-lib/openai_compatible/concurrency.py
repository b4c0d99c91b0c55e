"""Automatic concurrency: how many requests a connection keeps in flight, learnt from what the provider does.

The rule follows TCP congestion control (slow start, CUBIC's careful probing beyond the last capacity found)
and the gradient / Vegas limits of Netflix's concurrency-limits library, reading the two signals providers give:

- servers that *refuse* beyond their capacity (gateways, clouds: 429 without a wait hint, 503, or timeouts far
  longer than the answers; a 429 with a hint is a rate quota, which ratelimit.py answers, and only holds growth):
  each refused request gives up its slot, so the k requests of a burst beyond the capacity take the limit down by
  k, to what the server took: the capacity found. The limit stays there a few round trips, then probes one above
  it. Refusals that took it below what calm rounds held (a passing burst of 503s) are followed, once a round passes
  without one, by steps back towards that level, halving the gap; a way back refused beyond 2% of recent calls
  shows that the capacity fell (a flaky gateway's random refusals stay under it). No cut to a fraction of the
  capacity (Reno's multiplicative decrease): each probe would cost that fraction of the capacity for the round
  trips it takes to climb back, and a client whose requests spend a few milliseconds in its own hands besides the
  server's time has no throughput to spare. A refused request that our own load caused is retried about a round
  trip later, ahead of the requests that never went;
- servers that *queue* beyond it (vLLM, llama.cpp, Ollama: nothing is refused, latency grows): by
  Little's law, requests whose mean latency is above the unloaded latency waited in a queue; the limit
  becomes what the server actually served (in flight x unloaded latency / latency), the gradient rule, or
  when more, the answer rate over the last latency or the last few latencies, times the unloaded latency
  (a stall of the client's own lengthens every latency without a queue at the server), never below
  QUEUE_FLOOR, and later requests measure the unloaded latency again. The mean is taken over cohorts of requests by send
  time, once all of a cohort's requests came back, and over as many answers as their spread asks (an
  LLM's answers take from one second to thirty): the answers that come back within a round trip are the
  quick ones, and judging by them read varied lengths as a queue. Growth beyond levels already proven
  waits for a cohort sent at the current limit to come back without a queue.
  A server that queues from the first request (llama.cpp with 1 to 4 slots, Ollama) never shows its
  unloaded latency, so a cut keeps part of its queue. When a cut leaves the throughput whole, the limit is
  halved for one judgement (a probe, as BBR's ProbeRTT drains the queue to see the bare round trip): kept
  while the throughput holds, which also takes the floor down; undone when it falls, and tried again later
  and later. A queue that reaches the read timeout (timeouts about as long as the answers) takes a slot away for
  each timeout, down to most of what the server answered within a read timeout.

While nothing is refused and latency holds, the limit grows by one slot per answer, doubling each round
trip, until the first sign of congestion (slow start: a refusal, a queue, or the quickest answers waiting),
then by a small allowance per round trip; growth beyond proven levels also waits while far more is in flight
than the server served at once (Little's law again: requests that hang until a timeout neither answer nor
refuse). It never leaves [1, upper bound]. A round trip ("round") is the
mean latency of the previous round.

Time comes from an injected clock, so tests drive the controller with synthetic sequences.
"""
from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from typing import Callable, Optional

from .cancel import RunStoppedError
from .errors import APITimeoutError, OpenAICompatibleError, QuotaExceededError, RateLimitError, ServerError

DEFAULT_UPPER_BOUND = 256
# after a refused probe, the next waits at least this many calls' worth of calm round trips: refused probes stay
# under 1% of calls against a small capacity (a probe every four round trips refused 10% of calls at 1)
PROBE_CALLS = 100
# refusals among recent calls beyond which a way back after refusals takes them as the capacity falling: fewer cost
# little (the target of the automatic mode is under 2%), and a flaky gateway's random ones stay under it
REFUSAL_BUDGET = 0.02
REFUSAL_WINDOW = 1000  # calls the refused share is taken over (exponentially weighted)
# the least a queue cuts the limit to (refusals may take it lower): a server that queues serves at least this
# many at once as fast as one (a small llama.cpp has 4 slots, vLLM hundreds), and latencies that vary widely
# must not be read as a queue down to 1
QUEUE_FLOOR = 16
# a probe (a halving after a cut that left the throughput whole) is kept when it keeps this share of the
# throughput; a halving from beyond a capacity C to under it keeps C_after / C, often 0.6 to 0.8 for an LLM's
PROBE_KEEPS = 0.9
NOISE_SHARE = 0.7  # of the 10th percentile's bias that the unloaded latency puts back (see unloaded_latency)
# the fall a probe's judgement must see through, which sizes its evidence: a failed probe lasts about half as long
# as a queue test (whose margin is the tolerance, 0.25)
PROBE_MARGIN = 0.35
# chances (cuts that left the throughput whole) a failed probe makes the next one let pass, four times more after
# each failed one, from 4 when the probe's throughput fell about as much as its limit (see _judge_down)
PROBE_BACKOFF_FIRST = 4
PROBE_BACKOFF_MAX = 64
# a probe's throughput "fell about as much as its limit" within this factor: against 48 slots at 100 ms a halving
# from 50 answered 0.52 as fast; against 12, one from 16 answered 0.67 as fast (16 queued)
PROBE_PROPORTIONAL = 1.2
# the judgements the unloaded latency is taken from once a cut drained a queue (see unloaded_latency), and how
# many it takes before they replace the earlier ones
DRAINED_KEPT = 30
DRAINED_MIN = 10
GROWTH_AHEAD = 1.5  # in flight over what was served at once beyond which growth waits (see _end_round)
# a timeout whose request took less than this many times the recent answers' latency reached it in a queue of our
# own (the answers wait nearly as long); a longer one was not taken (they come back far sooner)
QUEUED_TIMEOUT = 4.0
# the least share of the answers of the last read timeout that such timeouts leave as the limit: a first-come queue
# of that many takes under a read timeout to get through
TIMEOUT_FILL = 0.7
TIMEOUT_WINDOWS = 4  # read timeouts that count is averaged over
# latencies a cut also reads the answer rate over (besides the last one): a stall of the client's own thins the
# answers of one latency, not of several, while a ramp (slow start) shows its rate in the last one
RATE_WINDOWS = 4
ANSWERS_KEPT = 4096  # answer times kept for that count
ANSWERS_WINDOW = 8  # answers the recent latency is averaged over (exponentially weighted), for the reading above
SERVED_ROUNDS = 4  # rounds the reading of what the server served at once is averaged over
FEW_ANSWERS = 8  # a round of fewer answers holds growth only beyond chance (see _end_round)
DELAY_BLOCK = 8  # answers whose quickest slow start compares with the first block's (HyStart takes 8 per round)
SLOW_START_DELAY = 3.0  # how many times slower the quickest of a block must be to end slow start
LATENCY_WINDOW = 200  # answers the spread of latencies is taken over (exponentially weighted)
MAX_COHORT = 400  # the most requests a cohort waits for: a few minutes of an LLM's answers
PENDING_COHORTS = 64  # cohorts waiting for their last answers; older ones are dropped unjudged

# Outcomes of one HTTP attempt, as the controller reads them.
OK, REFUSED, TIMED_OUT, HELD, OTHER = "ok", "refused", "timed out", "held", "other"


def outcome_of(error: Optional[BaseException]) -> str:
    """``refused`` for the errors that say "too many requests at once" (429 without a wait hint, 503, 529);
    ``timed out`` for a timeout (a refusal too, or a queue of our own: see :meth:`AdaptiveLimit.on_timeout`);
    ``held`` for a 429 with a wait hint (a rate quota: the provider says when to come back, and
    the rate limiter's share adapts to it, not the concurrency); ``other`` for any other error (it says
    nothing about load); ``ok`` without error."""
    if error is None:
        return OK
    if isinstance(error, QuotaExceededError):
        return OTHER  # no amount of waiting or slowing down brings that quota back within the run
    if isinstance(error, RateLimitError):
        return HELD if error.retry_after is not None else REFUSED
    if isinstance(error, APITimeoutError):
        return TIMED_OUT
    # 503: the server is overloaded (RFC 9110 15.6.4); 529: Anthropic's "overloaded", also sent by some gateways
    if isinstance(error, ServerError) and error.status in (503, 529):
        return REFUSED
    return OTHER


class _Cohort:
    """Requests sent one after the other under one limit, judged once all of them came back."""

    __slots__ = ("opened", "last_sent", "sent", "returned", "answered", "latency", "square", "inflight", "closed",
                 "version")

    def __init__(self, opened: float, version: int) -> None:
        self.opened = self.last_sent = opened
        self.version = version  # the limit's: it moved since if the limit's is greater
        self.sent = self.returned = self.answered = 0
        self.latency = self.square = 0.0  # the sum of its answers' latencies, and of their squares
        self.inflight = 0
        self.closed = False


class _Down:
    """A move of the limit down for a queue, waiting for the judgement after it: the limit and floor before it, the
    throughput then (answers a second), and whether it was a probe (a halving) rather than a cut."""

    __slots__ = ("limit", "floor", "throughput", "probe")

    def __init__(self, limit: float, floor: float, throughput: float, *, probe: bool) -> None:
        self.limit, self.floor, self.throughput, self.probe = limit, floor, throughput, probe


class AdaptiveLimit:
    """The limit and the rule that moves it; not thread-safe (:class:`ConcurrencyLimiter` holds the lock).

    ``upper`` is the admin's bound, ``initial`` the limit before anything is known. ``tolerance`` is how far
    above the unloaded latency a round's mean may go before it counts as queueing (Netflix's Gradient2 limit
    allows 1.5: room for the latency a busy client machine adds by itself as it sends more). ``initial`` 16:
    most servers take that many at once, and slow start doubles it each round trip from there, so a run
    finds a capacity of 100 in three round trips.
    ``probe_rounds`` is how many calm round trips the limit spends at the capacity found by a refusal
    before it probes one above. ``baseline_rounds`` is how many recent rounds the unloaded latency is taken
    from, so it follows a server whose answers really got longer. Latencies are in seconds.
    """

    def __init__(self, upper: int = DEFAULT_UPPER_BOUND, *, initial: int = 16, lower: int = 1,
                 tolerance: float = 1.25, probe_rounds: int = 4, baseline_rounds: int = 200,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if upper < 1:
            raise ValueError(f"the upper bound of the concurrency must be at least 1, not {upper}")
        self.upper = int(upper)
        self.lower = max(1, min(int(lower), self.upper))
        self.tolerance = tolerance
        self.probe_rounds = max(1, int(probe_rounds))
        self._clock = clock
        self._limit = float(min(self.upper, max(self.lower, initial)))
        self.queue_floor = float(max(self.lower, min(self.upper, QUEUE_FLOOR)))
        self.slow_start = True
        self._rtt: Optional[float] = None  # the previous round's mean latency
        self._baselines: deque[float] = deque(maxlen=baseline_rounds)
        self._hold_until = -math.inf
        self._ceiling = math.inf  # the capacity the last refusal showed
        self._ceiling_queued = False  # shown by timeouts in a queue (see on_timeout), not by a refusal
        self._calm = 0  # rounds spent at the ceiling since the limit last moved
        self._probes = 0  # probes above the ceiling in a row that were not refused
        self._served: Optional[float] = None  # what the server served at once over the last few rounds
        self._peak = 0.0  # the most the server served at once in a calm round past slow start (within the limit)
        self._regrowing = False  # the limit just stepped back towards the peak, and a round has not yet passed
        self._refused_share = 0.0  # refused calls among about the last REFUSAL_WINDOW
        self._changed_at = -math.inf  # when the limit last moved: answers to older requests don't judge it
        self._recent: Optional[float] = None  # the latency of the last few answers
        self._answered_at: deque[float] = deque(maxlen=ANSWERS_KEPT)  # when the last answers came
        self._born = clock()
        # queueing is judged on cohorts of requests by send time once :meth:`on_send` is called (the limiter
        # does): see :meth:`_judge`. Without it (synthetic sequences), on round means
        self._cohorts: deque[_Cohort] = deque()
        self._by_cohorts = False
        self._judge_after = -math.inf  # cohorts opened before a queue drained after a cut say nothing of the cut
        self._evidence: deque[_Cohort] = deque()  # the cohorts judged last, as many as a queue test needs
        self._version = 0  # how many times the limit moved
        self._calm_at_limit = False  # a cohort sent at the current limit came back without a queue
        # how much the latencies of requests sent together vary (their squared coefficient of variation), over
        # about LATENCY_WINDOW recent answers: the spread a queue test must see through
        self._spread: Optional[float] = None
        self._spread_seen = 0
        self._single: Optional[float] = None  # a cohort of one answer, waiting for the next (see _note_single)
        self._first_min: Optional[float] = None  # slow start's delay watch (see :meth:`_watch_delay`)
        self._block_min, self._block_count = math.inf, 0
        # moves down for a queue, judged by the throughput after them (see :meth:`_judge_down`): the floor a probe
        # proved, the move awaiting its judgement, and how many chances the next probe still lets pass
        self._proven_floor = self.queue_floor
        self._down: Optional[_Down] = None
        self._probe_wait = 0
        self._drained: deque[float] = deque(maxlen=DRAINED_KEPT)
        self._probe_backoff = 1
        self._new_round(clock())
        self.refusals = 0
        self.samples = 0

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(self.lower, min(self.upper, int(self._limit)))

    @property
    def round_trip(self) -> Optional[float]:
        """The last round's mean latency in seconds (None before the first round ended)."""
        return self._rtt

    @property
    def unloaded_latency(self) -> Optional[float]:
        """The latency of the server without a queue, in seconds: the 10th percentile of recent judgements' mean
        latencies, raised by most of what chance takes such a percentile below their centre.

        Once DRAINED_MIN cuts for a queue were judged, only judgements without a queue count: those of a cut
        (its cohorts went once the queue it found drained), of a failed probe (below the capacity), and of a
        queue the floor kept the limit from cutting (the server itself got slower). Every judgement counted
        before, and in the sawtooth of cuts and growth one in seven or so has no queue: the 10th percentile of
        all of them sat among the queued ones, each cut aimed a little high from it, and over five minutes at
        48 slots the median latency crept from 1.2 to 1.9 times the unloaded one."""
        samples = self._drained if len(self._drained) >= DRAINED_MIN else self._baselines
        if not samples:
            return None
        # a low percentile rather than the minimum: on a busy client machine one lucky round would set a bar
        # that ordinary rounds then miss, and the limit would fall below the server's capacity
        ranked = sorted(samples)
        # each mean strays from the server's by chance, and the 10th percentile of such means lies 1.28 sigma
        # below their centre: put back (most of it), or the queue test's margin shrinks by as much and reads chance
        # as a queue. Only most of it: the whole let a steady server's queue grow past the tolerance
        return ranked[len(ranked) // 10] * (1.0 + NOISE_SHARE * 1.28 * self._noise(samples))

    def _noise(self, samples: deque[float]) -> float:
        """Sigma of a judgement's mean latency by chance, as a share of it. Two readings, each too high somewhere,
        and the lower is kept: from the latencies of the answers a judgement pools (in a queue they also vary
        with each request's place in it); and from how much consecutive judgements differ (a median: the limit's
        moves change them in steps, chance every time; two draws of sigma s differ by 0.954 s at the median)."""
        means = list(samples)
        if not self._spread or len(means) < 3:
            return 0.0
        pooled = math.sqrt(self._spread / self._evidence_size())
        steps = sorted(abs(b - a) / max(1e-9, min(a, b)) for a, b in zip(means, means[1:]))
        return min(pooled, steps[len(steps) // 2] / 0.954)

    def _new_round(self, now: float) -> None:
        self._round_start: Optional[float] = None  # a round spans a round trip of answers from its first one
        self._round_latency = 0.0
        self._round_served = 0.0  # latencies of all answers since the round began, those sent before a move too
        self._round_inflight = 0
        self._round_count = 0
        self._round_refused = False

    def on_hint(self, retry_after: float) -> None:
        """The provider asked to wait ``retry_after`` seconds: no growth before then."""
        self._hold_until = max(self._hold_until, self._clock() + max(0.0, retry_after))

    def on_refusal(self, inflight: int, retry_after: Optional[float] = None) -> bool:
        """A request was refused (or timed out) while ``inflight`` other requests were in flight. Returns True
        when our own requests filled the limit then (the refusal is ours, and the limit now leaves room for
        the refused request), False when it came from someone else's load or a passing fault."""
        now = self._clock()
        self.refusals += 1
        # refusals before the first answer say the server is not up yet (starting, loading its model), not what it
        # takes: slow start goes on from the lowered limit once answers come, instead of a probe at a time from 1
        # the refusals that end slow start come with a burst the client handles besides its answers: the latency of
        # the requests in flight with them is the client's, not a queue (the bench's refusing server: a cohort of slow
        # start read 159 ms against 112 and cut 48 slots to 35). Later refusals (a flaky gateway's random ones in
        # front of a queue) leave the cohorts judged, or a queue behind them would go unseen
        if self.slow_start and self.samples:
            self._judge_after = max(self._judge_after, now)
        self.slow_start = self.slow_start and not self.samples
        self._round_refused = True
        self._calm = self._probes = 0
        self._drop_down()  # a refusal says more than a probe for queues would
        used = inflight + 1 >= self._limit / 2  # the limit was in use: our own load filled the server
        if retry_after and retry_after > 0:
            self._hold_until = max(self._hold_until, now + retry_after)  # no growth before the provider's hint
        # the refused request gives up its slot: k requests beyond the capacity come back refused and take the
        # limit down by k, to what the server took. Reno's cut to a fraction, once a round trip, would cost that
        # fraction of the capacity each time a probe finds it again
        lowered = max(float(self.lower), self._limit - 1.0)
        self._refused_share += (1.0 - self._refused_share) / REFUSAL_WINDOW
        if self._regrowing and self._refused_share > REFUSAL_BUDGET:
            # the way back is refused beyond the budget: the capacity fell, it was no passing fault
            self._peak = lowered
        if self.samples:  # before any answer, the server showed that it was not up, not a capacity
            self._ceiling, self._ceiling_queued = lowered, False
        self._set(lowered, now)
        return used

    def on_timeout(self, sent_at: float, elapsed_s: float, inflight: int) -> bool:
        """The request sent at ``sent_at`` timed out after ``elapsed_s`` seconds, with ``inflight`` others in flight.
        Returns True when our own load caused it, as :meth:`on_refusal`.

        When the recent answers came back far sooner, the server did not take the request (a gateway that holds
        what it cannot serve): a refusal. When they took nearly as long, the request waited its turn in a server
        that queues (llama.cpp with 2 slots on a busy machine), and the queue reached the read timeout: the
        timeout takes one slot away, as a refusal does, but not below most of what the server answered within
        the last read timeout. By then a request waits less than that timeout, and the timeouts of requests that
        queued under the higher limit before (they come for up to a read timeout after) cannot take the limit
        below the server's slots, as they did counted as refusals. The limit then stays there, as at a capacity
        a refusal showed: such a server queues from its first request, and never shows an unloaded latency its
        queue could be measured against."""
        if self._recent is None or elapsed_s >= QUEUED_TIMEOUT * self._recent:
            return self.on_refusal(inflight)
        now = self._clock()
        self.slow_start = False
        self._calm = self._probes = 0
        self._drop_down()
        # the answers of a read timeout, over the last few: a server that still finishes what the timed-out
        # requests asked for answers few of ours until that is done, and the timeouts meanwhile say nothing of
        # the limit (llama.cpp's server checks the connection each second, HTTP_POLLING_SECONDS in its server.cpp,
        # and cancels the task of a client that left; older builds and other servers may not)
        span = min(TIMEOUT_WINDOWS * elapsed_s, now - self._born)
        answered = self._answers_since(now - span)
        # rounded up: early in a run a read timeout of twice an answer's time counts 2 answers of a 2-slot server,
        # and 0.7 x 2 rounded down took the limit to 1 (against the embedded llama.cpp, at 6 s)
        floor = max(float(self.lower), math.ceil(TIMEOUT_FILL * answered * elapsed_s / max(span, elapsed_s)))
        if self._limit - 1.0 >= floor:
            self._set(self._limit - 1.0, now)
        self._ceiling, self._ceiling_queued = self._limit, True
        self._proven_floor = min(self._proven_floor, self._limit)  # a later cut for the queue may go as low
        return False

    def _answers_since(self, since: float) -> int:
        """How many answers came at ``since`` or later (of the last ANSWERS_KEPT)."""
        return len(self._answered_at) - bisect.bisect_left(self._answered_at, since)

    def _drop_down(self) -> None:
        """Forgets the move down awaiting its judgement; a probe's floor goes back to what it was before it."""
        if self._down is not None and self._down.probe:
            self._proven_floor = self._down.floor
        self._down = None

    def on_send(self, now: float) -> None:
        """A request went at ``now`` (the time :meth:`on_done` gets back as its ``sent_at``)."""
        self._by_cohorts = True
        cohort = self._cohorts[-1] if self._cohorts else None
        if (cohort is None or cohort.closed or (cohort.version != self._version and now > cohort.last_sent)
                or (cohort.sent >= self._cohort_size() and now > cohort.last_sent)):
            if cohort is not None and not cohort.closed:
                cohort.closed = True
                if cohort.returned >= cohort.sent:
                    self._cohorts.pop()
                    self._judge(cohort, now)
            # a later send time than every request of the previous cohort, so a send time names its cohort
            cohort = _Cohort(now, self._version)
            self._cohorts.append(cohort)
            if len(self._cohorts) > PENDING_COHORTS:
                self._cohorts.popleft()
        cohort.sent += 1
        cohort.last_sent = now

    def on_done(self, sent_at: float, latency_s: Optional[float], inflight: int) -> None:
        """The request sent at ``sent_at`` came back: answered after ``latency_s`` with ``inflight`` in flight,
        or (``latency_s`` None) refused or failed."""
        for index in range(len(self._cohorts) - 1, -1, -1):
            cohort = self._cohorts[index]
            if cohort.opened <= sent_at:
                break
        else:
            return  # sent before any cohort (or in one dropped): no judgement
        cohort.returned += 1
        if latency_s is not None:
            cohort.answered += 1
            cohort.latency += max(0.0, latency_s)
            cohort.square += max(0.0, latency_s) ** 2
            cohort.inflight += inflight
        if cohort.closed and cohort.returned >= cohort.sent:
            del self._cohorts[index]
            self._judge(cohort, self._clock())

    def _cohort_size(self) -> int:
        """A cohort is a round trip's worth of requests: the limit."""
        return min(MAX_COHORT, max(1, int(self._limit)))

    def _evidence_size(self) -> int:
        """How many answers a queue test needs to tell a queue from chance. The mean of n answers whose
        latencies vary by a coefficient of variation cv strays by cv / sqrt(n), and the test has a margin of
        ``tolerance`` - 1, so n = (3 cv / margin)^2: about 130 for an LLM's answers (cv 0.9), 1 for a steady
        server's, whose cohorts are then judged one by one. A probe's judgement has the margin PROBE_MARGIN,
        so it needs about half as many: a failed probe costs less."""
        if not self._spread:
            return 1
        margin = PROBE_MARGIN if self._down is not None and self._down.probe else max(0.05, self.tolerance - 1.0)
        return min(MAX_COHORT, max(1, math.ceil(9.0 * self._spread / margin ** 2)))

    def _note_spread(self, cohort: _Cohort, mean: float) -> None:
        """Folds in how much the latencies of a calm cohort's answers varied. Within a cohort, not across
        answers: a queue that grows or drains moves the latencies of later cohorts, which is what the test
        looks for, not noise it must see through (across answers, a server of 2 slots read as an LLM's, and
        each judgement waited for a hundred answers). Calm cohorts only: in a queue, latencies also vary with
        each request's place in it."""
        if cohort.answered < 2 or mean <= 0:
            return
        variance = max(0.0, cohort.square / cohort.answered - mean * mean) * cohort.answered / (cohort.answered - 1)
        self._fold_spread(variance / (mean * mean), cohort.answered)

    def _note_single(self, latency: float) -> None:
        """Folds in how much two consecutive cohorts of one answer each differ (at a limit of 1 or 2 a cohort has
        one): calm or not, since two requests sent one after the other waited about as long in a queue. Without
        it, the spread of bigger cohorts long ago stood for the answers of a server of 2 slots, whose rounds of
        two answers of 40 to 100 s then read as a queue, and the limit stayed at 1."""
        if self._single is None:
            self._single = latency
            return
        first, self._single = self._single, None
        mean = (first + latency) / 2
        if mean > 0:
            self._fold_spread((first - latency) ** 2 / 2 / (mean * mean), 2)

    def _fold_spread(self, spread: float, answers: int) -> None:
        self._spread_seen += answers
        weight = answers / min(self._spread_seen, LATENCY_WINDOW)
        self._spread = spread if self._spread is None else self._spread + min(1.0, weight) * (spread - self._spread)

    def _judge(self, cohort: _Cohort, now: float) -> None:
        """Queueing, judged on cohorts once all their requests came back: their mean latency is that of every
        request they sent, the slow ones included. The answers that come back within a round trip are the
        quick ones, and their mean, taken as the unloaded latency, made rounds of an LLM's varied answers
        read as a queue, round after round, until the limit was 1. A cut needs the pooled mean of the last
        :meth:`_evidence_size` answers; growth needs one cohort sent at the current limit without a queue
        (a wrong growth is undone by the next cut, a wrong cut was not undone)."""
        if not cohort.answered or cohort.opened < self._judge_after:
            return
        mean = cohort.latency / cohort.answered
        if cohort.answered == 1:
            self._note_single(mean)
        base = self.unloaded_latency
        if base is None or mean <= base * self.tolerance:
            self._calm_at_limit = self._calm_at_limit or cohort.version == self._version
            self._note_spread(cohort, mean)
        self._evidence.append(cohort)
        needed = self._evidence_size()
        answered = sum(c.answered for c in self._evidence)
        while answered - self._evidence[0].answered >= needed:
            answered -= self._evidence.popleft().answered
        if answered < needed:
            return
        pooled = sum(c.latency for c in self._evidence) / answered
        inflight = sum(c.inflight for c in self._evidence) / answered
        if self._down is None or not self._down.probe:  # a probe's fewer answers would make a noisy baseline
            self._baselines.append(pooled)
            if self._down is not None:
                self._drained.append(pooled)  # the judgement of a cut: its cohorts went once the queue drained
        base = self.unloaded_latency or pooled
        if self._down is not None:
            self._judge_down(inflight / pooled, pooled, now)
        elif pooled > base * self.tolerance and now >= self._hold_until:
            self._queue_cut(inflight, base, pooled, now)
        else:
            return
        self._evidence.clear()
        self._judge_after = now + pooled  # the queue it found takes about a latency to drain

    def _judge_down(self, throughput: float, latency: float, now: float) -> None:
        """Judges the last move down by the throughput after it. By Little's law, requests in flight over their
        latency is the rate the server answers. A cut for a queue measures what the server served against the
        unloaded latency, and a server that queues from the first request (llama.cpp with 2 slots, Ollama) never
        shows it: the cut keeps part of the queue. If the server answered at least 0.9 as fast after the move,
        it was still full: the limit is halved for a judgement (a probe). A probe that kept the throughput too
        only took slots that queued, and becomes the floor of later cuts; one that did not goes back to what
        it measured (the rate before it times its own latency, which had no queue). The next probe lets chances
        pass, four times more after each failed one: from PROBE_BACKOFF_FIRST when the throughput fell about as
        much as the limit (the level before the probe was not full either, so the unloaded latency the cuts go
        by had no queue in it), from one when it fell less (the level before it queued)."""
        down, self._down = self._down, None
        if down is None:
            return
        # a server that refused showed its capacity: it is no server that only queues (and a cut's way back to
        # that capacity would read as a cut that kept the throughput)
        if throughput >= PROBE_KEEPS * down.throughput and self._ceiling == math.inf:
            if down.probe:
                self._probe_backoff = 1
            if self._probe_wait > 0:
                self._probe_wait -= 1
                return
            halved = max(float(self.lower), math.floor(self._limit / 2))
            if halved < self._limit:
                self._down = _Down(self._limit, self._proven_floor, throughput, probe=True)
                self._proven_floor = min(self._proven_floor, halved)
                self._set(halved, now)
        elif down.probe:
            self._drained.append(latency)  # below the capacity: no queue
            self._proven_floor = down.floor
            proportional = throughput * down.limit <= PROBE_PROPORTIONAL * down.throughput * self._limit
            first = PROBE_BACKOFF_FIRST if proportional else 1
            self._probe_wait = min(PROBE_BACKOFF_MAX, self._probe_backoff * first)
            self._probe_backoff = min(PROBE_BACKOFF_MAX, self._probe_backoff * 4)
            self._set(max(self._limit, min(down.limit, down.throughput * latency)), now)

    def _queue_cut(self, inflight: float, base: float, mean: float, now: float) -> None:
        """Queueing: back to what the server serves without a queue, so the next rounds measure the unloaded
        latency again (else the baseline would creep up with the queue it tolerates).

        What it serves at once is read two ways by Little's law, and the greater kept: the requests in flight
        when the judged ones came back, times unloaded over measured latency (the gradient rule); and the answers
        a second times the unloaded latency. The first undershoots whenever latency grew for another reason than
        our queue: in slow start, requests sent after the judged ones count as in flight though they queued
        behind them; on a busy client machine a stall (the interpreter lock, a garbage collection) lengthens
        every latency while the server stays full. Cuts went to 36 to 45 against 48 slots at 100 ms in the
        bench, and its throughput ranged from 0.78 to 0.93 of the capacity. The answer rate holds through a
        stall when read over a few latencies, and through a ramp over the last one."""
        self.slow_start = False
        served = inflight * base / mean
        for windows in (1, RATE_WINDOWS):
            span = min(windows * mean, now - self._born)
            if span > 0:
                served = max(served, self._answers_since(now - span) / span * base)
        # never below QUEUE_FLOOR for a queue: a wrong reading of a queue, round after round, would take the limit
        # down to 1. Below it, only a probe that kept the throughput (:meth:`_judge_down`) lowers the floor
        floor = self._proven_floor if self._limit <= self.queue_floor else self.queue_floor
        before = self._limit
        self._set(min(self._limit, max(served, floor)), now)
        if self._limit < before:
            self._down = _Down(before, self._proven_floor, inflight / mean, probe=False)
        else:
            # held at the floor, the limit queues nothing it could drop: what looked like a queue is the server's
            # own latency (it got slower), or a queue only probes can find (a server of a few slots)
            self._drained.append(mean)

    def on_success(self, latency_s: float, inflight: int) -> None:
        """A request was answered after ``latency_s`` with ``inflight`` requests in flight (itself included)."""
        self.samples += 1
        self._refused_share -= self._refused_share / REFUSAL_WINDOW
        latency_s = max(0.0, latency_s)
        self._recent = latency_s if self._recent is None else self._recent + (latency_s - self._recent) / ANSWERS_WINDOW
        now = self._clock()
        self._answered_at.append(now)
        if self.slow_start:
            self._watch_delay(latency_s)
        if self.slow_start:  # the watch may have ended it
            self._grow_per_answer(inflight, now)
        earlier = now - latency_s < self._changed_at  # sent under the previous limit
        if self._round_start is not None or not earlier:
            self._round_served += latency_s  # the server's time, whatever limit the request went under
        if earlier:
            return  # says nothing of this limit (else growth would be judged by it)
        self._round_latency += latency_s
        self._round_inflight += inflight
        self._round_count += 1
        if self._round_start is None:
            self._round_start = now
        if now - self._round_start >= (self._rtt if self._rtt is not None else latency_s):
            self._end_round(now)

    def _grow_per_answer(self, inflight: int, now: float) -> None:
        """Slow start: one more slot per answer while the limit is in use, so it doubles each round trip (TCP's
        slow start grows per acknowledgement too) and a capacity of 48 is found from 16 in under two round
        trips, with an overshoot of the few requests sent before the first refusal came back. Queueing is
        judged on cohorts (or rounds), as after slow start: one answer's latency says little when output
        lengths vary."""
        if inflight >= self._limit / 2 and now >= self._hold_until:
            self._limit = min(float(self.upper), self._limit + 1.0)

    def _watch_delay(self, latency_s: float) -> None:
        """Slow start ends when the quickest of a block of answers took SLOW_START_DELAY times the quickest of the
        first block (TCP's HyStart reads the least delay of each round the same way): in a queue every answer
        waits, the quick ones too, while the quickest of a few answers of varied lengths moves little. Without
        it, growth of one slot per answer outran the evidence a cut needs: past 100 against a server of 1 slot."""
        self._block_min = min(self._block_min, latency_s)
        self._block_count += 1
        if self._block_count < DELAY_BLOCK:
            return
        if self._first_min is None:
            self._first_min = self._block_min
        elif self._block_min > SLOW_START_DELAY * self._first_min:
            self.slow_start = False
        self._block_min, self._block_count = math.inf, 0

    def _end_round(self, now: float) -> None:
        mean = self._round_latency / self._round_count
        inflight = self._round_inflight / self._round_count
        # by Little's law, what the server served at once: the time its answers spent in it, over the round
        served = self._round_served / max(1e-9, now - (self._round_start or now))
        refused, count = self._round_refused, self._round_count
        self._new_round(now)
        self._rtt = mean
        if not self._by_cohorts:
            self._baselines.append(mean)
        base = self.unloaded_latency or mean
        if refused or now < self._hold_until:
            return
        # judged by cohorts, a round of a few answers only holds growth beyond what chance moves their mean (two
        # sigma): against 2 slots with answers of 40 to 100 s, a round of two answers read as a queue most times.
        # (Rounds of more answers hold growth at the tolerance: beyond it an LLM server's queue grew)
        few = self._by_cohorts and self._spread and count < FEW_ANSWERS
        margin = 2.0 * math.sqrt(self._spread / count) if few else 0.0
        if mean > base * (self.tolerance + margin):
            if not self._by_cohorts:
                self._queue_cut(inflight, base, mean, now)
            # judged by cohorts, a round that looks queued only holds growth: a cohort with all its answers
            # (the slow ones too) decides whether to cut
            return
        if inflight < self._limit / 2:
            return  # the limit wasn't used (too few rows in flight): it proved nothing, so it doesn't grow
        if self.slow_start or (self._down is not None and self._down.probe):
            return  # it grew with each answer, or a probe below the floor holds it for a judgement
        self._regrowing = False
        # what the server served at once, not the limit: requests that hang until a timeout count as in flight,
        # and a passing fault would send the limit back to a level the server never took
        self._peak = max(self._peak, min(self._limit, served))
        # beyond levels already proven, growth waits until a cohort sent at this limit came back without a queue:
        # a round's answers are the quick ones, and judged by them growth outran the queue the cohorts show
        unproven = self._by_cohorts and not self._calm_at_limit
        # growth beyond proven levels also waits while far more is in flight than the server served (Little's law):
        # requests that hang until a timeout neither answer nor refuse, and the answers of the others look calm.
        # Read over this round and the last few: an LLM's varied latencies make one round's reading stray by a third
        self._served = served if self._served is None else self._served + (served - self._served) / SERVED_ROUNDS
        unproven = unproven or inflight > GROWTH_AHEAD * max(served, self._served)
        if self._ceiling == math.inf:
            if not unproven:
                self._set(self._limit + max(1.0, math.sqrt(self._limit) / 2), now)  # no refusal yet: sqrt(limit)/2
        elif self._limit < self._ceiling:
            # below the capacity the last refusal showed: back to it in a few round trips, halving the gap
            step = max(1.0, math.ceil((self._ceiling - self._limit) / 2))
            self._set(min(self._ceiling, self._limit + step), now)
        elif self._limit < self._peak:
            # refusals took it below what calm rounds held, and a round passed without one: a passing fault (a burst
            # of 503s, a random one from a flaky gateway) took slots the server has again. Back towards the peak,
            # halving the gap, instead of a probe at a time from where the fault left it: one slot a refusal would
            # otherwise let a second of 503s leave the limit at 1, and 1% of random ones decay it to a fraction
            step = max(1.0, math.ceil((self._peak - self._limit) / 2))
            self._regrowing = True
            self._set(min(self._peak, self._limit + step), now)
        else:
            # at it: stay a few calm round trips, then probe one above. Probes that keep getting through mean
            # the capacity grew (the server was freed by others, or scaled up): growth is quick again
            if unproven:
                return
            self._calm += 1
            # a round at the limit carries about that many calls, and a refused probe costs one. Probes that got
            # through call for the next one soon: the capacity may have grown
            # a probe above a capacity that timeouts in a queue showed costs no refusal, only a longer queue
            cheap = self._probes or self._ceiling_queued
            wait = self.probe_rounds if cheap else max(self.probe_rounds, math.ceil(PROBE_CALLS / self._limit))
            if self._calm >= wait:
                self._calm = 0
                self._probes += 1
                self._ceiling = math.inf if self._probes > 3 else self._limit + 1
                self._set(self._limit + 1, now)

    def _set(self, limit: float, now: float) -> None:
        limit = max(float(self.lower), min(float(self.upper), limit))
        if int(limit) != int(self._limit):
            self._changed_at = now
            self._new_round(now)
            self._version += 1
            self._calm_at_limit = False
        self._limit = limit


class ConcurrencyLimiter:
    """A semaphore shared by every thread of a connection, whose size is fixed or follows :class:`AdaptiveLimit`.

    ``fixed`` > 0 pins the limit; 0 makes it automatic, between 1 and ``upper``. A retry waiting for a slot
    gets the next one free, before first attempts: its row is the oldest, and the output (in input order)
    waits for it. First attempts take free slots as they come: handing each slot to a chosen waiting thread
    would leave it idle until that thread runs, which on a busy machine costs more than the order gains. Use::

        with limiter.attempt():
            response = send()   # its latency, or its error, is reported to the controller
    """

    def __init__(self, fixed: int = 0, upper: int = DEFAULT_UPPER_BOUND, *,
                 clock: Callable[[], float] = time.monotonic, controller: Optional[AdaptiveLimit] = None) -> None:
        self.fixed = max(0, int(fixed))
        self.controller = None if self.fixed else (controller or AdaptiveLimit(upper, clock=clock))
        self._clock = clock
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # first attempts waiting for a slot
        self._retry_cond = threading.Condition(self._lock)  # retries waiting for a slot: served first
        self._retries_waiting = 0
        self._waiting = 0  # first attempts waiting for a slot
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

    def acquire(self, timeout: Optional[float] = None, *, sending: bool = True, retry: bool = False) -> float:
        """Blocks until a request may go; returns its start time (for :meth:`release`).
        ``sending=False``: the slot's request first waits for something else (the rate limiter); call
        :meth:`begin` when it is sent. ``retry``: the request was sent before and failed; it goes ahead of
        first attempts. Raises TimeoutError when ``timeout`` seconds pass first."""
        with self._lock:
            if retry:
                self._retries_waiting += 1
                try:
                    free = self._retry_cond.wait_for(lambda: self._inflight < self.limit, timeout)
                finally:
                    self._retries_waiting -= 1
            elif self._inflight < self.limit and not self._retries_waiting:
                free = True  # the usual case, without a wait
            else:
                self._waiting += 1
                try:
                    free = self._cond.wait_for(lambda: self._inflight < self.limit and not self._retries_waiting,
                                               timeout)
                finally:
                    self._waiting -= 1
            if free:
                self._inflight += 1
                self._sending += sending
                started = self._clock()
                if sending and self.controller is not None:
                    self.controller.on_send(started)
            if retry or not free:
                self._wake()  # the first attempts a retry held back, when slots are left
            if not free:
                raise TimeoutError("no concurrency slot became free in time")
            return started

    def _wake(self) -> None:
        """Wakes as many waiters as there are free slots, retries first (the lock is held)."""
        free = self.limit - self._inflight
        if free > 0 and (self._retries_waiting or self._waiting):
            (self._retry_cond if self._retries_waiting else self._cond).notify(free)

    def begin(self) -> float:
        """The request of a slot taken with ``sending=False`` goes now; returns its start time."""
        with self._lock:
            self._sending += 1
            started = self._clock()
            if self.controller is not None:
                self.controller.on_send(started)
            return started

    def release(self, started: float, outcome: str = OK, retry_after: Optional[float] = None) -> bool:
        """Frees the slot whose request was sent at ``started`` and reports the attempt's outcome (``ok``,
        ``refused``, ``timed out``, ``held``, ``other``). Returns True for a refusal (or timeout) our own load
        caused, whose request may come back after a round trip (see :meth:`AdaptiveLimit.on_refusal` and
        :meth:`AdaptiveLimit.on_timeout`)."""
        ours = False
        with self._lock:
            inflight = self._sending  # requests on the wire, this one included: what the provider saw
            self._inflight -= 1
            self._sending -= 1
            if self.controller is not None:
                latency = self._clock() - started
                self.controller.on_done(started, latency if outcome == OK else None, inflight)
                if outcome == OK:
                    self.controller.on_success(latency, inflight)
                elif outcome == REFUSED:
                    ours = self.controller.on_refusal(inflight - 1, retry_after)
                elif outcome == TIMED_OUT:
                    ours = self.controller.on_timeout(started, latency, inflight - 1)
                elif outcome == HELD:
                    self.controller.on_hint(retry_after or 0.0)
                self.peak_limit = max(self.peak_limit, self.controller.limit)
            self._wake()
        return ours

    def attempt(self, *, retry: bool = False) -> _Attempt:
        """Holds a slot around one HTTP attempt and reports how it went (a context manager). It gives ``sending``:
        call it once the request goes (after the rate limiter's wait), so that wait counts neither as latency nor
        as load. ``retry``: see :meth:`acquire`. A refusal our own load caused gets ``retry_soon_s``, the round
        trip after which the lowered limit has made room for it (the retry loop waits that, not its backoff)."""
        return _Attempt(self, retry)

    def _give_back(self) -> None:
        """Frees a slot whose request was never sent (taken with ``sending=False``)."""
        with self._lock:
            self._inflight -= 1
            self._wake()

    def describe(self) -> str:
        """``12`` or ``automatic, 37 now (peak 52, bound 256)``, for logs and summaries."""
        if not self.controller:
            return str(self.fixed)
        return f"automatic, {self.limit} now (peak {self.peak_limit}, bound {self.upper})"


class _Attempt:
    """One HTTP attempt's slot (:meth:`ConcurrencyLimiter.attempt`): a class rather than a generator, as it is
    entered once per request."""

    __slots__ = ("limiter", "retry", "started", "sent")

    def __init__(self, limiter: ConcurrencyLimiter, retry: bool) -> None:
        self.limiter = limiter
        self.retry = retry
        self.started = 0.0
        self.sent = False

    def __enter__(self) -> Callable[[], None]:
        self.started = self.limiter.acquire(sending=False, retry=self.retry)
        return self.sending

    def sending(self) -> None:
        if not self.sent:
            self.sent = True
            self.started = self.limiter.begin()

    def __exit__(self, kind: Optional[type], exc: Optional[BaseException], traceback: object) -> bool:
        limiter = self.limiter
        if exc is None:
            self.sending()
            limiter.release(self.started, OK)
        elif isinstance(exc, RunStoppedError):
            if self.sent:
                limiter.release(self.started, OTHER)
            else:
                limiter._give_back()  # never sent: nothing for the controller to read
        elif isinstance(exc, OpenAICompatibleError):
            self.sending()
            if limiter.release(self.started, outcome_of(exc), exc.retry_after) and limiter.controller is not None:
                exc.retry_soon_s = limiter.controller.round_trip
        else:
            self.sending()
            limiter.release(self.started, OTHER)
        return False
