"""Retry hints (retry-after-ms, Retry-After in seconds or as a date, x-ratelimit-reset Go durations) and the policy."""

import random
from email.utils import formatdate

import pytest
from openai_compatible.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    UnknownModelError,
)
from openai_compatible.retry import RetryPolicy, parse_duration, retry_hint

NOW = 1_800_000_000.0


# --- Retry-After -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5), ("0.25", 0.25)])
def test_retry_after_seconds(value, seconds):
    assert retry_hint({"Retry-After": value}) == seconds


def test_retry_after_http_date():
    assert retry_hint({"Retry-After": formatdate(NOW + 30, usegmt=True)}, now=NOW) == pytest.approx(30.0)
    assert retry_hint({"Retry-After": formatdate(NOW + 3600, usegmt=True)}, now=NOW) == pytest.approx(3600.0)


def test_retry_after_date_in_the_past_means_now():
    assert retry_hint({"Retry-After": formatdate(NOW - 100, usegmt=True)}, now=NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "Wed, 99 Foo 2026", "1,5", "nan"])
def test_retry_after_garbage_is_no_hint(value):
    assert retry_hint({"Retry-After": value}) is None


def test_retry_after_ms():
    assert retry_hint({"retry-after-ms": "1500"}) == 1.5
    assert retry_hint({"retry-after-ms": "20.5"}) == pytest.approx(0.0205)


def test_retry_after_ms_wins_over_retry_after():
    assert retry_hint({"Retry-After": "30", "retry-after-ms": "250"}) == 0.25


def test_garbage_retry_after_ms_falls_back_to_retry_after():
    assert retry_hint({"retry-after-ms": "n/a", "Retry-After": "3"}) == 3.0


def test_header_names_are_case_insensitive():
    assert retry_hint({"RETRY-AFTER": "4"}) == 4.0
    assert retry_hint({"Retry-After-Ms": "100"}) == 0.1
    assert retry_hint({"X-RateLimit-Reset-Requests": "2s"}) == 2.0


def test_no_hint():
    assert retry_hint({}) is None
    assert retry_hint({"Content-Type": "application/json", "x-ratelimit-remaining-requests": "0"}) is None


@pytest.mark.parametrize("headers", [{"Retry-After": "-5"}, {"retry-after-ms": "-100"},
                                     {"x-ratelimit-reset-requests": "-1"}])
def test_negative_hints_mean_now(headers):
    assert retry_hint(headers) == 0.0


# --- x-ratelimit-reset-* -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("6m0s", 360.0), ("250ms", 0.25), ("1.5s", 1.5), ("2m30.5s", 150.5), ("1h2m3s", 3723.0),
    ("500us", 0.0005), ("500µs", 0.0005), ("100ns", 1e-7), ("17", 17.0), ("0.5", 0.5),
])
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_go_durations_may_have_spaces_between_parts():
    assert parse_duration("1m 30s") == 90.0
    assert parse_duration(" 2h 0m ") == 7200.0


@pytest.mark.parametrize("text", ["", "abc", "5 minutes", "1d", "s", "1s2", "-1s", "nan", "NaN"])
def test_not_durations(text):
    assert parse_duration(text) is None


def test_ratelimit_reset_headers_take_the_longer_wait():
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_hint(headers) == 360.0
    assert retry_hint({"x-ratelimit-reset-tokens": "120ms"}) == pytest.approx(0.12)
    assert retry_hint({"x-ratelimit-reset-requests": "bogus", "x-ratelimit-reset-tokens": "3s"}) == 3.0


def test_retry_after_wins_over_ratelimit_reset():
    assert retry_hint({"Retry-After": "2", "x-ratelimit-reset-requests": "30s"}) == 2.0


# --- the policy ------------------------------------------------------------------------------------------------

RETRYABLE = [RateLimitError, ServerError, APITimeoutError, APIConnectionError, InvalidResponseError]
FINAL = [BadRequestError, AuthenticationError, PermissionDeniedError, UnknownModelError, ContextLengthError,
         ContentFilterError, QuotaExceededError]


@pytest.mark.parametrize("cls", RETRYABLE)
def test_transient_errors_are_retried_within_the_budget(cls):
    policy = RetryPolicy(max_retries=3)
    error = cls("x")
    assert [policy.should_retry(error, attempt) for attempt in range(5)] == [True, True, True, False, False]


@pytest.mark.parametrize("cls", FINAL)
def test_client_errors_and_exhausted_quota_are_never_retried(cls):
    policy = RetryPolicy(max_retries=5)
    assert not policy.should_retry(cls("x"), 0)


def test_no_retries_at_all():
    assert not RetryPolicy(max_retries=0).should_retry(ServerError("x"), 0)


def test_hint_is_honoured_exactly():
    policy = RetryPolicy()
    for attempt in range(4):
        assert policy.delay(attempt, 1.25) == 1.25
        assert policy.delay(attempt, 0.0) == 0.0


def test_hint_is_capped():
    assert RetryPolicy(max_hint_s=60.0).delay(0, 3600.0) == 60.0
    assert RetryPolicy(max_hint_s=5.0).delay(0, 6.0) == 5.0


def test_negative_hint_is_no_wait():
    assert RetryPolicy().delay(0, -3.0) == 0.0


def test_nan_hints_are_ignored():
    assert retry_hint({"x-ratelimit-reset-requests": "nan", "retry-after-ms": "NaN"}) is None
    assert 0.25 <= RetryPolicy().delay(0, float("nan")) <= 0.5  # the backoff instead


def test_backoff_without_hint_grows_with_jitter_and_a_cap():
    random.seed(1234)
    policy = RetryPolicy(initial_delay_s=0.5, max_delay_s=8.0)
    for attempt, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jitter: parallel workers don't retry in lockstep
        assert min(delays) < 0.6 * base and max(delays) > 0.9 * base  # the jitter spans the whole range
