"""Several replicas behind one preset: the choice of a replica, the cool-down and probe of a failed one, the failover
of the retry loop, and the preset fields. Time comes from a clock the tests move by hand."""
import json
import socket
from pathlib import Path

import pytest
from openai_compatible import ConnectionSettings, SettingsError
from openai_compatible.concurrency import ConcurrencyLimiter
from openai_compatible.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InvalidResponseError,
    OpenAICompatibleError,
    RateLimitError,
    ServerError,
)
from openai_compatible.http.replicas import (
    COOL_DOWN_S,
    ReplicaPool,
    is_replica_failure,
    pinned_overrides,
    replica_url,
)
from openai_compatible.http.retries import RETRIES_BEFORE_FIRST_ANSWER, Call, RetryLoop
from openai_compatible.oauth2 import OAuth2Settings, TokenProvider
from openai_compatible.ratelimit import RateLimiter
from openai_compatible.retry import RetryPolicy
from openai_compatible.stats import CallStats

from tests.servers.fault_server import Fault, when_path

A, B, C = "http://a:8000/v1", "http://b:8000/v1", "http://c:8000/v1"


class Clock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def pool_of(*roots, clock=None, fixed=0, limits=None):
    clock = clock or Clock()
    sizes = iter(limits or [])
    return ReplicaPool(roots, lambda: ConcurrencyLimiter(next(sizes, fixed), 8, clock=clock), clock=clock)


@pytest.mark.parametrize("roots", [(), (A,)])
def test_a_pool_of_fewer_than_two_replicas_is_refused(roots):
    with pytest.raises(ValueError) as info:
        pool_of(*roots)
    assert str(info.value) == "a replica pool needs at least two replicas"


def refused():
    error = APIConnectionError("cannot reach (connection refused)")
    error.unreachable = True
    return error


def roots_of(replicas):
    return [r.root for r in replicas]


# --- choosing -------------------------------------------------------------------------------------------

def test_each_attempt_goes_to_the_replica_with_the_fewest_in_flight():
    pool = pool_of(A, B, C)
    first = [pool.choose() for _ in range(3)]
    assert roots_of(r for r, _, _ in first) == [A, B, C]  # ties: the one chosen least recently
    a, epoch, probe = first[0]
    pool.finish(a, epoch, probe, None)  # A answered: it has the fewest in flight now
    assert pool.choose()[0].root == A
    assert pool.choose()[0].root == B  # all have one in flight again; B was chosen before C
    assert [r.outstanding for r in pool.replicas] == [1, 2, 1]


def test_a_slow_replica_gets_fewer_requests_than_blind_round_robin_would_give_it():
    pool = pool_of(A, B)
    slow, *_ = pool.choose()  # A never answers in this test
    sent = []
    for _ in range(6):  # B answers each request before the next one is chosen
        replica, epoch, probe = pool.choose()
        sent.append(replica.root)
        if replica is not slow:
            pool.finish(replica, epoch, probe, None)
    assert sent.count(A) == 0 and sent.count(B) == 6


def test_the_load_is_relative_to_each_replicas_concurrency_limit():
    pool = pool_of(A, B, limits=[4, 1])  # A serves 4 at once, B 1
    chosen = [pool.choose()[0].root for _ in range(5)]
    assert chosen.count(A) == 4 and chosen.count(B) == 1


# --- cool-down and probes -------------------------------------------------------------------------------

def test_a_failed_replica_is_left_out_then_probed_back_in():
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    a, epoch, probe = pool.choose()
    assert pool.finish(a, epoch, probe, refused()) is True  # B is still there to take the retry
    assert {pool.choose()[0].root for _ in range(5)} == {B}
    clock.now += COOL_DOWN_S - 0.01
    assert pool.choose()[0].root == B
    clock.now += 0.02  # the cool-down is over: the next request probes A, and only one at a time
    a, epoch, probe = pool.choose()
    assert a.root == A and probe
    assert {pool.choose()[0].root for _ in range(3)} == {B}
    pool.finish(a, epoch, probe, None)  # the probe is answered: A is back
    assert a.healthy and pool.choose()[0].root == A


def test_a_failed_probe_doubles_the_cool_down():
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    a, epoch, probe = pool.choose()
    pool.finish(a, epoch, probe, APITimeoutError("no answer within the read timeout"))
    clock.now += COOL_DOWN_S
    a, epoch, probe = pool.choose()
    assert a.root == A and probe
    pool.finish(a, epoch, probe, ServerError("HTTP 502", status=502))
    assert a.down_until == clock.now + 2 * COOL_DOWN_S
    clock.now += 2 * COOL_DOWN_S - 0.01
    assert pool.choose()[0].root == B


def test_requests_in_flight_when_a_replica_fails_do_not_lengthen_its_cool_down():
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    on_a = [pool.choose() for _ in range(3)][0::2]  # A, B, A
    assert roots_of(r for r, _, _ in on_a) == [A, A]
    for replica, epoch, probe in on_a:  # a killed server: every request it held fails
        clock.now += 1
        pool.finish(replica, epoch, probe, refused())
    a = on_a[0][0]
    assert a.failures == 1 and a.down_until == clock.now - 1 + COOL_DOWN_S


@pytest.mark.parametrize("error", [RateLimitError("slow down"), BadRequestError("bad", status=400),
                                   ServerError("HTTP 409", status=409), InvalidResponseError("not JSON")])
def test_errors_that_say_nothing_of_a_replicas_health_leave_it_in(error):
    pool = pool_of(A, B)
    a, epoch, probe = pool.choose()
    pool.finish(a, epoch, probe, error)
    assert a.healthy and not is_replica_failure(error)


def token_endpoint_failure(url):
    """The error the OAuth2 token request raises when the identity provider at ``url`` fails."""
    settings = OAuth2Settings(scheme="oauth2_client_credentials", token_url=url, client_id="dss-app",
                              client_secret="s3cret-replica-1")
    with pytest.raises(OpenAICompatibleError) as raised:
        TokenProvider(settings, timeout=(5.0, 5.0)).token()
    return raised.value


def test_a_token_endpoint_that_fails_leaves_the_replica_in(fault_server):
    # the identity provider down (HTTP 503) or unreachable says nothing of the replica the request was for: the
    # token request fails before the request is sent, and the replica stays in
    fault_server.add_rule(Fault.error(503), when=when_path("/openai/v1/models"))
    with socket.socket() as unused:  # a port with nothing listening
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/token"
    failures = [token_endpoint_failure(fault_server.target_uri + "/openai/v1/models"), token_endpoint_failure(closed)]
    assert [type(e) for e in failures] == [ServerError, APIConnectionError]  # a replica's own would count
    pool = pool_of(A, B)
    for error in failures:
        a, epoch, probe = pool.choose()
        pool.finish(a, epoch, probe, error)
        assert not is_replica_failure(error)
    assert pool.status() == [(A, "up"), (B, "up")]


def test_when_every_replica_is_out_requests_go_to_the_one_back_first():
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    for _ in range(3):
        replica, epoch, probe = pool.choose()
        clock.now += 1
        pool.finish(replica, epoch, probe, refused())  # A out until 105, B until 106, C until 107
    assert [r.healthy for r in pool.replicas] == [False, False, False]
    assert pool.choose()[0].root == A


# --- the attempt: routing, failover and concurrency --------------------------------------------------------

def test_the_attempt_routes_the_request_url_to_its_replica():
    pool = pool_of(A, B)
    seen = []
    for _ in range(2):
        with pool.attempt(A):
            seen.append(replica_url(A) + "/chat/completions")
    assert seen == [A + "/chat/completions", B + "/chat/completions"]
    assert replica_url(A) == A  # outside an attempt, the preset's URL
    with pool.attempt("http://elsewhere:9000/v1"):
        assert replica_url("http://elsewhere:9000/v1") == "http://elsewhere:9000/v1"


def test_azure_endpoints_under_the_target_uri_move_with_it_and_the_others_stay():
    pool = pool_of("https://east.example.com", "https://west.example.com")
    deployment = "https://east.example.com/openai/deployments/gpt"
    pool.choose()  # the east replica is busy: the next attempt goes west
    with pool.attempt(deployment):
        assert replica_url(deployment) == "https://west.example.com/openai/deployments/gpt"
        assert replica_url("https://east.example.comx/v1") == "https://east.example.comx/v1"


def test_a_replicas_failure_is_marked_for_failover_while_another_is_available():
    pool = pool_of(A, B)
    error = refused()
    with pytest.raises(APIConnectionError), pool.attempt(A):
        raise error
    assert error.failover and not error.unreachable  # one replica down is not the service down
    last = refused()
    with pytest.raises(APIConnectionError), pool.attempt(A):
        assert replica_url(A) == B
        raise last
    assert last.unreachable and not getattr(last, "failover", False)  # no replica left: the service is down


def test_each_replica_has_its_own_automatic_concurrency():
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    before = [r.limiter.limit for r in pool.replicas]
    assert pool.automatic and pool.upper == 16 and pool.limit == sum(before)
    with pytest.raises(RateLimitError), pool.attempt(A):
        assert replica_url(A) == A
        raise RateLimitError("too many at once")  # no wait hint: a capacity signal, for A alone
    a, b = pool.replicas
    assert a.limiter.controller.refusals == 1 and b.limiter.controller.refusals == 0
    assert a.healthy and a.limiter.limit < before[0] and b.limiter.limit == before[1]


def test_a_fixed_concurrency_applies_to_each_replica():
    pool = pool_of(A, B, C, fixed=3)
    assert not pool.automatic and pool.upper == 9 and pool.limit == 9
    assert "3 replicas: http://a:8000/v1 3; http://b:8000/v1 3; http://c:8000/v1 3" == pool.describe()


# --- the retry loop ---------------------------------------------------------------------------------------

def loop_over(pool, clock, max_retries=3):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, jitter=0.0)
    return RetryLoop(RetryPolicy(max_retries=max_retries), limiter, CallStats(), pool)


def answering_from(*up):
    """A send that answers from the replicas in ``up`` and is refused by the others, recording where it went."""
    went = []

    def send():
        url = replica_url(A)
        went.append(url)
        if url not in up:
            raise refused()
        return f"answer from {url}"
    return send, went


def test_a_retry_after_a_replicas_failure_goes_to_another_replica_at_once(monkeypatch):
    clock = Clock()
    slept = []
    monkeypatch.setattr("openai_compatible.http.retries.time.sleep", slept.append)
    pool = pool_of(A, B, clock=clock)
    loop = loop_over(pool, clock)
    send, went = answering_from(B)
    call = Call("chat", base=A)
    assert loop.run(send, call) == f"answer from {B}"
    assert went == [A, B] and call.attempts == 2 and slept == [0.0]
    assert loop.run(send, Call("chat", base=A)) == f"answer from {B}" and went[2:] == [B]  # A is left out


def test_replicas_that_are_down_do_not_stop_the_job_while_another_answers(monkeypatch):
    monkeypatch.setattr("openai_compatible.http.retries.time.sleep", lambda s: None)
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    loop = loop_over(pool, clock)
    send, went = answering_from(C)
    assert RETRIES_BEFORE_FIRST_ANSWER < 2  # two replicas down use more attempts than a down service may
    assert loop.run(send, Call("chat", base=A)) == f"answer from {C}"
    assert went == [A, B, C]


def test_a_service_whose_every_replica_is_down_still_stops_after_one_retry(monkeypatch):
    monkeypatch.setattr("openai_compatible.http.retries.time.sleep", lambda s: None)
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    loop = loop_over(pool, clock, max_retries=5)
    send, went = answering_from()
    with pytest.raises(APIConnectionError) as raised:
        loop.run(send, Call("chat", base=A))
    assert went == [A, B] and raised.value.unreachable  # the failover, then the one retry of a down service


# --- the preset ---------------------------------------------------------------------------------------------

def test_replica_urls_are_read_beside_base_url():
    settings = ConnectionSettings.from_preset({"base_url": A, "models": ["m"], "replica_urls": [B + "/", "", C]})
    assert settings.replica_urls == (B, C) and settings.replica_roots() == (A, B, C)
    assert ConnectionSettings.from_preset({"base_url": A, "models": ["m"]}).replica_roots() == ()
    pool = ReplicaPool.for_settings(settings)
    assert [r.root for r in pool.replicas] == [A, B, C] and pool.upper == 3 * settings.concurrency_upper_bound


@pytest.mark.parametrize("replicas, words", [
    (["gpu-2:8000/v1"], "'replica_urls[1]' is not an http(s) URL"),
    ([B, "http://c:8000/v1/chat/completions"], "'replica_urls[2]' ends in '/chat/completions'"),
    ([A], "'replica_urls[1]' repeats 'http://a:8000/v1' (the first replica's URL)"),
    ([B, B + "/"], "'replica_urls[2]' repeats"),
])
def test_a_wrong_replica_url_names_its_line(replicas, words):
    with pytest.raises(SettingsError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        ConnectionSettings.from_preset({"base_url": A, "models": ["m"], "replica_urls": replicas})


def azure(**changes):
    preset = {"style": "azure", "target_uri": "https://east.example.com", "api_key": "k",
              "endpoints": [{"name": "gpt"}, {"name": "own", "target_uri": "https://solo.example.com"}],
              "replica_target_uris": ["https://west.example.com"]}
    preset.update(changes)
    return ConnectionSettings.from_preset(preset)


def test_replica_target_uris_serve_the_endpoints_under_the_target_uri():
    settings = azure()
    assert settings.replica_roots() == ("https://east.example.com", "https://west.example.com")
    pool = ReplicaPool.for_settings(settings)
    assert pool.serves(settings.endpoints[0].base) and not pool.serves(settings.endpoints[1].base)
    assert pool.default_used and pool.upper == 3 * settings.concurrency_upper_bound
    assert azure(replica_target_uris=[]).replica_roots() == ()


@pytest.mark.parametrize("changes, message", [
    ({"replica_target_uris": ["https://west.example.com/v1"]},
     "Preset field 'replica_target_uris[1]' ends in /v1: in Azure style, give the Target URI *without* /v1 "
     "('https://west.example.com'); the plugin adds the API paths itself."),
    ({"target_uri": "", "endpoints": [{"name": "gpt", "target_uri": "https://solo.example.com"}]},
     "Preset field 'replica_target_uris' is set but 'target_uri' is empty: give the first replica's Target URI in "
     "'target_uri', and the others in 'replica_target_uris'."),
    ({"endpoints": [{"name": "own", "target_uri": "https://solo.example.com"}]},
     "Preset field 'replica_target_uris' is set but every endpoint has its own 'target_uri': replicas serve the "
     "endpoints that use the preset's 'target_uri'. Clear the endpoints' own Target URI, or empty "
     "'replica_target_uris'."),
])
def test_a_wrong_replica_target_uri_is_explained(changes, message):
    with pytest.raises(SettingsError) as caught:
        azure(**changes)
    assert str(caught.value) == message


def test_replica_fields_of_the_other_style_are_ignored_as_dss_keeps_hidden_values():
    settings = ConnectionSettings.from_preset({"base_url": A, "models": ["m"],
                                               "replica_target_uris": ["https://west.example.com"]})
    assert settings.replica_roots() == ()
    assert azure(replica_urls=[B], replica_target_uris=[]).replica_roots() == ()


def test_a_check_pinned_to_one_replica_sends_everything_there():
    settings = azure()
    pinned = settings.with_overrides(**pinned_overrides(settings, "https://west.example.com"))
    assert pinned.replica_roots() == ()
    assert [e.base for e in pinned.endpoints] == ["https://west.example.com/openai/deployments/gpt",
                                                  "https://solo.example.com/openai/deployments/own"]
    openai = ConnectionSettings.from_preset({"base_url": A, "models": ["m"], "replica_urls": [B]})
    assert openai.with_overrides(**pinned_overrides(openai, B)).endpoint_for("m").base == B


def test_the_readme_example_of_three_vllm_replicas_is_a_valid_preset():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("**Example: three vLLM replicas.**", 1)[1]
    preset = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    settings = ConnectionSettings.from_preset(preset)
    assert len(settings.replica_roots()) == 3 and ReplicaPool.for_settings(settings).automatic


def test_when_every_endpoint_moves_with_the_replicas_no_concurrency_is_kept_for_others():
    settings = azure(endpoints=[{"name": "gpt"}, {"name": "embed", "deployment": "emb"}])
    pool = ReplicaPool.for_settings(settings)
    assert not pool.default_used and pool.upper == 2 * settings.concurrency_upper_bound


def test_a_pool_built_from_settings_counts_its_cool_downs_on_the_given_clock():
    clock = Clock()
    settings = ConnectionSettings.from_preset({"base_url": A, "models": ["m"], "replica_urls": [B]})
    pool = ReplicaPool.for_settings(settings, clock=clock)
    a, epoch, probe = pool.choose()
    pool.finish(a, epoch, probe, refused())
    assert pool.choose()[0].root == B
    clock.now += COOL_DOWN_S + 0.01  # the cool-down is over on that clock: the failed replica is probed
    assert pool.choose()[0].root == a.root


@pytest.mark.parametrize("error, problem", [
    (refused(), "refused connection"),
    (APIConnectionError("the connection broke mid-answer"), "broken connection"),
    (APITimeoutError("no answer within the read timeout"), "timeout"),
    (ServerError("HTTP 500", status=500), "HTTP 500"),
])
def test_the_status_and_the_log_say_why_a_replica_is_left_out(error, problem, caplog):
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    a, epoch, probe = pool.choose()
    assert is_replica_failure(error)  # a 500 is the replica's failure as much as a 502
    with caplog.at_level("WARNING", logger="openai_compatible"):
        pool.finish(a, epoch, probe, error)
    assert pool.status() == [("http://a:8000/v1", f"left out ({problem})"), ("http://b:8000/v1", "up")]
    assert [r.getMessage() for r in caplog.records] == [
        f"Replica http://a:8000/v1 is left out for {COOL_DOWN_S:g}s after a {problem}; its requests go to the other "
        "replicas."]
