"""Replays every corpus case through the public client API and checks what a user gets.

A case whose expectation the current client does not meet carries ``known_gap`` (the kind of issue 10 it
belongs to) and runs as a strict xfail: when a fix makes it pass, the suite fails until the mark is removed.
"""
from __future__ import annotations

import base64
import json
import math
from typing import Any, Iterator

import openai_compatible
import pytest
import requests
from openai_compatible import Client, ConnectionSettings, OpenAICompatibleError
from openai_compatible.retry import RetryPolicy

from tests.providers.case import ABSENT, HI, KINDS, MODEL, RETRIES, Case, Contains
from tests.providers.profiles import all_cases
from tests.providers.profiles.litellm import b64_floats
from tests.providers.replay import ReplayServer, Reply

KEY = "sk-corpus-test-key-0001"
# backoff and provider hints shortened so that retried cases stay quick; the number of calls is what counts
FAST = RetryPolicy(max_retries=RETRIES, initial_delay_s=0.01, max_delay_s=0.02, max_hint_s=0.05)
# how a case the client gets wrong may fail: a failed check, or the client's own error where an answer was due
GAP_FAILURES = (AssertionError, OpenAICompatibleError, pytest.fail.Exception)


def _params() -> list:
    params = []
    for case in all_cases():
        # only a wrong outcome counts as the known gap: a crash of the harness itself still fails the run
        marks = [pytest.mark.xfail(strict=True, reason=case.known_gap, raises=GAP_FAILURES)] if case.known_gap else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


def client_for(case: Case, server: ReplayServer) -> Client:
    """A client of the replay server, built from a preset as a user would (OpenAI or Azure style)."""
    preset: dict[str, Any] = {"api_key": KEY, "max_retries": RETRIES, "read_timeout_s": 10}
    changes = dict(case.preset)
    if changes.pop("style", "openai") == "azure":
        kind = changes.pop("endpoint_kind", "azure_deployment")
        preset.update(style="azure", target_uri=server.url,
                      endpoints=[{"name": MODEL, "kind": kind, "deployment": "corpus-deployment"}])
    else:
        preset.update(style="openai", base_url=server.url + changes.pop("base_url_suffix", "/v1"),
                      models=[] if case.call == "models" else [MODEL], discover_models=case.call == "models")
    preset.update(changes)
    return Client(ConnectionSettings.from_preset(preset), retry=FAST)


def run(case: Case, client: Client) -> Any:
    options = dict(case.options)
    if case.call == "chat":
        return client.chat(options.pop("messages", HI), MODEL, **options)
    if case.call == "stream":
        stream = client.stream(options.pop("messages", HI), MODEL, **options)
        pieces = list(stream)
        assert stream.result is not None, "the stream ended without its result"
        assert "".join(pieces) == stream.result.text, "the pieces yielded differ from the result's text"
        return stream.result
    if case.call == "embed":
        return client.embed(options.pop("texts"), MODEL, **options)
    if case.call == "models":
        return client.models()
    raise AssertionError(f"unknown call {case.call!r}")


def lookup(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return ABSENT
    return value


def check_sent(case: Case, server: ReplayServer) -> None:
    requests = server.requests
    expect = case.expect
    if expect.calls is not None:
        assert len(requests) == expect.calls, f"expected {expect.calls} HTTP calls, got {len(requests)}"
    if expect.max_calls is not None:
        assert len(requests) <= expect.max_calls, f"expected at most {expect.max_calls} calls, got {len(requests)}"
    for path, wanted in expect.sent.items():
        got = lookup(requests[-1].body, path)
        if wanted is ABSENT:
            assert got is ABSENT, f"the last request still sends {path!r}: {got!r}"
        elif isinstance(wanted, Contains):
            assert got is not ABSENT and wanted.text.lower() in json.dumps(got).lower(), \
                f"the last request's {path!r} lacks {wanted.text!r}: {got!r}"
        else:
            assert got == wanted, f"the last request's {path!r} is {got!r}, expected {wanted!r}"


def check_result(case: Case, result: Any) -> None:
    expect = case.expect
    if case.call == "embed":
        assert expect.vectors is not None
        assert len(result) == len(expect.vectors)
        for got, wanted in zip(result, expect.vectors):
            assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) for a, b in zip(got, wanted)) \
                and len(got) == len(wanted), f"vector {got!r} differs from {wanted!r}"
        return
    if case.call == "models":
        assert tuple(result) == expect.models
        return
    if expect.text is not None:
        assert result.text == expect.text
    if expect.finish_reason is not None:
        assert result.finish_reason == expect.finish_reason
    if expect.reasoning is not None:
        assert getattr(result, "reasoning", None) == expect.reasoning
    if expect.usage is not None:
        for name, value in expect.usage.items():
            assert getattr(result.usage, name, None) == value, f"usage.{name}"
    if expect.tool_calls is not None:
        calls = result.tool_calls or []
        got = []
        for call in calls:
            function = call.get("function") or {}
            try:
                arguments = json.loads(function.get("arguments") or "")
            except ValueError:
                arguments = f"<not JSON: {function.get('arguments')!r}>"
            got.append((function.get("name"), arguments))
        assert got == [(name, args) for name, args in expect.tool_calls]


@pytest.mark.parametrize("case", _params())
def test_case(case: Case, replay: ReplayServer) -> None:
    replay.serve(case.replies)
    expect = case.expect
    with client_for(case, replay) as client:
        if expect.error and not expect.either_ok_or_error:
            error_class = getattr(openai_compatible, expect.error)
            with pytest.raises(OpenAICompatibleError) as caught:
                run(case, client)
            assert isinstance(caught.value, error_class), \
                f"raised {type(caught.value).__name__} ({caught.value}), expected {expect.error}"
            message = str(caught.value).lower()
            assert KEY.lower() not in message
            for word in expect.mentions:
                assert word in message, f"the error does not mention {word!r}: {caught.value}"
            if expect.error_type is not None:
                assert caught.value.error_type == expect.error_type, caught.value.error_type
        else:
            try:
                result = run(case, client)
            except OpenAICompatibleError as exc:
                if not expect.either_ok_or_error:
                    raise
                message = str(exc).lower()
                for word in expect.mentions:
                    assert word in message, f"the error does not mention {word!r}: {exc}"
            else:
                check_result(case, result)
        assert KEY not in json.dumps([r.body for r in replay.requests])  # never echoed into a request body
    check_sent(case, replay)


def test_every_case_cites_a_source() -> None:
    for case in all_cases():
        assert case.source.strip(), case.name
        assert "#" in case.source or "http" in case.source, f"{case.name}: cite an issue number or a URL"


def test_every_gap_names_a_known_kind() -> None:
    for case in all_cases():
        assert case.known_gap is None or case.known_gap in KINDS, f"{case.name}: unknown kind {case.known_gap!r}"


def test_corpus_covers_the_providers() -> None:
    providers = {c.provider.split(" (")[0] for c in all_cases()}
    assert len(all_cases()) >= 60
    assert len(providers) >= 21, sorted(providers)


def test_replay_serves_a_sequence_then_repeats_the_last(replay: ReplayServer) -> None:
    """The replay server itself: request n gets reply n, later requests the last one, and all are recorded."""
    replay.serve([Reply(503, {"error": "busy"}), Reply(200, {"ok": True})])
    statuses = [requests.post(replay.url + "/v1/x", json={"n": n}, timeout=5).status_code for n in range(3)]
    assert statuses == [503, 200, 200]
    assert [r.body for r in replay.requests] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {r.path for r in replay.requests} == {"/v1/x"}


def test_replay_streams_frames_then_closes(replay: ReplayServer) -> None:
    replay.serve(Reply(200, sse=("data: {\"a\": 1}\n\n", "data: [DONE]\n\n")))
    response = requests.post(replay.url + "/v1/chat/completions", json={}, stream=True, timeout=5)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.content == b"data: {\"a\": 1}\n\ndata: [DONE]\n\n"


def test_base64_vectors_decode_to_floats() -> None:
    """The helper profiles use to write a base64 embedding matches the float32 little-endian format."""
    raw = base64.b64decode(b64_floats([0.5, -1.0]))
    assert raw == b"\x00\x00\x00?\x00\x00\x80\xbf"
