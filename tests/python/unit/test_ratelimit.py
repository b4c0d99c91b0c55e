"""The client-side rate limiter, driven by a fake clock: pacing is asserted on the fake clock, never on wall time."""

import concurrent.futures
import json
import random
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


def test_message_chars_count_text_content_and_non_text_content_as_json():
    from openai_compatible.http.payloads import message_chars
    parts = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": "data:x"}}]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": parts},
                {"role": "assistant", "content": None, "tool_calls": []}]
    assert message_chars(messages) == len("be brief") + len(json.dumps(parts)) + len('""')
    assert message_chars([{"role": "user", "content": "x" * 400}]) == 400
    assert message_chars([]) == 0


class Provider:
    """A provider allowing ``rpm`` requests per minute: a token bucket holding one second's worth (as Azure
    OpenAI evaluates its quota over short windows); a refusal says how long until the next token."""

    def __init__(self, rpm):
        self.rate = rpm / 60.0
        self.tokens = self.rate
        self.stamp = 0.0

    def take(self, now):
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


def share_one_provider(processes, seconds, rpm=600):
    """``processes`` senders, each with its own limiter whose preset says ``rpm`` (the provider's whole limit),
    sending as fast as their limiter lets them. Returns (answered, refused) per second after the first 10 s."""
    clock = FakeClock(start=0.0)
    provider = Provider(rpm)
    limiters = []
    for index in range(processes):
        waits = []
        limiters.append((RateLimiter(rpm, clock=clock, sleep=waits.append, rng=random.Random(index)), waits))
    events = [(0.0, index) for index in range(processes)]
    answered = refused = 0
    while events:
        events.sort()
        when, index = events.pop(0)
        if when > seconds:
            continue
        limiter, waits = limiters[index]
        clock.now = when
        waits.clear()
        limiter.acquire()
        sent = when + sum(waits)
        clock.now = sent
        hint = provider.take(sent)
        if hint is None:
            answered += sent >= 10.0
            events.append((sent + 0.001, index))
        else:
            refused += sent >= 10.0
            hold = limiter.on_rate_limited(hint)
            events.append((sent + max(hold, 0.001), index))
    return answered / (seconds - 10.0), refused / (seconds - 10.0), [lim.share for lim, _ in limiters]


def test_one_process_alone_uses_the_whole_rate_without_429s():
    answered, refused, shares = share_one_provider(1, 60.0)
    assert answered == pytest.approx(10.0, rel=0.02) and refused == 0 and shares == [1.0]


def test_three_processes_on_one_provider_converge_to_its_limit_together():
    answered, refused, shares = share_one_provider(3, 120.0)
    assert answered >= 0.85 * 10.0  # the provider's 600 per minute
    assert refused / (answered + refused) < 0.10
    assert sum(shares) < 1.3 and min(shares) > 0.1  # each settled near a third, none starved


def test_a_429_lowers_the_share_once_its_window_ends_and_it_grows_back_when_used():
    clock = FakeClock(start=0.0)
    rl = RateLimiter(600, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    for index in range(10):  # a window: 10 requests, 0.1 s apart
        rl.acquire()
        if index % 2:
            rl.on_rate_limited(None)  # half of the window's requests refused
    clock.advance(0.5)
    rl.acquire()  # the window is over: the share follows what the provider let through
    assert rl.share == pytest.approx(0.5)
    before = rl.share
    for _ in range(40):
        rl.acquire()
    assert rl.share > before


def test_a_429_of_a_request_sent_in_an_older_window_does_not_count():
    clock = FakeClock(start=0.0)
    rl = RateLimiter(600, clock=clock, sleep=clock.sleep)
    rl.acquire()
    clock.advance(5.0)
    seen = []

    def other_thread():
        rl.acquire()  # ends the window the first request was sent in
        seen.append(rl.share)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    rl.on_rate_limited(None)  # the answer to the first request, from the window before
    for _ in range(30):
        rl.acquire()
    assert rl.share == 1.0


def test_the_hold_after_a_429_honours_the_hint_with_a_random_extra():
    holds = set()
    for seed in range(5):
        clock = FakeClock()
        rl = RateLimiter(clock=clock, sleep=clock.sleep, rng=random.Random(seed))
        hold = rl.on_rate_limited(2.0)
        assert 2.0 <= hold <= 2.5
        holds.add(round(hold, 6))
        rl.acquire()
        assert clock.now - 1000.0 == pytest.approx(hold)
    assert len(holds) == 5  # processes told the same wait don't all come back at once
    assert RateLimiter().on_rate_limited(None) == 0.0


def test_a_window_lasts_ten_request_intervals_and_the_share_follows_the_refused_part():
    clock = FakeClock(start=0.0)
    rl = RateLimiter(600, clock=clock, sleep=clock.sleep)
    for _ in range(10):  # a first window without 429: 10 requests 0.1 s apart
        rl.acquire()
    clock.now = 1.0  # exactly ten intervals of 0.1 s since the window opened
    for index in range(10):  # the second window opens with this request; 2 of its 10 are refused
        rl.acquire()
        if index in (3, 7):
            rl.on_rate_limited(None)
    assert rl.share == 1.0
    clock.now = 2.0
    rl.acquire()  # ends the second window: 8 of 10 answered
    assert rl.share == pytest.approx(0.8 * 0.95)



def window_of_ten(rl: RateLimiter, clock: FakeClock, refused: int) -> float:
    """Completes the window that the last ``acquire`` opened: 9 more requests at the share's spacing, the
    last ``refused`` of the 10 refused, then the request that ends it (and opens the next). Returns the share."""
    opened = clock.now
    for index in range(9):
        rl.acquire()
        if index >= 9 - refused:
            rl.on_rate_limited(None)
    clock.now = max(clock.now, opened + 10 * 60.0 / (600 * rl.share) + 0.01)
    rl.acquire()
    return rl.share


def test_the_margin_is_taken_in_the_first_window_of_a_run_of_windows_with_429s_only():
    clock = FakeClock(start=0.0)
    rl = RateLimiter(600, clock=clock, sleep=clock.sleep)
    rl.acquire()
    first = window_of_ten(rl, clock, refused=2)
    assert first == pytest.approx(0.8 * 0.95)
    # a window that goes on refusing follows what got through, without the margin again (it was 0.65)
    assert window_of_ten(rl, clock, refused=1) == pytest.approx(first * 0.9)
    grown = window_of_ten(rl, clock, refused=0)  # a window without 429 ends the run
    assert grown == pytest.approx(first * 0.9 + 0.03)
    assert window_of_ten(rl, clock, refused=1) == pytest.approx(grown * 0.9 * 0.95)  # a new run: the margin again


def test_the_share_does_not_fall_below_the_rate_that_got_through():
    # turns booked at the old share go at the old spacing after a cut: at a share of 0.5 (5 a second), 20
    # requests go in 2 s and 4 are refused. 16 in 2 s got through, more than the share allows, so the share
    # stays (taking the refused part off the share would give 0.4: the overload counted twice)
    clock, rl = halved_share()
    booked = RateLimiter(600, clock=clock, sleep=lambda seconds: None)  # books turns without waiting for them
    booked.share = rl.share
    booked._refusing = True  # as after the window that halved it
    booked._window_start = clock.now
    for index in range(20):
        booked.acquire()
        if index % 5 == 0:
            booked.on_rate_limited(None)
        clock.advance(0.1)
    booked.acquire()  # ends the window
    assert booked.share == pytest.approx(0.5)

def halved_share() -> tuple[FakeClock, RateLimiter]:
    """A limiter of 600 per minute whose first window had half of its requests refused: its share is 0.5."""
    clock = FakeClock(start=0.0)
    rl = RateLimiter(600, clock=clock, sleep=clock.sleep)
    for index in range(10):
        rl.acquire()
        if index % 2:
            rl.on_rate_limited(None)
    clock.advance(0.5)
    rl.acquire()
    assert rl.share == pytest.approx(0.5)
    return clock, rl


def test_a_lowered_share_that_the_process_does_not_use_does_not_grow():
    clock, rl = halved_share()
    for _ in range(5):  # one request every 10 s: far less than the share allows, so it proves nothing
        clock.advance(10.0)
        rl.acquire()
    assert rl.share == pytest.approx(0.5)


def test_a_used_share_grows_by_the_recovery_rate_per_second_of_the_window_at_most_one_seconds_worth():
    clock = FakeClock(start=0.0)
    rl = RateLimiter(6000, clock=clock, sleep=clock.sleep, recovery_per_s=0.1)
    for index in range(10):  # a first window, half refused
        rl.acquire()
        if index % 2:
            rl.on_rate_limited(None)
    clock.now = 0.3
    rl.acquire()
    assert rl.share == pytest.approx(0.5)
    for _ in range(12):  # 0.02 s apart at half of 6000 per minute: the share is used
        rl.acquire()
    clock.now = 0.7
    rl.acquire()  # a window of 0.4 s without 429: grows by 0.1 per second for 0.4 s
    assert rl.share == pytest.approx(0.5 + 0.1 * 0.4)
    # a longer window (ten intervals at 600 per minute and a lowered share: 2 s) grows by one second's worth
    clock, rl = halved_share()
    for _ in range(11):
        rl.acquire()
    assert rl.share == pytest.approx(0.5 + 0.03)


def test_a_share_counts_as_used_from_half_of_what_it_allowed():
    # at half of 600 per minute a share allows 5 requests a second: 10 requests in a window of 4.03 s are
    # less than half of the 20.15 it allowed, so it stays; 10 in 3.9 s (19.5 allowed) are more: it grows
    clock, rl = halved_share()
    opened = clock.now  # the request that ended the first window opened this one
    for _ in range(9):
        rl.acquire()
    clock.now = opened + 4.03
    rl.acquire()  # ends a window of 10 requests
    assert rl.share == pytest.approx(0.5)
    opened = clock.now
    for _ in range(9):
        rl.acquire()
    clock.now = opened + 3.9
    rl.acquire()
    assert rl.share == pytest.approx(0.5 + 0.03)


def test_a_lowered_share_makes_the_next_window_longer():
    # ten request intervals at the lowered rate: 2 s at half of 600 per minute, so 1 s of 429s changes nothing yet
    clock, rl = halved_share()
    for _ in range(4):
        rl.acquire()
        rl.on_rate_limited(None)
    rl.acquire()  # about 1 s into the window
    assert rl.share == pytest.approx(0.5)


def test_the_presets_limits_reach_the_clients_rate_limiter():
    from openai_compatible import Client
    preset = {"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "requests_per_minute": 120,
              "tokens_per_minute": 90000}
    with Client.from_preset(preset) as client:
        assert (client.limiter.requests_per_minute, client.limiter.tokens_per_minute) == (120, 90000)


class Booking(RateLimiter):
    """A real limiter that also records the tokens each request booked and each correction it was given."""

    def __init__(self, **limits):
        super().__init__(**limits)
        self.booked, self.corrected = [], []

    def acquire(self, tokens=0):
        self.booked.append(tokens)
        super().acquire(tokens)

    def adjust_tokens(self, estimated, actual):
        self.corrected.append((estimated, actual))
        super().adjust_tokens(estimated, actual)


def test_chat_and_embeddings_calls_book_their_estimated_tokens_and_settle_with_the_reported_ones(fault_server):
    from openai_compatible import Client, ConnectionSettings
    limiter = Booking(tokens_per_minute=1_000_000)
    settings = ConnectionSettings.from_preset({"base_url": fault_server.url, "models": ["m", "fault-embed"],
                                               "max_retries": 0})
    with Client(settings, limiter=limiter) as client:
        chat = client.chat([{"role": "system", "content": "s" * 40}, {"role": "user", "content": "u" * 360}],
                           model="m", max_output_tokens=50)
        embedded = client.embed_result(["a" * 40, "b" * 80], "fault-embed")
        stream = client.stream([{"role": "user", "content": "w" * 80}], model="m", max_output_tokens=10)
        stream.text()
    # about 4 characters a token, plus the output cap for a chat
    assert limiter.booked == [estimate_tokens(400, 50), estimate_tokens(120), estimate_tokens(80, 10)] == [151, 31, 31]
    assert limiter.corrected == [(151, chat.usage.total_tokens), (31, embedded.usage.total_tokens),
                                 (31, stream.result.usage.total_tokens)]
    assert None not in (chat.usage.total_tokens, embedded.usage.total_tokens, stream.result.usage.total_tokens)


def test_a_hold_that_begins_while_a_request_waits_for_its_turn_holds_it_too():
    # another worker's request meets a 429 (wait 2 s) while this one sleeps until its turn: it goes after the
    # hold, not at the turn it booked before (with many workers, a second's worth of turns went into the 429s)
    clock = FakeClock(start=0.0)
    holds = []

    def sleep(seconds):
        if not holds:  # half way through the first wait, the other worker's 429 comes back
            clock.advance(0.5)
            holds.append(rl.on_rate_limited(2.0))
            seconds -= 0.5
        clock.sleep(seconds)

    rl = RateLimiter(60, clock=clock, sleep=sleep, jitter=0.0)
    rl.acquire()  # goes at 0
    rl.acquire()  # its turn was 1.0; the hold from 0.5 lasts until 2.5
    assert holds == [2.0] and clock.now == pytest.approx(2.5)
    rl.acquire()  # the next turn is spaced after it
    assert clock.now == pytest.approx(3.5)
    # a hold that ended before the turn came changes nothing
    clock2 = FakeClock(start=0.0)
    late = RateLimiter(60, clock=clock2, sleep=clock2.sleep, jitter=0.0)
    late.acquire()
    late.on_rate_limited(0.5)
    late.acquire()
    assert clock2.now == pytest.approx(1.0)
