"""The client against the project's fault server: each failure gets the documented behaviour, and no more HTTP
calls than the retry policy allows (the server counts them)."""

import concurrent.futures
import json
import logging
import threading
import time

import pytest
from openai_compatible import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConnectionSettings,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SettingsError,
    UnknownModelError,
)
from openai_compatible.ratelimit import RateLimiter
from openai_compatible.retry import RetryPolicy

from tests.servers.fault_server import Fault, embedding_vector

KEY = "sk-faults-test-key-0001"
HI = [{"role": "user", "content": "hello there"}]
FAST = dict(initial_delay_s=0.01, max_delay_s=0.02)  # backoff without a hint: keep the suite quick


def client_for(fs, retry=None, **changes):
    preset = {"style": "openai", "base_url": fs.url, "models": ["fault-chat", "fault-embed"], "api_key": KEY,
              "max_retries": 2, "read_timeout_s": 10}
    preset.update(changes)
    settings = ConnectionSettings.from_preset(preset)
    return Client(settings, retry=retry or RetryPolicy(max_retries=settings.max_retries, **FAST))


class ArrivalTimes:
    """Records when each chat/embeddings request reached the server (a rule that never matches)."""

    def __init__(self, fs):
        self.times = []
        self._lock = threading.Lock()
        fs.add_rule(Fault.ok(), when=self._seen)

    def _seen(self, _request):
        with self._lock:
            self.times.append(time.monotonic())
        return False

    def gaps(self):
        return [b - a for a, b in zip(self.times, self.times[1:])]


def assert_calls(fs, client, expected):
    assert fs.calls == expected
    assert client.stats.snapshot()["http_calls"] == expected


# --- 429 and its hints --------------------------------------------------------------------------------------

HINTS = [
    pytest.param(Fault.rate_limit(1), 1.0, id="retry-after-seconds"),
    pytest.param(Fault.rate_limit(0.3), 0.3, id="retry-after-fractional"),
    pytest.param(Fault.rate_limit(retry_after_date=2), 1.0, id="retry-after-http-date"),  # dates have 1 s steps
    pytest.param(Fault.rate_limit(retry_after_ms=200), 0.2, id="retry-after-ms"),
    pytest.param(Fault.rate_limit(reset_requests="250ms"), 0.25, id="x-ratelimit-reset-requests"),
    pytest.param(Fault.rate_limit(reset_tokens="0.3s"), 0.3, id="x-ratelimit-reset-tokens"),
    pytest.param(Fault.rate_limit(), 0.0, id="no-hint"),
]


@pytest.mark.parametrize(("fault", "hint"), HINTS)
def test_429_is_retried_after_the_hint(fault_server, fault, hint):
    arrivals = ArrivalTimes(fault_server)
    fault_server.script(fault)
    client = client_for(fault_server)
    result = client.chat(HI, model="fault-chat")
    assert result.text == "echo: hello there"
    assert result.attempts == 2
    assert_calls(fault_server, client, 2)
    stats = client.stats.snapshot()
    assert stats["retries"] == 1 and stats["rate_limited"] == 1
    assert len(arrivals.times) == 2
    assert arrivals.gaps()[0] >= hint  # the server saw the retry no earlier than it asked
    # the wait went through the shared limiter (counted from the 429's arrival, so a hair under the hint)
    assert client.limiter.waited_s >= hint * 0.9


def test_429_without_a_hint_backs_off(fault_server):
    arrivals = ArrivalTimes(fault_server)
    fault_server.script(Fault.rate_limit(), Fault.rate_limit())
    client = client_for(fault_server, retry=RetryPolicy(max_retries=2, initial_delay_s=0.2, max_delay_s=1.0))
    client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 3)
    first, second = arrivals.gaps()
    assert first >= 0.1 and second >= 0.2  # exponential backoff with jitter: at least half of 0.2 s, then 0.4 s


def test_429_hint_is_shared_by_every_worker(fault_server):
    """After one worker's 429, another worker's new request waits for the provider's hint too."""
    arrivals = ArrivalTimes(fault_server)
    fault_server.script(Fault.rate_limit(1))
    client = client_for(fault_server)
    cooled = threading.Event()
    on_rate_limited = client.limiter.on_rate_limited

    def cool_down_and_tell(seconds):  # a spy on the real limiter: the test waits for the event, not for time
        held = on_rate_limited(seconds)
        cooled.set()
        return held

    client.limiter.on_rate_limited = cool_down_and_tell
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(client.chat, HI, model="fault-chat")
        assert cooled.wait(60), "the first worker's 429 never reached the shared limiter"
        client.chat(HI, model="fault-chat")  # a second worker, after the 429
        first.result(timeout=60)
    assert len(arrivals.times) == 3
    rate_limited_at = arrivals.times[0]
    assert all(t - rate_limited_at >= 1.0 for t in arrivals.times[1:])
    assert client.stats.snapshot()["http_calls"] == 3


def test_429_exhausted(fault_server):
    fault_server.always(Fault.rate_limit(0.05))
    client = client_for(fault_server, max_retries=3)
    with pytest.raises(RateLimitError) as info:
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 4)
    assert "Rate limit reached" in str(info.value)
    assert info.value.status == 429
    assert client.stats.snapshot()["rate_limited"] == 4


def test_429_hint_longer_than_the_cap(fault_server):
    arrivals = ArrivalTimes(fault_server)
    fault_server.script(Fault.rate_limit(3600))
    client = client_for(fault_server, retry=RetryPolicy(max_retries=1, max_hint_s=0.2))
    client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 2)
    assert arrivals.gaps()[0] >= 0.2


def test_insufficient_quota_is_final(fault_server):
    fault_server.always(Fault.quota())
    client = client_for(fault_server, max_retries=5)
    with pytest.raises(QuotaExceededError) as info:
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 1)
    assert "exceeded your current quota" in str(info.value)


# --- server errors and broken answers ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_server_errors_are_retried_then_succeed(fault_server, status):
    fault_server.script(Fault.error(status), Fault.error(status))
    client = client_for(fault_server, max_retries=2)
    result = client.chat(HI, model="fault-chat")
    assert result.text == "echo: hello there"
    assert result.attempts == 3
    assert_calls(fault_server, client, 3)


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_server_errors_exhausted(fault_server, status, max_retries):
    fault_server.always(Fault.error(status))
    client = client_for(fault_server, max_retries=max_retries)
    with pytest.raises(ServerError) as info:
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 1 + max_retries)
    assert info.value.status == status
    assert client.stats.snapshot()["retries"] == max_retries
    assert info.value.request_id == f"req-fault-{1 + max_retries}"


def test_html_error_page_gives_a_short_text_message(fault_server):
    fault_server.always(Fault.html(502))
    client = client_for(fault_server, max_retries=0)
    with pytest.raises(ServerError) as info:
        client.chat(HI, model="fault-chat")
    message = str(info.value)
    assert "<" not in message and ">" not in message
    assert "502 Bad Gateway" in message
    assert len(message) < 300


@pytest.mark.parametrize("page", ["<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>",
                                  "  <html><head><title>Sign in</title></head></html>"])
def test_an_html_page_sent_as_plain_text_is_still_recognised(fault_server, page):
    # a sign-in page served with a wrong Content-Type is still a page, not the API's JSON: not retried
    fault_server.always(Fault.error(200, page, content_type="text/plain"))
    client = client_for(fault_server)
    with pytest.raises(InvalidResponseError) as info:
        client.chat(HI, model="fault-chat")
    assert "HTTP 200 but the answer is an HTML page" in str(info.value) and "Sign in" in str(info.value)
    assert_calls(fault_server, client, 1)


def test_a_success_answer_with_an_error_field_beside_its_choices_is_an_answer(fault_server):
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
            "error": {"message": "a warning some gateways add"}}
    fault_server.always(Fault.error(200, body))
    assert client_for(fault_server).chat(HI, model="fault-chat").text == "fine"


def test_plain_text_500(fault_server):
    fault_server.always("500-text")
    with pytest.raises(ServerError) as info:
        client_for(fault_server, max_retries=0).chat(HI, model="fault-chat")
    assert "Internal Server Error" in str(info.value)


def error_body_of(size: int) -> str:
    """An OpenAI error body of exactly ``size`` bytes (ASCII), padded in an extra field."""
    head, tail = '{"error": {"message": "The request was refused.", "type": "invalid_request_error", "pad": "', '"}}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_an_error_answer_is_read_up_to_one_mebibyte_and_no_further(fault_server):
    # an error body is read with a 1 MiB limit (not the 64 MiB of an answer): a proxy's endless page costs little
    fault_server.script(Fault.error(400, error_body_of(1024 * 1024), content_type="application/json"),
                        Fault.error(400, error_body_of(1024 * 1024 + 1), content_type="application/json"))
    client = client_for(fault_server, max_retries=0)
    with pytest.raises(BadRequestError) as read:
        client.chat(HI, model="fault-chat")
    assert read.value.provider_message == "The request was refused."
    with pytest.raises(InvalidResponseError) as refused:
        client.chat(HI, model="fault-chat")
    assert str(refused.value) == "chat with 'fault-chat': the answer is larger than 1 MB; refusing to read it."
    assert_calls(fault_server, client, 2)


def test_an_oversized_answer_is_refused_naming_the_call_and_the_limit(fault_server, monkeypatch):
    from openai_compatible.http import send
    monkeypatch.setattr(send, "MAX_RESPONSE_BYTES", 2 * 1024 * 1024)
    fault_server.always(Fault.giant(3.0))
    client = client_for(fault_server)
    with pytest.raises(InvalidResponseError) as info:
        client.chat(HI, model="fault-chat")
    assert str(info.value) == "chat with 'fault-chat': the answer is larger than 2 MB; refusing to read it."
    assert_calls(fault_server, client, 1)  # the same request would bring the same answer: not retried


@pytest.mark.parametrize("mode", ["reset", "malformed", "empty-200", "error-200", "500-empty", "stream-cut"])
def test_broken_answers_are_retried_then_succeed(fault_server, mode):
    fault_server.script(mode)
    client = client_for(fault_server)
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"
    assert_calls(fault_server, client, 2)


@pytest.mark.parametrize(("mode", "error", "words"), [
    ("reset", APIConnectionError, "connection"),
    ("malformed", InvalidResponseError, "not JSON"),
    ("empty-200", InvalidResponseError, "empty"),
    ("error-200", ServerError, "Internal error while generating"),
    ("stream-cut", APIConnectionError, "cut short"),
])
def test_broken_answers_exhausted(fault_server, mode, error, words):
    fault_server.always(mode)
    client = client_for(fault_server, max_retries=2)
    with pytest.raises(error) as info:
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 3)
    assert words in str(info.value)


def test_slow_answer_past_the_read_timeout(fault_server):
    stall = threading.Event()  # the answer waits until the client gave up, however slow the machine
    fault_server.always(Fault.slow(120, until=stall))
    client = client_for(fault_server, read_timeout_s=0.3, max_retries=1)
    try:
        with pytest.raises(APITimeoutError) as info:
            client.chat(HI, model="fault-chat")
    finally:
        stall.set()
    # the read limit, not the connect one (10s)
    assert str(info.value) == (f"chat with 'fault-chat': no answer from {fault_server.url}/chat/completions within "
                               "the read timeout (0.3s). Raise 'read_timeout_s' in the preset if the provider is slow.")
    assert_calls(fault_server, client, 2)


def test_slow_answer_within_the_read_timeout(fault_server):
    fault_server.script(Fault.slow(0.3))
    client = client_for(fault_server, read_timeout_s=5)
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"
    assert_calls(fault_server, client, 1)


def test_connection_refused(fault_server):
    url = fault_server.url
    fault_server.stop()
    client = client_for(type("Closed", (), {"url": url})(), max_retries=1)
    with pytest.raises(APIConnectionError) as info:
        client.chat(HI, model="fault-chat")
    assert str(info.value) == f"chat with 'fault-chat': cannot reach {url}/chat/completions (connection refused)."
    assert client.stats.snapshot()["http_calls"] == 2


# --- client errors are never retried ------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "error"), [
    (400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError), (404, UnknownModelError),
    (422, BadRequestError),
])
def test_client_errors_are_final(fault_server, status, error):
    fault_server.always(Fault.error(status))
    client = client_for(fault_server, max_retries=5)
    with pytest.raises(error) as info:
        client.chat(HI, model="fault-chat")
    assert type(info.value) is error
    assert_calls(fault_server, client, 1)
    assert info.value.status == status


def test_context_length_error(fault_server):
    fault_server.set_context_limit(5)
    client = client_for(fault_server, max_retries=5)
    with pytest.raises(ContextLengthError) as info:
        client.chat([{"role": "user", "content": "one two three four five six seven"}], model="fault-chat",
                    max_tokens=10)
    assert "maximum context length" in str(info.value)
    assert_calls(fault_server, client, 1)
    assert client.compat.learnt == []


def test_content_filter_error(fault_server):
    fault_server.always(Fault.content_filter())
    client = client_for(fault_server)
    with pytest.raises(ContentFilterError):
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 1)


def test_filtered_output_is_a_content_filter_error(fault_server):
    # issue 10 §2.4: an answer the filter withheld (finish_reason content_filter) is an error, not an empty answer
    fault_server.always(Fault.filtered())
    client = client_for(fault_server)
    with pytest.raises(ContentFilterError, match="content filter"):
        client.chat(HI, model="fault-chat")
    assert_calls(fault_server, client, 1)


# --- streaming ------------------------------------------------------------------------------------------------------

def test_stream_pieces_and_usage(fault_server):
    client = client_for(fault_server)
    stream = client.stream([{"role": "user", "content": "one two three"}], model="fault-chat")
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == "echo: one two three"
    assert stream.result.text == "echo: one two three"
    assert stream.result.finish_reason == "stop"
    assert stream.result.usage.completion_tokens == 4
    assert stream.result.usage.prompt_tokens == 3
    assert stream.result.attempts == 1
    assert client.stats.snapshot()["completion_tokens"] == 4 and client.stats.snapshot()["prompt_tokens"] == 3
    request = fault_server.requests[-1]
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.header("accept") == "text/event-stream"


def test_stream_without_usage_when_turned_off(fault_server):
    client = client_for(fault_server, stream_usage=False)
    stream = client.stream(HI, model="fault-chat")
    assert "".join(stream) == "echo: hello there"
    assert "stream_options" not in fault_server.requests[-1].json
    assert stream.result.usage.total_tokens is None


def test_stream_cut_before_done_is_an_error(fault_server):
    fault_server.always(Fault.stream_cut(after=2))
    client = client_for(fault_server, max_retries=3)
    stream = client.stream([{"role": "user", "content": "one two three four"}], model="fault-chat")
    received = []
    with pytest.raises(InvalidResponseError) as info:
        for piece in stream:
            received.append(piece)
    assert received == ["echo: ", "one "]
    assert "[DONE]" in str(info.value)
    assert_calls(fault_server, client, 1)  # pieces were already handed out: retrying would duplicate them


def test_stream_cut_before_any_piece_is_retried(fault_server):
    fault_server.script(Fault.stream_cut(after=0))
    client = client_for(fault_server)
    stream = client.stream(HI, model="fault-chat")
    assert "".join(stream) == "echo: hello there"
    assert_calls(fault_server, client, 2)
    assert stream.result.attempts == 2
    assert stream.result.latency_ms > 0


def test_a_429_inside_a_stream_waits_through_the_shared_limiter_and_is_counted(fault_server):
    """The stream's retry is the plain calls' retry: a 429 event before any piece cools every worker down."""
    limited = {"error": {"message": "Rate limit reached for requests", "type": "rate_limit_error", "code": 429,
                         "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.2s"}]}}
    fault_server.script(Fault.error(200, sse(limited), content_type="text/event-stream"))
    client = client_for(fault_server)
    stream = client.stream(HI, model="fault-chat")
    assert "".join(stream) == "echo: hello there"
    assert stream.result.attempts == 2
    assert_calls(fault_server, client, 2)
    stats = client.stats.snapshot()
    assert stats["retries"] == 1 and stats["rate_limited"] == 1
    assert client.limiter.waited_s > 0  # the wait went through the limiter that every worker shares


def test_a_stream_is_an_object_with_its_pieces_and_can_be_closed(fault_server):
    client = client_for(fault_server)
    with client.stream([{"role": "user", "content": "one two three"}], model="fault-chat") as stream:
        assert stream.result is None and stream.pieces == []
        assert next(stream) == "echo: "
        assert stream.pieces == ["echo: "] and stream.accumulator.text == "echo: "
    assert list(stream) == []  # closed: nothing more comes, and nothing raises
    assert stream.result is None
    untouched = client.stream(HI, model="fault-chat")
    untouched.close()
    assert fault_server.calls == 1  # a stream closed before it started is never sent
    whole = client.stream(HI, model="fault-chat")
    assert whole.text() == "echo: hello there" and whole.text() == "echo: hello there"
    assert whole.result.text == "echo: hello there"


def test_attempts_are_counted_per_call_when_threads_share_a_client(fault_server):
    """Eight threads on one client, all in flight together: each result counts its own requests only."""
    workers = 8
    gathered = threading.Barrier(workers, timeout=60)
    first_request = threading.local()

    class Gathering(RateLimiter):
        """Holds each thread's first request until every thread is about to send (no thread runs alone)."""

        def acquire(self, tokens=0):
            if not getattr(first_request, "seen", False):
                first_request.seen = True
                gathered.wait()
            super().acquire(tokens)

    for failing in (0, 3, 5):  # one 500 for these callers' messages; their retry succeeds
        fault_server.add_rule(Fault.error(500), when=lambda req, n=failing: req.text == f"caller {n}", times=1)
    settings = ConnectionSettings.from_preset({"style": "openai", "base_url": fault_server.url, "api_key": KEY,
                                               "models": ["fault-chat"], "max_retries": 2})
    client = Client(settings, limiter=Gathering(), retry=RetryPolicy(max_retries=2, **FAST))
    results = [None] * workers

    def work(n):
        results[n] = client.chat([{"role": "user", "content": f"caller {n}"}], model="fault-chat")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.attempts for r in results] == [2, 1, 1, 2, 1, 2, 1, 1]
    assert [r.text for r in results] == [f"echo: caller {n}" for n in range(workers)]
    assert_calls(fault_server, client, 11)


def test_stream_ending_without_done_but_cleanly(fault_server):
    """A stream whose HTTP body ends normally but without [DONE] is incomplete, too."""
    fault_server.always(Fault.error(200, b'data: {"choices":[{"delta":{"content":"partial"}}]}\n\n',
                                    content_type="text/event-stream"))
    client = client_for(fault_server, max_retries=0)
    with pytest.raises(InvalidResponseError) as info:
        list(client.stream(HI, model="fault-chat"))
    assert "[DONE]" in str(info.value)


def test_stream_carrying_an_error_object(fault_server):
    fault_server.always(Fault.stream_error(after=1))
    client = client_for(fault_server, max_retries=3)
    received = []
    with pytest.raises(ServerError) as info:
        for piece in client.stream(HI, model="fault-chat"):
            received.append(piece)
    assert received == ["echo: "]
    assert "The server had an error while processing your request" in str(info.value)
    assert_calls(fault_server, client, 1)


def test_sse_comments_keepalives_and_empty_choices_are_tolerated(fault_server):
    fault_server.always(Fault.keepalive())
    client = client_for(fault_server)
    stream = client.stream([{"role": "user", "content": "one two three"}], model="fault-chat")
    assert "".join(stream) == "echo: one two three"
    assert stream.result.usage.total_tokens == 7
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"  # blank lines before a JSON body
    assert_calls(fault_server, client, 2)


def test_stream_stalled_past_the_read_timeout(fault_server):
    stall = threading.Event()
    fault_server.always(Fault.slow(0.0, interval=120, until=stall))
    client = client_for(fault_server, read_timeout_s=0.3, max_retries=0)
    try:
        with pytest.raises(APITimeoutError):
            list(client.stream(HI, model="fault-chat"))
    finally:
        stall.set()
    assert_calls(fault_server, client, 1)


def test_stream_with_multibyte_text(fault_server):
    text = "héllo wörld 日本語 🎉 line\u2028sep"
    client = client_for(fault_server)
    stream = client.stream([{"role": "user", "content": text}], model="fault-chat")
    assert "".join(stream) == "echo: " + text


# --- compatibility fallbacks ---------------------------------------------------------------------------------------

def test_provider_refusing_stream_in_auto(fault_server, caplog):
    fault_server.reject_stream()
    client = client_for(fault_server, streaming="auto")
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        stream = client.stream(HI, model="fault-chat")
        pieces = list(stream)
    assert pieces == ["echo: hello there"]  # one piece
    assert stream.result.text == "echo: hello there"
    assert stream.result.attempts == 2
    assert_calls(fault_server, client, 2)  # the refused stream, then one plain call
    assert [r.stream for r in fault_server.requests] == [True, False]
    assert "streaming" in caplog.text
    # remembered: the next stream goes straight to a plain call
    assert list(client.stream(HI, model="fault-chat")) == ["echo: hello there"]
    assert_calls(fault_server, client, 3)


def test_provider_refusing_stream_with_streaming_yes(fault_server):
    fault_server.reject_stream()
    client = client_for(fault_server, streaming="yes")
    with pytest.raises(BadRequestError) as info:
        list(client.stream(HI, model="fault-chat"))
    assert "stream is not supported" in str(info.value)
    assert_calls(fault_server, client, 1)


def test_streaming_no_makes_plain_calls(fault_server):
    client = client_for(fault_server, streaming="no")
    assert list(client.stream(HI, model="fault-chat")) == ["echo: hello there"]
    assert fault_server.requests[-1].stream is False


@pytest.mark.parametrize(("style", "refused", "accepted"), [
    ("openai", "max_tokens", "max_completion_tokens"),
    ("azure", "max_completion_tokens", "max_tokens"),
])
def test_token_field_flips_once_and_is_remembered(fault_server, caplog, style, refused, accepted):
    fault_server.reject_param(refused)
    if style == "openai":
        client = client_for(fault_server)
    else:
        client = client_for(fault_server, style="azure", target_uri=fault_server.target_uri,
                            auth_scheme="api_key_header", endpoints=[{"name": "fault-chat", "deployment": "dep"}])
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        result = client.chat(HI, model="fault-chat", max_tokens=16)
    assert result.attempts == 2
    assert_calls(fault_server, client, 2)
    first, second = fault_server.requests
    assert first.json[refused] == 16 and accepted not in first.json
    assert second.json[accepted] == 16 and refused not in second.json
    assert accepted in caplog.text
    client.chat(HI, model="fault-chat", max_tokens=8)
    assert_calls(fault_server, client, 3)  # the next call sends the right field first try
    assert fault_server.requests[-1].json[accepted] == 8
    list(client.stream(HI, model="fault-chat", max_tokens=8))  # streams too
    assert_calls(fault_server, client, 4)


@pytest.mark.parametrize("style", ["openai", "vllm", "mistral"])
def test_explicit_token_field_never_flips(fault_server, style):
    fault_server.reject_param("max_completion_tokens", style)
    client = client_for(fault_server, max_tokens_field="max_completion_tokens")
    with pytest.raises(BadRequestError) as info:
        client.chat(HI, model="fault-chat", max_tokens=16)
    assert info.value.param == "max_completion_tokens"
    assert_calls(fault_server, client, 1)
    assert client.compat.token_field == "max_completion_tokens"


def test_developer_role_refused(fault_server, caplog):
    fault_server.reject_role("developer")
    client = client_for(fault_server, system_role="developer")
    messages = [{"role": "system", "content": "Be brief."}] + HI
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        assert client.chat(messages, model="fault-chat").text == "echo: hello there"
    assert_calls(fault_server, client, 2)
    assert [m["role"] for m in fault_server.requests[0].json["messages"]] == ["developer", "user"]
    assert [m["role"] for m in fault_server.requests[1].json["messages"]] == ["system", "user"]
    assert "developer" in caplog.text
    client.chat(messages, model="fault-chat")
    assert_calls(fault_server, client, 3)


def test_developer_role_from_the_caller_is_mapped(fault_server):
    fault_server.reject_role("developer")
    client = client_for(fault_server)
    client.chat([{"role": "developer", "content": "Be brief."}] + HI, model="fault-chat")
    assert_calls(fault_server, client, 1)
    assert fault_server.requests[0].json["messages"][0]["role"] == "system"


def test_system_prompt_merged_into_the_user_message(fault_server):
    client = client_for(fault_server, system_role="user")
    client.chat([{"role": "system", "content": "Be brief."}] + HI, model="fault-chat")
    assert fault_server.requests[0].json["messages"] == [{"role": "user", "content": "Be brief.\n\nhello there"}]


@pytest.mark.parametrize("style", ["openai", "vllm", "mistral"])
def test_unknown_parameter_dropped_retried_once_and_remembered(fault_server, caplog, style):
    fault_server.reject_param("seed", style)
    client = client_for(fault_server)
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        result = client.chat(HI, model="fault-chat", seed=42, temperature=0)
    assert result.text == "echo: hello there"
    assert_calls(fault_server, client, 2)
    first, second = fault_server.requests
    assert first.json["seed"] == 42
    assert "seed" not in second.json and second.json["temperature"] == 0
    warnings = [r for r in caplog.records if r.name == "openai_compatible" and "'seed'" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    client.chat(HI, model="fault-chat", seed=42)
    assert_calls(fault_server, client, 3)
    assert "seed" not in fault_server.requests[-1].json


def test_json_schema_refused_falls_back(fault_server):
    schema = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object", "properties": {
        "sentiment": {"type": "string"}}}}}
    fault_server.add_rule(Fault.error(400, {"error": {"message": "response_format json_schema is not supported",
                                                      "param": "response_format"}}),
                          when=lambda req: (req.json.get("response_format") or {}).get("type") == "json_schema")
    client = client_for(fault_server)
    result = client.chat(HI, model="fault-chat", response_format=schema)
    assert json.loads(result.text) == {"echo": "hello there"}
    assert [r.json["response_format"]["type"] for r in fault_server.requests] == ["json_schema", "json_object"]


def test_json_schema_answer(fault_server):
    schema = {"type": "json_schema", "json_schema": {"name": "s", "schema": {
        "type": "object", "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["sentiment"], "additionalProperties": False}}}
    result = client_for(fault_server).chat(HI, model="fault-chat", response_format=schema)
    assert json.loads(result.text) == {"sentiment": "positive"}
    assert fault_server.requests[0].json["response_format"] == schema


# --- what is sent ---------------------------------------------------------------------------------------------------

def test_only_what_the_caller_set_is_sent(fault_server):
    client = client_for(fault_server)
    client.chat(HI, model="fault-chat")
    assert fault_server.requests[-1].json == {"model": "fault-chat", "messages": HI}
    client.chat(HI, model="fault-chat", max_tokens=5, temperature=0.0, stop=None, top_p=None)
    assert fault_server.requests[-1].json == {"model": "fault-chat", "messages": HI, "max_tokens": 5,
                                              "temperature": 0.0}


def test_required_header_missing_then_given(fault_server):
    fault_server.require_header("X-Gateway-Tenant", "acme")
    client = client_for(fault_server, max_retries=3)
    with pytest.raises(AuthenticationError) as info:
        client.chat(HI, model="fault-chat")
    assert "X-Gateway-Tenant" in str(info.value)
    assert_calls(fault_server, client, 1)
    client = client_for(fault_server, extra_headers=[{"from": "X-Gateway-Tenant", "to": "acme"}])
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"
    assert fault_server.requests[-1].header("x-gateway-tenant") == "acme"


def test_extra_query_parameters(fault_server):
    client = client_for(fault_server, extra_query=[{"from": "tenant", "to": "acme"}])
    client.chat(HI, model="fault-chat")
    client.embed(["a"], model="fault-embed")
    assert [r.query for r in fault_server.requests] == [{"tenant": "acme"}, {"tenant": "acme"}]


def test_organization_header(fault_server):
    client_for(fault_server, organization="org-123").chat(HI, model="fault-chat")
    assert fault_server.requests[0].header("openai-organization") == "org-123"


@pytest.mark.parametrize(("scheme", "extra", "rule"), [
    ("bearer", {}, "bearer"),
    ("api_key_header", {}, "api-key"),
    ("custom_header", {"auth_header_name": "Ocp-Apim-Subscription-Key"}, "header:Ocp-Apim-Subscription-Key"),
    ("query_param", {"auth_query_param": "key"}, "query:key"),
])
def test_auth_schemes_as_the_server_sees_them(fault_server, scheme, extra, rule):
    fault_server.require_auth(KEY, rule)
    client = client_for(fault_server, auth_scheme=scheme, **extra)
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"
    request = fault_server.requests[0]
    carriers = [name for name, value in request.headers.items() if KEY in value]
    carriers += [f"?{name}" for name, value in request.query.items() if KEY in value]
    assert len(carriers) == 1  # the key travels once, where the scheme says
    wrong = client_for(fault_server, auth_scheme=scheme, api_key="sk-wrong-key-0009", **extra)
    with pytest.raises(AuthenticationError):
        wrong.chat(HI, model="fault-chat")


def test_auth_scheme_none_sends_no_key(fault_server):
    client = client_for(fault_server, auth_scheme="none")
    client.chat(HI, model="fault-chat")
    request = fault_server.requests[0]
    assert "authorization" not in request.headers and "api-key" not in request.headers
    assert KEY not in json.dumps(request.headers) + json.dumps(request.query)


def test_azure_routes(fault_server):
    client = client_for(fault_server, style="azure", target_uri=fault_server.target_uri + "/",
                        api_version="2024-10-21", auth_scheme="api_key_header", endpoints=[
                            {"name": "gpt", "kind": "azure_deployment", "deployment": "gpt-dep"},
                            {"name": "emb", "kind": "azure_deployment", "deployment": "emb-dep"},
                            {"name": "v1", "kind": "openai_v1", "api_key": "sk-own-endpoint-key-0002"}])
    client.chat(HI, model="gpt")
    client.embed(["a"], model="emb")
    client.chat(HI, model="v1")
    chat, embed, v1 = fault_server.requests
    assert (chat.path, chat.deployment, chat.query) == ("/openai/deployments/gpt-dep/chat/completions", "gpt-dep",
                                                        {"api-version": "2024-10-21"})
    assert "model" not in chat.json
    assert chat.header("api-key") == KEY and chat.header("authorization") is None
    assert (embed.path, embed.query) == ("/openai/deployments/emb-dep/embeddings", {"api-version": "2024-10-21"})
    assert (v1.path, v1.query, v1.json["model"]) == ("/v1/chat/completions", {}, "v1")
    assert v1.header("api-key") == "sk-own-endpoint-key-0002"


# --- embeddings and models ------------------------------------------------------------------------------------------

def test_embeddings_in_input_order_with_dimensions(fault_server):
    texts = ["first", "second", "third", "first"]
    client = client_for(fault_server)
    vectors = client.embed(texts, model="fault-embed", dimensions=4)
    assert vectors == [pytest.approx(embedding_vector(t, 4)) for t in texts]
    assert fault_server.requests[0].json == {"model": "fault-embed", "input": texts, "encoding_format": "float",
                                             "dimensions": 4}
    result = client.embed_result(["a b c"], model="fault-embed")
    assert len(result.vectors[0]) == 8 and result.usage.prompt_tokens == 3


def test_embeddings_answered_in_another_order(fault_server):
    answer = {"object": "list", "model": "fault-embed", "data": [
        {"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}
    fault_server.always(Fault.error(200, answer))
    assert client_for(fault_server).embed(["a", "b"], model="fault-embed") == [[1.0, 0.0], [0.0, 1.0]]


def test_embeddings_with_missing_vectors(fault_server):
    fault_server.always(Fault.error(200, {"data": [{"index": 0, "embedding": [1.0]}]}))
    with pytest.raises(InvalidResponseError):
        client_for(fault_server, max_retries=0).embed(["a", "b"], model="fault-embed")


def test_models_and_discovery(fault_server):
    fault_server.models = ["fault-chat", "fault-embed", "discovered-1"]
    client = client_for(fault_server, models=["listed-only"], discover_models=True)
    assert client.models() == ["listed-only", "fault-chat", "fault-embed", "discovered-1"]
    client.chat(HI, model="discovered-1")  # a discovered model is usable
    assert fault_server.calls_to("models") == 1  # discovery is cached
    with pytest.raises(UnknownModelError):
        client.chat(HI, model="not-there")
    assert fault_server.calls_to("chat") == 1


def test_discovery_failure_falls_back_to_the_listed_models(fault_server):
    fault_server.add_rule(Fault.error(404), when=lambda req: req.route == "models")
    client = client_for(fault_server, models=["listed"], discover_models=True)
    assert client.models() == ["listed"]


# --- TLS ------------------------------------------------------------------------------------------------------------

def test_tls_is_verified_by_default(fault_server):
    https = fault_server.url.replace("http://", "https://")
    client = client_for(type("Https", (), {"url": https})(), max_retries=0)
    assert client.transport.pool_options["cert_reqs"] == "CERT_REQUIRED"  # the default or REQUESTS_CA_BUNDLE trust
    with pytest.raises(APIConnectionError) as info:
        client.chat(HI, model="fault-chat")
    assert "TLS" in str(info.value)
    assert "ca_bundle" in str(info.value)
    assert fault_server.calls == 0


# --- lenient reading --------------------------------------------------------------------------------------------

def sse(*events):
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


def test_null_content_unknown_fields_and_tool_calls(fault_server):
    tool_calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]
    answer = {"id": "x", "object": "chat.completion", "model": "fault-chat", "timings": {"prompt_ms": 1},
              "provider_specific_fields": {}, "choices": [
                  {"index": 0, "finish_reason": "tool_calls", "logprobs": {"content": []},
                   "message": {"role": "assistant", "content": None, "tool_calls": tool_calls, "refusal": None}}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_tokens_details": {}}}
    fault_server.always(Fault.error(200, answer))
    result = client_for(fault_server).chat(HI, model="fault-chat", tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object"}}}])
    assert result.text == ""
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == tool_calls
    assert result.logprobs == {"content": []}
    assert result.usage.total_tokens == 5


def test_stream_with_null_deltas_empty_choices_and_tool_call_fragments(fault_server):
    body = sse(
        {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\": "}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "call_2", "type": "function", "function": {"name": "other", "arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}},
        b"[DONE]")
    fault_server.always(Fault.error(200, body, content_type="text/event-stream"))
    stream = client_for(fault_server).stream(HI, model="fault-chat")
    assert list(stream) == []
    result = stream.result
    assert result.finish_reason == "tool_calls"
    assert result.usage.total_tokens == 12
    assert result.tool_calls == [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}},
        {"index": 1, "id": "call_2", "type": "function", "function": {"name": "other", "arguments": "{}"}},
    ]


def test_stream_answered_in_one_json_piece(fault_server):
    """A provider that ignores ``stream`` and answers with plain JSON: one piece, no error."""
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"},
                           "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    fault_server.always(Fault.error(200, answer))
    client = client_for(fault_server)
    stream = client.stream(HI, model="fault-chat")
    assert list(stream) == ["whole"]
    assert stream.result.usage.total_tokens == 2
    assert_calls(fault_server, client, 1)


def test_provider_refusing_stream_options(fault_server, caplog):
    fault_server.reject_param("stream_options")
    client = client_for(fault_server)
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        stream = client.stream(HI, model="fault-chat")
        assert "".join(stream) == "echo: hello there"
    assert_calls(fault_server, client, 2)
    assert "stream_options" in caplog.text
    assert fault_server.requests[1].stream and "stream_options" not in fault_server.requests[1].json
    list(client.stream(HI, model="fault-chat"))
    assert_calls(fault_server, client, 3)


def test_an_html_page_without_a_redirect_is_named_a_page_and_nothing_else(fault_server):
    fault_server.always(Fault.error(200, "<html><head><title>Sign in</title></head></html>", content_type="text/html"))
    with pytest.raises(InvalidResponseError) as info:
        client_for(fault_server).chat(HI, model="fault-chat")
    assert str(info.value).startswith("chat with 'fault-chat': HTTP 200 but the answer is an HTML page ('Sign in'), "
                                      "not the API's JSON: check that the preset's URL is the API's")


def test_a_value_the_http_library_refuses_is_a_settings_error_that_masks_the_key(fault_server, monkeypatch):
    # the library's text quotes the value it refused, which may be the key: it is masked, and the fields named
    client = client_for(fault_server)

    def refuse(*args, **kwargs):
        raise ValueError(f"Invalid header value b'Bearer {KEY}\\x00'")
    monkeypatch.setattr(client.transport, "request", refuse)
    with pytest.raises(SettingsError) as info:
        client.chat(HI, model="fault-chat")
    message = str(info.value)
    assert KEY not in message and "Invalid header value" in message
    assert message.endswith("a header or URL value holds a character HTTP does not allow. Check the preset's "
                            "api_key (or your per-user key), extra_headers and extra_query.")
    assert fault_server.calls == 0


def test_an_unknown_chat_option_is_refused_before_any_request_with_the_known_ones(fault_server):
    with pytest.raises(SettingsError) as info:
        client_for(fault_server).chat(HI, model="fault-chat", temprature=0.2, top_k=3)
    assert str(info.value).startswith("Unknown chat option(s): temprature, top_k. Known: ")
    assert "temperature" in str(info.value).split("Known: ")[1]
    assert fault_server.calls == 0


@pytest.mark.parametrize("fault, error, message", [
    (Fault.error(200, "hello there", content_type="text/plain"), InvalidResponseError,
     "chat with 'fault-chat': HTTP 200 but the body is not JSON: 'hello there'."),
    (Fault.empty_200(), InvalidResponseError, "chat with 'fault-chat': HTTP 200 with an empty body instead of JSON."),
    (Fault.error(200, "42", content_type="application/json"), InvalidResponseError,
     "chat with 'fault-chat': the answer is JSON but not an object."),
    (Fault.stream_cut(), APIConnectionError,
     "chat with 'fault-chat': the connection broke while reading the answer (the answer was cut short)."),
])
def test_a_broken_answer_is_named_whole(fault_server, fault, error, message):
    fault_server.always(fault)
    with pytest.raises(error) as info:
        client_for(fault_server, max_retries=0).chat(HI, model="fault-chat")
    assert type(info.value) is error and str(info.value) == message


def test_a_body_saying_there_is_no_api_at_the_url_gives_that_advice_and_is_not_retried(fault_server):
    # LM Studio answers 200 with this text for a path it does not serve (lmstudio-ai/lmstudio-bug-tracker#618):
    # the same URL brings the same text, so retries are wasted
    fault_server.always(Fault.error(200, "Unexpected endpoint or method. (POST /v1/v1/chat/completions)",
                                    content_type="text/plain"))
    client = client_for(fault_server, max_retries=2)
    with pytest.raises(InvalidResponseError) as info:
        client.chat(HI, model="fault-chat")
    assert str(info.value) == (
        "chat with 'fault-chat': HTTP 200 but the body is not JSON: 'Unexpected endpoint or method. (POST "
        "/v1/v1/chat/completions)'. The provider has no API at this URL: the base_url ends in /v1 and the path added "
        "another: remove one /v1 from 'base_url'.")
    assert info.value.retryable is False
    assert_calls(fault_server, client, 1)


def test_a_reset_before_any_answer_is_a_connection_that_could_not_be_made(fault_server):
    fault_server.always(Fault.reset())
    with pytest.raises(APIConnectionError) as info:
        client_for(fault_server, max_retries=0).chat(HI, model="fault-chat")
    assert str(info.value) == (f"chat with 'fault-chat': cannot reach {fault_server.url}/chat/completions "
                               "(connection reset).")


def renewing_oauth2_preset(fault_server) -> dict:
    """A preset whose OAuth2 token endpoint (the fault server's) issues tok-old-1, then tok-new-2, then tok-new-3."""
    token_url = fault_server.serve_tokens("tok-old-1", "tok-new-2", "tok-new-3")
    return {"base_url": fault_server.url, "models": ["fault-chat"], "max_retries": 0,
            "auth_scheme": "oauth2_client_credentials", "oauth2_token_url": token_url,
            "oauth2_client_id": "dss-app", "oauth2_client_secret": "s3cret-renew-1"}


def bearers_sent_to_the_api(fault_server, preset) -> list:
    """The Authorization header of each request to the API, the token endpoint's requests left out."""
    token_path = preset["oauth2_token_url"].removeprefix(fault_server.target_uri)
    return [r.header("authorization") for r in fault_server.requests if r.path != token_path]


def test_an_oauth2_token_refused_with_401_is_replaced_once_and_the_request_sent_again(fault_server):
    preset = renewing_oauth2_preset(fault_server)
    fault_server.require_auth("tok-new-2", scheme="bearer")
    with Client.from_preset(preset) as client:
        assert client.chat(HI, model="fault-chat").text == "echo: hello there"
        assert bearers_sent_to_the_api(fault_server, preset) == ["Bearer tok-old-1", "Bearer tok-new-2"]
        assert client.stats.snapshot()["http_calls"] == 2


def test_an_oauth2_token_refused_again_once_replaced_is_an_authentication_error_after_two_requests(fault_server):
    # a gateway that refuses the client itself (not an expired token): a fresh token cannot help, so the request
    # goes once more with one, and the 401 of that second request is the answer
    preset = renewing_oauth2_preset(fault_server)
    fault_server.require_auth("tok-the-gateway-wants", scheme="bearer")
    with Client.from_preset(preset) as client:
        with pytest.raises(AuthenticationError):
            client.chat(HI, model="fault-chat")
        assert bearers_sent_to_the_api(fault_server, preset) == ["Bearer tok-old-1", "Bearer tok-new-2"]
        assert client.stats.snapshot()["http_calls"] == 2


def test_a_compressed_answer_larger_than_one_read_is_decoded_whole(fault_server):
    # gateways gzip their answers: the body is then read in pieces (its size is not known before decoding), and
    # the pieces must come back together unchanged
    import gzip
    content = "".join(f"line {n}: {'é' * 40}\n" for n in range(3000))  # about 270 kB once decoded
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "fault-chat",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
    packed = gzip.compress(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    fault_server.always(Fault.error(200, packed, content_type="application/json",
                                    headers={"Content-Encoding": "gzip"}))
    assert client_for(fault_server).chat(HI, model="fault-chat").text == content


def test_an_html_page_is_recognised_by_its_content_type_too(fault_server):
    # a page that does not open with <html> or <!doctype> still says what it is in its Content-Type
    fault_server.always(Fault.error(200, "<body><h1>Sign in</h1></body>", content_type="text/html; charset=utf-8"))
    with pytest.raises(InvalidResponseError) as info:
        client_for(fault_server).chat(HI, model="fault-chat")
    assert "HTTP 200 but the answer is an HTML page ('Sign in')" in str(info.value)


@pytest.mark.parametrize("streamed, where", [(False, "chat with 'fault-chat'"), (True, "stream with 'fault-chat'")])
def test_a_retry_log_line_names_the_call(fault_server, caplog, streamed, where):
    fault_server.script(Fault.error(503))
    client = client_for(fault_server)
    with caplog.at_level("INFO", logger="openai_compatible"):
        answer = client.stream(HI, model="fault-chat").text() if streamed else client.chat(HI, model="fault-chat").text
    assert answer == "echo: hello there"
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 1 and retries[0].startswith(f"Retrying {where} in "), retries
    assert "after server_error (retry 1 of 2)" in retries[0]


def test_chats_and_streams_fail_over_to_another_replica(fault_server):
    # the first replica is down: both kinds of call are sent on to the second at once, not failed
    from tests.servers.fault_server import FaultServer
    with FaultServer() as down:
        url = down.url
    client = client_for(type("Replicas", (), {"url": url})(), replica_urls=[fault_server.url], max_retries=1)
    assert client.chat(HI, model="fault-chat").text == "echo: hello there"
    assert client.stream(HI, model="fault-chat").text() == "echo: hello there"
    assert fault_server.calls == 2
