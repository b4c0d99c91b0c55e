"""The client-side rate limiter, driven by a fake clock: pacing is asserted on the fake clock, never on wall time."""

import concurrent.futures
import threading

import pytest
from openai_compatible.ratelimit import RateLimiter, estimate_tokens


class FakeClock:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []
        self._lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds):
        self.now += seconds


def limiter(rpm=0, tpm=0, clock=None):
    clock = clock or FakeClock()
    return RateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep), clock


def send_times(rl, clock, n, tokens=0):
    times = []
    for _ in range(n):
        rl.acquire(tokens)
        times.append(clock.now - 1000.0)
    return times


def test_no_limits_never_wait():
    rl, clock = limiter()
    assert not rl.active
    assert send_times(rl, clock, 100, tokens=10_000) == [0.0] * 100
    assert clock.sleeps == [] and rl.waited_s == 0.0


def test_requests_per_minute_are_evenly_spaced():
    rl, clock = limiter(rpm=60)
    assert rl.active
    assert send_times(rl, clock, 5) == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])
    assert rl.waited_s == pytest.approx(4.0)


def test_requests_per_minute_other_rate():
    rl, clock = limiter(rpm=120)
    assert send_times(rl, clock, 4) == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_no_burst_after_idle_time():
    rl, clock = limiter(rpm=60)
    send_times(rl, clock, 1)
    clock.advance(30.0)  # idle for half a minute
    times = send_times(rl, clock, 3)
    assert times == pytest.approx([30.0, 31.0, 32.0])  # idle time is not banked into a burst


def test_tokens_per_minute_spend_one_minute_of_budget_then_wait():
    rl, clock = limiter(tpm=600)  # 10 tokens per second
    times = send_times(rl, clock, 5, tokens=300)  # each request is half a minute of budget
    # a full minute of budget may go at once; then requests wait for the bucket to refill
    assert times == pytest.approx([0.0, 0.0, 30.0, 60.0, 90.0])


@pytest.mark.parametrize("sizes", [[150] * 40, [300, 50, 500, 10, 250] * 8, [999, 1] * 10])
def test_a_provider_token_bucket_never_runs_dry(sizes):
    """Replays the sends against the bucket providers use (capacity one minute of tokens, refilled continuously)."""
    rl, clock = limiter(tpm=1000)
    bucket, last = 1000.0, 0.0
    for size in sizes:
        rl.acquire(size)
        now = clock.now - 1000.0
        bucket = min(1000.0, bucket + (now - last) * 1000.0 / 60.0)
        last = now
        assert bucket >= size - 1e-6, (now, bucket, size)
        bucket -= size


def test_request_larger_than_a_minute_of_budget_waits_for_a_full_bucket():
    rl, clock = limiter(tpm=600)
    rl.acquire(300)  # half the bucket
    rl.acquire(1200)  # two minutes of budget: goes once the bucket is full again
    assert clock.now - 1000.0 == pytest.approx(30.0)
    rl.acquire(10)  # then the debt of the big request is paid first
    assert clock.now - 1000.0 == pytest.approx(30.0 + 120.0 - 60.0 + 1.0)


def test_token_pacing_is_proportional_to_the_request_size():
    big, big_clock = limiter(tpm=600)
    small, small_clock = limiter(tpm=600)
    big_times = send_times(big, big_clock, 10, tokens=200)
    small_times = send_times(small, small_clock, 10, tokens=100)
    assert big_times[-1] > small_times[-1]
    # in steady state a request of 200 tokens at 600 TPM goes every 20 s
    assert big_times[-1] - big_times[-2] == pytest.approx(20.0)
    assert small_times[-1] - small_times[-2] == pytest.approx(10.0)


def test_requests_without_tokens_ignore_the_token_budget():
    rl, clock = limiter(tpm=60)
    send_times(rl, clock, 5, tokens=60)
    before = clock.now
    rl.acquire(0)
    assert clock.now == before


def test_reported_usage_corrects_the_budget():
    over, over_clock = limiter(tpm=600)
    exact, exact_clock = limiter(tpm=600)
    for rl, actual in ((over, 50), (exact, 300)):
        for _ in range(6):
            rl.acquire(300)
            rl.adjust_tokens(300, actual)  # the provider reported far fewer tokens than estimated
    assert over_clock.now < exact_clock.now


def test_adjust_tokens_without_a_token_limit_is_harmless():
    rl, clock = limiter(rpm=60)
    rl.adjust_tokens(100, 5000)
    assert send_times(rl, clock, 2) == pytest.approx([0.0, 1.0])


def test_cool_down_holds_every_request():
    rl, clock = limiter()
    rl.cool_down(5.0)
    rl.acquire()
    assert clock.now - 1000.0 == pytest.approx(5.0)
    rl.acquire()  # the cooldown is over
    assert clock.now - 1000.0 == pytest.approx(5.0)
    assert rl.waited_s == pytest.approx(5.0)


def test_cool_down_keeps_the_longest():
    rl, clock = limiter()
    rl.cool_down(5.0)
    rl.cool_down(2.0)
    rl.acquire()
    assert clock.now - 1000.0 == pytest.approx(5.0)


def test_cool_down_then_pacing():
    rl, clock = limiter(rpm=60)
    rl.acquire()
    rl.cool_down(10.0)
    assert send_times(rl, clock, 2) == pytest.approx([10.0, 11.0])


def test_cool_down_after_time_passed():
    rl, clock = limiter()
    rl.cool_down(3.0)
    clock.advance(10.0)
    rl.acquire()
    assert clock.sleeps == []


def test_concurrent_acquires_get_distinct_slots():
    """Threads booking at the same instant each get their own slot (the clock does not move here)."""
    clock = FakeClock()
    waits = []
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            waits.append(round(seconds, 6))

    rl = RateLimiter(requests_per_minute=60, clock=clock, sleep=sleep)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        done = [pool.submit(rl.acquire) for _ in range(20)]
        assert [future.result(timeout=60) for future in done] == [None] * 20  # none raised
    assert sorted(waits) == [float(i) for i in range(1, 20)]  # the first goes at once, the others 1 s apart


def test_estimate_tokens():
    assert estimate_tokens(0) == 1
    assert estimate_tokens(400) == 101
    assert estimate_tokens(400, 50) == 151
    assert estimate_tokens(400, -5) == 101
