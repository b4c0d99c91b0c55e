"""Automatic concurrency, driven by a fake clock against simulated servers: every figure is a count on the fake
clock's timeline, never a wall-clock time."""

import heapq
import threading

import pytest
from openai_compatible.concurrency import (
    HELD,
    OK,
    OTHER,
    REFUSED,
    TIMED_OUT,
    AdaptiveLimit,
    ConcurrencyLimiter,
    outcome_of,
)
from openai_compatible.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Server:
    """``capacity`` requests at once, each ``service_s`` long. ``refuse``: one more is refused at once (a gateway's
    429); otherwise it waits in a queue (vLLM, llama.cpp) and its latency grows."""

    def __init__(self, capacity, service_s=0.1, refuse=True, retry_after=None):
        self.capacity, self.service_s, self.refuse, self.retry_after = capacity, service_s, refuse, retry_after
        self.busy = []  # finish times of the requests being served (refusing) or of each slot (queueing)

    def arrive(self, now):
        """(finish time, refused) of a request arriving at ``now``."""
        if self.refuse:
            self.busy = [t for t in self.busy if t > now]
            if len(self.busy) >= self.capacity:
                return now + 0.002, True
            self.busy.append(now + self.service_s)
            return now + self.service_s, False
        if len(self.busy) < self.capacity:
            heapq.heappush(self.busy, now)
        start = max(now, heapq.heappop(self.busy))
        heapq.heappush(self.busy, start + self.service_s)
        return start + self.service_s, False


def run(limiter, clock, server, seconds, demand=None, hands_s=0.0):
    """Keeps the limiter full (or ``demand`` requests in flight at most) for ``seconds`` of fake time; each
    slot is freed ``hands_s`` after its answer (the client's own time: parsing it, writing the row).
    Returns per-request records (sent, done, refused) and the limits seen."""
    events, records, limits, seq = [], [], [limiter.limit], 0
    while clock.now < seconds:
        while limiter.inflight < limiter.limit and (demand is None or limiter.inflight < demand):
            started = limiter.acquire(timeout=0)
            done, refused = server.arrive(clock.now)
            heapq.heappush(events, (done + hands_s, seq, started, refused))
            seq += 1
        done, _, started, refused = heapq.heappop(events)
        clock.now = done
        limiter.release(started, REFUSED if refused else OK, server.retry_after if refused else None)
        records.append((started, done, refused))
        limits.append(limiter.limit)
    del limits[0]  # one limit per record, the one after it
    return records, limits


def summary(records, since):
    late = [r for r in records if r[0] >= since]
    answered = [r for r in late if not r[2]]
    span = max(r[1] for r in late) - since
    latencies = sorted(done - sent for sent, done, _ in answered)
    return {"rate": len(answered) / span, "refused_share": sum(r[2] for r in late) / len(late),
            "p50": latencies[len(latencies) // 2], "all_refused_share": sum(r[2] for r in records) / len(records)}


def automatic(upper=256, clock=None):
    clock = clock or FakeClock()
    return ConcurrencyLimiter(0, upper, clock=clock), clock


def test_refusing_server_converges_near_capacity_without_storms():
    limiter, clock = automatic()
    records, limits = run(limiter, clock, Server(48, refuse=True), seconds=30.0)
    whole = summary(records, 0.0)
    steady = summary(records, 5.0)
    assert steady["rate"] >= 0.9 * 48 / 0.1
    assert whole["all_refused_share"] < 0.02  # slow start included
    assert 40 <= limiter.limit <= 52
    assert max(limits[len(limits) // 2:]) <= 52  # no climb far beyond capacity once found


def test_a_refusing_server_is_served_as_well_as_by_the_best_fixed_setting():
    # with 6 ms of the client's own per answer (parsing it, writing the row), the best fixed setting is the
    # capacity, 48: more piles up refusals. The automatic limit must match it. A cut to 0.9 of the capacity
    # at each refused probe, then the climb back, cost 3% here and 10% against the bench's capacity server
    fixed = ConcurrencyLimiter(48, clock=FakeClock())
    records, _ = run(fixed, fixed._clock, Server(48, refuse=True), seconds=20.0, hands_s=0.006)
    best = summary(records, 5.0)["rate"]
    limiter, clock = automatic()
    records, limits = run(limiter, clock, Server(48, refuse=True), seconds=20.0, hands_s=0.006)
    assert summary(records, 5.0)["rate"] >= 0.99 * best
    assert summary(records, 0.0)["all_refused_share"] < 0.01
    assert min(limits[len(limits) // 2:]) >= 47  # never far under the capacity once found


def test_queueing_server_keeps_latency_near_the_unloaded_latency():
    limiter, clock = automatic()
    records, _ = run(limiter, clock, Server(48, refuse=False), seconds=30.0)
    steady = summary(records, 5.0)
    assert steady["refused_share"] == 0
    assert steady["rate"] >= 0.9 * 48 / 0.1
    assert steady["p50"] <= 0.1 * 1.25
    # at least the capacity (or throughput is lost), and at most what the latency tolerance lets queue
    assert 48 <= limiter.limit <= 48 * 1.25 * 1.4
    # a low percentile of round means: the server's 100 ms, plus the little queue the tolerance allows
    assert 0.1 <= limiter.controller.unloaded_latency <= 0.115


def test_a_fixed_bound_of_8_against_the_same_queueing_server_wastes_capacity():
    # the figure the automatic mode is for: 8 in flight serve 80 requests/s where the server could serve 480
    limiter = ConcurrencyLimiter(8, clock=(clock := FakeClock()))
    records, _ = run(limiter, clock, Server(48, refuse=False), seconds=5.0)
    assert summary(records, 1.0)["rate"] == pytest.approx(80, rel=0.05)


def test_the_upper_bound_is_never_exceeded():
    limiter, clock = automatic(upper=16)
    records, limits = run(limiter, clock, Server(48, refuse=True), seconds=10.0)
    assert max(limits) == 16 and limiter.limit == 16
    assert not any(refused for _, _, refused in records)


def test_the_limit_never_falls_below_one():
    limiter, clock = automatic()
    _, limits = run(limiter, clock, Server(0, refuse=True), seconds=5.0)
    assert min(limits) == 1 and limiter.limit == 1


def test_slow_start_doubles_each_round_trip_then_stops_at_the_first_refusal():
    limiter, clock = automatic()
    assert limiter.limit == 16
    _, limits = run(limiter, clock, Server(40, refuse=True), seconds=1.0)
    assert limits.index(32) < limits.index(64)  # doubled twice, one round trip each
    assert 64 not in limits[limits.index(64) + 200:] and limiter.limit < 64
    assert not limiter.controller.slow_start
    assert limiter.controller.refusals >= 1


def test_slow_start_grows_one_slot_per_answer_until_a_round_shows_a_queue():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=16, clock=clock)
    for _ in range(16):  # the first round trip's 16 answers: a slot more for each
        clock.now += 0.1 / 16
        control.on_success(0.1, 16)
    assert control.limit == 32 and control.slow_start
    control.on_success(0.1, 8)  # fewer than half the limit in flight: an answer proves nothing of the limit
    assert control.limit == 32
    control.on_success(0.5, 32)  # one slow answer (a long output) is no queue
    assert control.slow_start and control.limit == 33
    clock.now += 0.1
    control.on_success(0.1, 33)  # the first round ends: its mean is the unloaded latency so far
    assert control.round_trip is not None and control.slow_start
    for _ in range(40):  # a round trip whose answers all waited in a queue: far beyond the unloaded latency
        clock.now += 0.5 / 40
        control.on_success(0.5, 60)
    assert not control.slow_start
    assert control.limit < 33  # what the server served at once, not the slow start's last doubling


def test_a_retry_after_hint_holds_slow_start_too():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=16, clock=clock)
    control.on_hint(2.0)
    clock.now = 1.0
    control.on_success(0.1, 16)
    assert control.limit == 16
    clock.now = 2.5
    control.on_success(0.1, 16)
    assert control.limit == 17


def test_each_refused_request_gives_up_its_slot():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=64, clock=clock)
    for _ in range(16):  # slow start overshot a capacity of 48: the 16 requests beyond it come back refused
        control.on_refusal(inflight=60)
    assert control.limit == 48  # what the server took, not a fraction of it
    for _ in range(100):  # a server that refuses everything takes the limit to its floor, not below
        control.on_refusal(inflight=1)
    assert control.limit == 1


def test_refusals_before_any_answer_lower_the_limit_but_leave_slow_start_on():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=16, clock=clock)
    for _ in range(12):  # a server loading its model: 503 to everything, nothing answered yet
        control.on_refusal(inflight=15)
    assert control.limit == 4 and control.slow_start  # it showed it was not up, not what it takes
    for _ in range(4):  # up now: the four answers of a round trip, a slot more for each
        clock.now += 0.1 / 4
        control.on_success(0.1, 4)
    assert control.limit == 8
    control.on_refusal(inflight=8)  # a refusal after answers is a capacity: slow start ends there
    assert not control.slow_start and control.limit == 7


def test_a_retry_after_hint_holds_growth_until_it_has_passed():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=10, clock=clock)
    control.on_refusal(inflight=10, retry_after=5.0)
    held = control.limit
    for step in range(1, 40):  # answers keep coming during the hint: the limit doesn't move
        clock.now = step * 0.1
        control.on_success(0.1, held)
    assert control.limit == held
    for step in range(60, 80):  # after the hint, it grows again
        clock.now = step * 0.1
        control.on_success(0.1, held)
    assert control.limit > held


def test_a_limit_that_is_not_used_does_not_grow():
    limiter, clock = automatic()
    run(limiter, clock, Server(48, refuse=False), seconds=5.0, demand=3)
    assert limiter.limit == 16  # three in flight prove nothing about 16, let alone 32


def test_a_fixed_limiter_ignores_outcomes():
    limiter = ConcurrencyLimiter(12)
    assert not limiter.automatic and limiter.limit == limiter.upper == 12
    for _ in range(5):
        limiter.release(limiter.acquire(), REFUSED)
    assert limiter.limit == 12 and limiter.describe() == "12"


def test_outcomes_of_errors():
    assert outcome_of(None) == OK
    assert outcome_of(RateLimitError("slow down", status=429)) == REFUSED
    assert outcome_of(RateLimitError("slow down", status=429, retry_after=0.5)) == HELD
    assert outcome_of(APITimeoutError("read timeout")) == TIMED_OUT
    assert outcome_of(ServerError("overloaded", status=503)) == REFUSED
    assert outcome_of(ServerError("bug", status=500)) == OTHER
    assert outcome_of(QuotaExceededError("no credit", status=429)) == OTHER
    assert outcome_of(BadRequestError("bad", status=400)) == OTHER
    assert outcome_of(APIConnectionError("reset")) == OTHER


def test_attempt_reports_the_error_and_frees_the_slot():
    limiter, clock = automatic()
    with pytest.raises(RateLimitError):
        with limiter.attempt():
            raise RateLimitError("slow down", status=429)
    assert limiter.inflight == 0 and limiter.controller.refusals == 1
    with pytest.raises(RateLimitError):
        with limiter.attempt():  # a wait hint: a rate quota, which holds growth but is no concurrency refusal
            raise RateLimitError("slow down", status=429, retry_after=2.0)
    assert limiter.inflight == 0 and limiter.controller.refusals == 1
    with pytest.raises(KeyError):
        with limiter.attempt():
            raise KeyError("a bug, not a provider's answer")
    assert limiter.inflight == 0 and limiter.controller.refusals == 1


def test_an_invalid_upper_bound_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(0)


class SettableLimit:
    """A controller whose limit the test sets, to check the semaphore alone."""

    upper = 64

    def __init__(self, limit):
        self.limit = limit

    def on_success(self, latency_s, inflight):
        pass

    def on_refusal(self, inflight, retry_after=None):
        pass

    def on_send(self, now):
        pass

    def on_done(self, sent_at, latency_s, inflight):
        pass


def test_many_threads_never_exceed_the_limit_and_a_raised_limit_lets_waiters_in():
    control = SettableLimit(3)
    limiter = ConcurrencyLimiter(0, controller=control)
    lock = threading.Lock()
    inside, most = 0, 0
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def worker():
        nonlocal inside, most
        with limiter.attempt():
            with lock:
                inside += 1
                most = max(most, inside)
            entered.release()
            gate.wait()
            with lock:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        assert entered.acquire(timeout=30)
    assert not entered.acquire(timeout=0.2)  # the fourth waits: the limit is 3
    assert limiter.inflight == 3
    control.limit = 10
    limiter.release(limiter.acquire(timeout=30), OK)  # any release wakes the waiters the new limit admits
    for _ in range(7):
        assert entered.acquire(timeout=30)
    gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert most == 10 and limiter.inflight == 0


# --- the rules of the automatic limit, one at a time (synthetic sequences on the fake clock) ----------------------

def rounds(control, clock, count, latency=0.1, inflight=None):
    """``count`` rounds of answers of ``latency`` with the limit full (or ``inflight`` in flight); the limit after
    each. A round ends a round trip after its first answer, and answers sent before the limit moved don't count."""
    after = []
    for _ in range(count):
        for _ in range(3):
            clock.now += latency / 2
            control.on_success(latency, control.limit if inflight is None else inflight)
        after.append(control.limit)
    return after


def full_rounds(control, clock, count, latency=0.1):
    """``count`` rounds in which the server answers as many requests each round trip as the limit lets in flight
    (what a server that took them all at once does, by Little's law); the limit after each."""
    after = []
    for _ in range(count):
        answers = control.limit
        for _ in range(answers):
            clock.now += latency / answers
            control.on_success(latency, answers)
        after.append(control.limit)
    return after


def found_capacity(capacity=48, initial=60):
    """A controller past slow start that a refusal just told the capacity: ``capacity`` others were in flight."""
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=initial, clock=clock)
    rounds(control, clock, 1)  # the round trip is known
    control.slow_start = False
    control._limit = float(capacity + 1)
    assert control.on_refusal(inflight=capacity)
    return control, clock


def test_after_a_refusal_the_limit_stays_at_the_capacity_found_then_probes_one_above():
    control, clock = found_capacity(48)
    assert control.limit == 48  # the probe at 49 was refused: 48 is what the server takes
    clock.now += 0.2  # the refusal's round trip has passed
    limits = full_rounds(control, clock, 20)
    assert limits.index(49) >= control.probe_rounds  # calm rounds at the capacity first
    assert set(limits[:limits.index(49)]) == {48}
    assert 50 not in limits[:limits.index(49) + control.probe_rounds]  # one probe at a time
    control._limit = 49.0  # back at the first probe, which is refused
    control.on_refusal(inflight=48)  # the probe was refused: the capacity is 48 again, and nothing lower
    assert control.limit == 48


def test_below_the_capacity_found_the_limit_goes_back_to_it_by_halving_the_gap():
    control, clock = found_capacity(48)
    clock.now += 0.2
    rounds(control, clock, 2)
    # one round of queueing (latency 1.5 x the unloaded one) cuts the limit to what the server served
    assert rounds(control, clock, 2, latency=0.15, inflight=42)[-1] == 28
    limits = full_rounds(control, clock, 20)
    grown = [limit for i, limit in enumerate(limits) if i == 0 or limit != limits[i - 1]]
    # 28 -> 38 -> 43 -> 46 -> 47 -> 48: the gap halved each round that grows, not one a round far below it
    assert grown[:6] == [28, 38, 43, 46, 47, 48]
    assert limits.index(49) - limits.index(48) >= 3  # it stays at the capacity a few rounds before a probe


def test_after_a_passing_fault_the_limit_goes_back_to_what_calm_rounds_held_by_halving_the_gap():
    control, clock = found_capacity(48)
    clock.now += 0.2
    full_rounds(control, clock, 2)  # a calm round at 48: the server took 48 at once
    for _ in range(40):  # a burst of 503s takes 40 slots
        control.on_refusal(inflight=control.limit - 1)
    assert control.limit == 8
    clock.now += 0.2
    limits = rounds(control, clock, 12)
    grown = [limit for i, limit in enumerate(limits) if i == 0 or limit != limits[i - 1]]
    assert grown[:6] == [28, 38, 43, 46, 47, 48]  # from 8 after a calm round, not a probe at a time
    assert 49 not in limits[:limits.index(48) + control.probe_rounds]  # at 48 it waits before a probe, as before


def test_a_way_back_refused_beyond_the_budget_lowers_what_it_goes_back_to():
    control, clock = found_capacity(48)
    clock.now += 0.2
    full_rounds(control, clock, 2)
    for _ in range(24):  # the capacity halved: 24 requests refused
        control.on_refusal(inflight=control.limit - 1)
    clock.now += 0.2
    assert rounds(control, clock, 1) == [36]  # a step back towards 48, since a fault may have passed
    for _ in range(12):  # refused in numbers, beyond 2% of recent calls: the capacity fell, 24 is all there is
        control.on_refusal(inflight=control.limit - 1)
    clock.now += 0.2
    assert set(rounds(control, clock, control.probe_rounds - 1)) == {24}  # no second step back towards 48


def test_single_refusals_far_under_the_budget_do_not_lower_what_the_way_back_goes_to():
    control, clock = found_capacity(48)
    clock.now += 0.2
    full_rounds(control, clock, 3)  # a hundred and more calls answered at 48
    control.on_refusal(inflight=47)  # then a refusal now and then, as a flaky gateway's random ones
    for _ in range(3):
        clock.now += 0.2
        assert rounds(control, clock, 1) == [48]  # back at once: one refusal in hundreds of calls is no capacity
        control.on_refusal(inflight=47)


def test_requests_that_hang_until_a_timeout_do_not_count_in_what_a_passing_fault_goes_back_to():
    control, clock = found_capacity(100, initial=120)
    clock.now += 0.2
    for _ in range(3):  # 100 in flight, but the server answers 48 a round trip: the other 52 hang
        for _ in range(48):
            clock.now += 0.1 / 48
            control.on_success(0.1, 100)
    assert control.limit == 100
    for _ in range(60):  # their timeouts come back, and a few more
        control.on_refusal(inflight=control.limit - 1)
    clock.now += 0.2
    assert max(rounds(control, clock, 12)) <= 49  # back to what the server served at once, not to 100


def test_growth_beyond_the_capacity_found_waits_while_the_server_answers_far_fewer_than_are_in_flight():
    # 48 in flight, but three answers a round trip: by Little's law the server serves about 3 at once, and the
    # others hang until a timeout. Their answers look calm, yet a probe above 48 would only add one more that hangs
    control, clock = found_capacity(48)
    clock.now += 0.2
    assert set(rounds(control, clock, 20)) == {48}
    assert 49 in full_rounds(control, clock, 20)  # answered as often as 48 in flight are: the probes go on


def test_probes_that_keep_getting_through_forget_the_capacity_found():
    control, clock = found_capacity(48)  # then the server grows (scaled up, or another client left)
    clock.now += 0.2
    limits = full_rounds(control, clock, 120)
    steps = [b - a for a, b in zip(limits, limits[1:]) if b != a]
    assert steps[:4] == [1, 1, 1, 1]  # one probe at a time
    assert min(steps[4:]) >= 3  # after four probes got through, growth is by sqrt(limit)/2 again
    assert control.limit > 80


def test_a_refusal_says_whether_our_own_load_caused_it():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=40, clock=clock)
    assert control.on_refusal(inflight=39)  # the limit was full: ours, and the lowered limit makes room
    clock.now += 1.0
    assert not control.on_refusal(inflight=2)  # two in flight of 36: someone else's load, or a passing fault


def test_a_timeout_far_longer_than_the_answers_is_a_refusal_of_one_slot():
    # a gateway that holds what it cannot serve: the others answer in 0.1 s, this one gave up after 10 s
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=40, clock=clock)
    rounds(control, clock, 2)
    before = control.limit
    clock.now += 10.0
    assert control.on_timeout(clock.now - 10.0, 10.0, inflight=before - 1)  # ours, as a refusal with the limit full
    assert control.limit == before - 1 and control.refusals == 1


def queue_reaching_a_read_timeout():
    """A controller past slow start at a server that queues, whose answers take 60 s and come one every 10 s: 12
    within a read timeout of 120 s."""
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=40, clock=clock)
    control.slow_start = False
    for _ in range(16):
        clock.now += 10.0
        control.on_success(60.0, 40)
    return control, clock


def test_timeouts_about_as_long_as_the_answers_take_a_slot_each_down_to_most_of_what_a_read_timeout_answers():
    control, clock = queue_reaching_a_read_timeout()
    assert not control.on_timeout(clock.now - 120.0, 120.0, inflight=39)  # our own queue: the usual backoff
    assert control.limit == 39 and control.refusals == 0
    for _ in range(60):  # the rest of a queue of 40, and their retries: not below 0.7 x 12 (rounded up: with 2 or 3
        control.on_timeout(clock.now - 120.0, 120.0, inflight=control.limit - 1)  # answers, 1 was below the slots)
    assert control.limit == 9


def test_above_a_capacity_that_timeouts_in_a_queue_showed_a_probe_comes_after_a_few_round_trips():
    # a probe there costs a slightly longer queue, not a refusal: no need to wait PROBE_CALLS calls' worth of rounds
    control, clock = queue_reaching_a_read_timeout()
    for _ in range(40):
        control.on_timeout(clock.now - 120.0, 120.0, inflight=control.limit - 1)
    limits = full_rounds(control, clock, 8, latency=60.0)
    assert limits[0] == 9 and 10 in limits
    refused, clock = found_capacity(9)  # the same capacity shown by a refusal: the next probe waits longer
    clock.now += 0.2
    assert set(full_rounds(refused, clock, 8)) == {9}


def test_a_queue_beyond_the_tolerance_is_cut_to_what_the_server_served_at_once():
    clock = FakeClock()
    control = AdaptiveLimit(256, initial=60, clock=clock)
    control.slow_start = False
    rounds(control, clock, 3, latency=0.125, inflight=20)
    assert rounds(control, clock, 1, latency=0.125 * 1.5, inflight=60) == [40]


def test_a_retry_gets_the_next_free_slot_before_first_attempts():
    control = SettableLimit(1)
    limiter = ConcurrencyLimiter(0, controller=control)
    held = limiter.acquire()
    order = []

    def waiter(name, retry):
        started = limiter.acquire(timeout=30, retry=retry)
        order.append(name)
        limiter.release(started, OK)

    threads = []
    for name, retry in (("first", False), ("second", False), ("retry", True)):
        threads.append(threading.Thread(target=waiter, args=(name, retry)))
        threads[-1].start()
        while len(limiter._cond._waiters) + len(limiter._retry_cond._waiters) < len(threads):  # it waits now
            threading.Event().wait(0.001)
    limiter.release(held, OK)
    for thread in threads:
        thread.join(timeout=30)
    assert order[0] == "retry" and sorted(order[1:]) == ["first", "second"]
    assert limiter.inflight == 0


def test_a_retry_that_times_out_holds_no_first_attempt_back():
    limiter = ConcurrencyLimiter(1)
    held = limiter.acquire()
    with pytest.raises(TimeoutError):
        limiter.acquire(timeout=0, retry=True)
    limiter.release(held, OK)
    limiter.release(limiter.acquire(timeout=0), OK)  # no retry waits any more: a first attempt goes
    assert limiter.inflight == 0


def test_attempt_marks_a_refusal_of_our_own_load_for_a_retry_a_round_trip_later():
    limiter, clock = automatic()
    control = limiter.controller
    for _ in range(4):  # a round trip is known
        clock.now += 0.05
        control.on_success(0.1, 16)
    assert control.round_trip == pytest.approx(0.1)
    started = [limiter.acquire() for _ in range(15)]
    with pytest.raises(RateLimitError) as ours:
        with limiter.attempt():  # the 16th of 16: our own load filled the server
            raise RateLimitError("slow down", status=429)
    assert ours.value.retry_soon_s == pytest.approx(0.1)
    for start in started:
        limiter.release(start, OK)
    clock.now += 1.0
    with pytest.raises(RateLimitError) as theirs:
        with limiter.attempt():  # alone in flight: someone else's load, the retry waits the policy's backoff
            raise RateLimitError("slow down", status=429)
    assert getattr(theirs.value, "retry_soon_s", None) is None


class RecordingLimit(SettableLimit):
    """A settable limit that keeps what the limiter reported to it."""

    def __init__(self, limit):
        super().__init__(limit)
        self.sent = 0
        self.done = []

    def on_send(self, now):
        self.sent += 1

    def on_done(self, sent_at, latency_s, inflight):
        self.done.append(latency_s)


def test_an_attempt_stopped_before_sending_gives_its_slot_back_unreported_and_after_sending_reports_it():
    from openai_compatible.cancel import RunStoppedError

    control = RecordingLimit(1)
    limiter = ConcurrencyLimiter(0, controller=control)
    with pytest.raises(RunStoppedError):
        with limiter.attempt():
            raise RunStoppedError("stopped while waiting for the rate limiter")
    assert (limiter.inflight, control.sent, control.done) == (0, 0, [])
    with pytest.raises(RunStoppedError):
        with limiter.attempt() as sending:
            sending()
            raise RunStoppedError("stopped once the request went")
    assert (limiter.inflight, control.sent, control.done) == (0, 1, [None])  # reported, as no latency


def test_an_interrupted_attempt_frees_its_slot_and_reports_it_sent():
    control = RecordingLimit(1)
    limiter = ConcurrencyLimiter(0, controller=control)
    with pytest.raises(KeyboardInterrupt):
        with limiter.attempt():
            raise KeyboardInterrupt
    assert (limiter.inflight, control.sent, control.done) == (0, 1, [None])
    with limiter.attempt():  # the slot is free for the next one, at once
        pass
    assert limiter.inflight == 0 and control.sent == 2


def test_a_first_attempt_that_timed_out_waiting_does_not_keep_the_next_waiter_from_being_woken():
    limiter = ConcurrencyLimiter(1)
    held = limiter.acquire()
    with pytest.raises(TimeoutError):
        limiter.acquire(timeout=0.01)  # waits, then gives up
    got = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire(timeout=30)))
    waiter.start()
    while not limiter._cond._waiters:  # it waits now
        threading.Event().wait(0.001)
    limiter.release(held, OK)
    waiter.join(timeout=30)
    assert len(got) == 1 and limiter.inflight == 1
    limiter.release(got[0], OK)
    assert limiter.inflight == 0
