"""The one retry loop: what it counts, per call and per connection, and where a 429's wait goes."""
import pytest
from openai_compatible.errors import BadRequestError, RateLimitError, ServerError
from openai_compatible.http.retries import Call, RetryLoop
from openai_compatible.ratelimit import RateLimiter
from openai_compatible.retry import RetryPolicy
from openai_compatible.stats import CallStats


class Clock:
    """A clock that moves only when someone sleeps."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def failing(*errors, answer="ok"):
    queue = list(errors)

    def send():
        if queue:
            raise queue.pop(0)
        return answer
    return send


def loop_with(clock, max_retries=3):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, jitter=0.0)  # waits exactly as hinted
    return RetryLoop(RetryPolicy(max_retries=max_retries), limiter, CallStats()), limiter


def test_each_call_counts_its_own_attempts_and_the_connection_counts_all():
    loop, _ = loop_with(Clock())
    first, second = Call("first"), Call("second")
    assert loop.run(failing(ServerError("boom", retry_after=0)), first) == "ok"
    assert loop.run(failing(), second) == "ok"
    assert (first.attempts, second.attempts) == (2, 1)
    assert loop.stats.snapshot()["http_calls"] == 3 and loop.stats.snapshot()["retries"] == 1


def test_a_429_waits_through_the_shared_limiter():
    clock = Clock()
    loop, limiter = loop_with(clock)
    call = Call("chat")
    assert loop.run(failing(RateLimitError("slow down", retry_after=2.0)), call) == "ok"
    assert clock.slept == [2.0]  # the next acquire waited for the cooldown every worker shares
    assert limiter.waited_s == 2.0
    assert loop.stats.snapshot()["rate_limited"] == 1 and call.attempts == 2


def test_the_budget_ends_the_retries_and_the_last_error_is_raised():
    loop, _ = loop_with(Clock(), max_retries=1)
    call = Call("chat")
    with pytest.raises(ServerError, match="second"):
        loop.run(failing(ServerError("first", retry_after=0), ServerError("second", retry_after=0)), call)
    assert call.attempts == 2


def test_an_error_that_is_not_transient_is_raised_at_once():
    loop, _ = loop_with(Clock())
    call = Call("chat")
    with pytest.raises(BadRequestError):
        loop.run(failing(BadRequestError("no")), call)
    assert call.attempts == 1 and loop.stats.snapshot()["retries"] == 0


def refused():
    from openai_compatible.errors import APIConnectionError
    error = APIConnectionError("chat with 'm': cannot reach http://127.0.0.1:9/v1/chat/completions (connection "
                               "refused).", retry_after=0)
    error.unreachable = True  # as http/send.py marks a connection that never reached a server
    return error


def test_a_provider_never_reached_is_retried_once_then_given_up():
    loop, _ = loop_with(Clock(), max_retries=5)
    call = Call("chat")
    from openai_compatible.errors import APIConnectionError
    with pytest.raises(APIConnectionError) as info:
        loop.run(failing(*[refused() for _ in range(10)]), call)
    assert "connection refused" in str(info.value)
    assert call.attempts == 2  # not 6: a service that is down stops the job in seconds


def test_once_the_provider_answered_a_refused_connection_gets_every_retry():
    from openai_compatible.errors import APITimeoutError
    loop, _ = loop_with(Clock(), max_retries=5)
    assert loop.run(failing(), Call("first")) == "ok"
    call = Call("chat")
    assert loop.run(failing(*[refused() for _ in range(5)]), call) == "ok"  # a restart mid-run
    assert call.attempts == 6
    unreached, _ = loop_with(Clock(), max_retries=5)
    timeout = Call("chat")
    assert unreached.run(failing(*[APITimeoutError("no answer", retry_after=0) for _ in range(5)]), timeout) == "ok"
    assert timeout.attempts == 6  # a slow first answer (a model loading) is not a service that is down


def test_an_error_status_means_the_provider_answered(caplog):
    loop, _ = loop_with(Clock(), max_retries=5)
    with caplog.at_level("INFO", logger="openai_compatible"):
        loop.run(failing(ServerError("HTTP 500", provider_message="Context shift failed: slot 3 busy",
                                     retry_after=0), refused(), refused(), refused()), Call("chat"))
    assert loop.provider_answered
    retry_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retry_lines) == 4
    assert retry_lines[0].endswith("(retry 1 of 5): Context shift failed: slot 3 busy")  # the provider's words


def test_retry_log_lines_are_cut_to_a_readable_length(caplog):
    loop, _ = loop_with(Clock(), max_retries=2)
    with caplog.at_level("INFO", logger="openai_compatible"):
        loop.run(failing(ServerError("x", provider_message="overloaded " * 200, retry_after=0)), Call("chat"))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying"))
    assert line.endswith("...") and len(line.split(": ", 1)[1]) <= 300


def test_a_refusal_our_own_load_caused_comes_back_a_round_trip_later_once(monkeypatch):
    from openai_compatible.concurrency import ConcurrencyLimiter
    from openai_compatible.http import retries

    slept = []
    monkeypatch.setattr(retries.time, "sleep", slept.append)
    clock = Clock()
    loop = RetryLoop(RetryPolicy(max_retries=3, initial_delay_s=0.5), RateLimiter(clock=clock, sleep=clock.sleep),
                     CallStats(), ConcurrencyLimiter(0, clock=clock))

    def ours():
        error = RateLimitError("too many requests at once", status=429)
        error.retry_soon_s = 0.1  # as ConcurrencyLimiter.attempt marks it: the lowered limit makes room by then
        return error

    call = Call("chat")
    assert loop.run(failing(ours(), ours()), call) == "ok"
    assert call.attempts == 3
    assert 0.05 <= slept[0] <= 0.15  # the first refusal: about a round trip, not the backoff
    assert 0.5 <= slept[1] <= 1.0  # refused again: the backoff of a second retry (0.5 x 2, with jitter)
    slept.clear()
    for _ in range(10):  # a burst refused together comes back spread over a round trip, not all at once
        loop = RetryLoop(RetryPolicy(max_retries=3), RateLimiter(clock=clock, sleep=clock.sleep), CallStats(),
                         ConcurrencyLimiter(0, clock=clock))
        loop.run(failing(ours()), Call("chat"))
    assert len(slept) == 10 and all(0.05 <= delay <= 0.15 for delay in slept) and max(slept) - min(slept) > 0.03


def test_a_logged_provider_message_is_cut_only_past_its_limit():
    from openai_compatible.http.retries import LOGGED_MESSAGE_CHARS, _short

    exact = "x" * LOGGED_MESSAGE_CHARS
    assert _short(ServerError("m", provider_message=exact)) == exact
    longer = _short(ServerError("m", provider_message=exact + "y"))
    assert longer == "x" * (LOGGED_MESSAGE_CHARS - 3) + "..." and len(longer) == LOGGED_MESSAGE_CHARS


def test_a_retry_asks_for_a_retrys_slot_which_goes_before_first_attempts(monkeypatch):
    from openai_compatible.concurrency import ConcurrencyLimiter
    from openai_compatible.http import retries

    class Recording(ConcurrencyLimiter):
        """A real limiter that notes which kind of slot each attempt asked for."""

        def __init__(self):
            super().__init__(2)
            self.asked = []

        def acquire(self, timeout=None, *, sending=True, retry=False):
            self.asked.append(retry)
            return super().acquire(timeout, sending=sending, retry=retry)

    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    clock = Clock()
    limiter = Recording()
    loop = RetryLoop(RetryPolicy(max_retries=3), RateLimiter(clock=clock, sleep=clock.sleep), CallStats(), limiter)
    assert loop.run(failing(ServerError("busy", status=503), ServerError("busy", status=503)), Call("chat")) == "ok"
    assert limiter.asked == [False, True, True]


def test_settling_counts_the_reported_tokens_and_nothing_the_provider_did_not_report():
    from openai_compatible.results import Usage
    clock = Clock()
    loop, _ = loop_with(clock)
    loop.settle(Call("chat", tokens=40), Usage(prompt_tokens=30, completion_tokens=12, total_tokens=42))
    loop.settle(Call("chat", tokens=40), Usage(prompt_tokens=5, completion_tokens=9, total_tokens=14,
                                               reasoning_tokens=4))
    loop.settle(Call("chat", tokens=40), Usage())  # no usage at all: nothing counted
    counts = loop.stats.snapshot()
    assert (counts["prompt_tokens"], counts["completion_tokens"], counts["reasoning_tokens"]) == (35, 21, 4)


def test_each_attempt_books_its_calls_estimated_tokens_with_the_token_limit():
    clock = Clock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, sleep=clock.sleep)
    loop = RetryLoop(RetryPolicy(max_retries=0), limiter, CallStats())
    assert loop.run(failing(), Call("embeddings", tokens=600)) == "ok"  # a whole minute's tokens: goes at once
    assert clock.slept == []
    assert loop.run(failing(), Call("embeddings", tokens=600)) == "ok"  # waits for the bucket to refill
    assert clock.slept == [60.0] and limiter.waited_s == 60.0


def test_settling_gives_back_the_tokens_estimated_but_not_used():
    from openai_compatible.results import Usage
    clock = Clock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, sleep=clock.sleep)
    loop = RetryLoop(RetryPolicy(max_retries=0), limiter, CallStats())
    first = Call("chat", tokens=600)
    loop.run(failing(), first)
    loop.settle(first, Usage(prompt_tokens=50, completion_tokens=10, total_tokens=60))  # 540 tokens not used
    loop.run(failing(), Call("chat", tokens=600))
    assert clock.slept == [6.0]  # only the 60 tokens used are waited for


def test_a_calls_latency_runs_from_its_first_request_with_its_retries_not_its_turn_before_it():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep, jitter=0.0)  # a request a second
    loop = RetryLoop(RetryPolicy(max_retries=3), limiter, CallStats())

    def answered_after(seconds, *errors):
        queue = list(errors)

        def send():
            clock.now += seconds  # the server's time
            if queue:
                raise queue.pop(0)
            return "ok"
        return send

    def latency_ms(send):
        call = Call("chat", clock=clock)
        loop.run(send, call)
        return call.elapsed_ms()  # read at the answer, as the chat and embeddings calls do

    assert latency_ms(answered_after(0.25)) == pytest.approx(250.0)
    assert latency_ms(answered_after(0.25)) == pytest.approx(250.0)  # not the 0.75 s it waited for its turn
    assert clock.slept == [0.75]
    # a retry's wait and both answers count: 0.25 + 2 (the 429's hint, which is also past the next turn) + 0.25
    assert latency_ms(answered_after(0.25, RateLimitError("slow down", retry_after=2.0))) == pytest.approx(2500.0)
    assert Call("unsent", clock=clock).elapsed_ms() == 0.0
