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
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
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
