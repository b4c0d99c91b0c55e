"""Several replicas behind one preset, on real servers: two fault servers (or llama.cpp and a fault server), one of
them refusing, failing or killed in the middle of a recipe run. No row is lost, the run finishes on the other
replica, and no row is answered twice."""
from __future__ import annotations

import socket
import threading
from collections import Counter
from pathlib import Path

import pytest
from openai_compatible import Client, run_checks

import localdss
from tests.python.integration.localdss_cli import read_rows, write_rows
from tests.servers.fault_server import Fault, FaultServer

KEY = "sk-replicas-test-key-0001"
HI = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def second_server():
    """A second fault server: the other replica."""
    with FaultServer() as server:
        yield server


def frozen(client: Client) -> Client:
    """Stops the clock the client's replica pool reads: a replica left out stays out for the whole test."""
    now = client.replicas.clock()
    client.replicas.clock = lambda: now
    return client


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def preset_for(first: str, *others: str, **changes) -> dict:
    preset = {"base_url": first, "replica_urls": list(others), "models": ["m"], "api_key": KEY, "max_retries": 3,
              "read_timeout_s": 30}
    preset.update(changes)
    return preset


def answered(*servers) -> Counter:
    """How many times each prompt got an answer, over every server."""
    return Counter(r.json["messages"][-1]["content"] for s in servers for r in s.requests
                   if r.route == "chat" and r.fault == "ok")


# --- the client ------------------------------------------------------------------------------------------------

def test_calls_are_spread_over_the_replicas(fault_server, second_server):
    with Client.from_preset(preset_for(fault_server.url, second_server.url)) as client:
        texts = [client.chat([{"role": "user", "content": f"q{i}"}], "m").text for i in range(6)]
        assert client.concurrency.upper == 2 * 256  # each replica has its own automatic concurrency
    assert texts == [f"echo: q{i}" for i in range(6)]
    # one at a time, both replicas are idle before each call: they take turns
    assert (fault_server.calls_to("chat"), second_server.calls_to("chat")) == (3, 3)


def test_a_replica_refusing_connections_is_left_out_and_the_calls_go_to_the_other(second_server):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    with frozen(Client.from_preset(preset_for(down, second_server.url))) as client:
        first = client.chat(HI, "m")
        later = [client.chat(HI, "m") for _ in range(3)]
        status = dict(client.replicas.status())
    assert first.text == "echo: hello there" and first.attempts == 2  # refused, then the other replica at once
    assert [r.attempts for r in later] == [1, 1, 1]  # the refusing replica is left out for its cool-down
    assert second_server.calls_to("chat") == 4
    assert status[down] == "left out (refused connection)"


def test_a_replica_answering_5xx_is_left_out_then_probed_back_in(fault_server, second_server):
    fault_server.script(Fault.error(500))
    with frozen(Client.from_preset(preset_for(fault_server.url, second_server.url))) as client:
        failed_over = client.chat(HI, "m")
        assert failed_over.attempts == 2 and second_server.calls_to("chat") == 1
        later = client.replicas.clock() + client.replicas.cool_down_s
        client.replicas.clock = lambda: later  # the cool-down is over: the next call is the probe
        probe = client.chat(HI, "m")
        assert probe.attempts == 1 and fault_server.calls_to("chat") == 2  # the probe was answered
        assert [state for _, state in client.replicas.status()] == ["up", "up"]


def test_a_stream_that_breaks_before_its_first_piece_goes_to_the_other_replica(fault_server, second_server):
    fault_server.script("reset")
    with Client.from_preset(preset_for(fault_server.url, second_server.url)) as client:
        stream = client.stream(HI, "m")
        assert "".join(stream) == "echo: hello there"
        assert stream.result.attempts == 2
    assert [r.fault for r in fault_server.requests] == ["reset"] and second_server.calls_to("chat") == 1


def test_azure_style_replica_target_uris(fault_server, second_server):
    preset = {"style": "azure", "target_uri": f"http://127.0.0.1:{closed_port()}",
              "replica_target_uris": [second_server.target_uri], "api_key": KEY, "max_retries": 3,
              "endpoints": [{"name": "gpt", "deployment": "fault-chat"},
                            {"name": "solo", "kind": "openai_v1", "deployment": "fault-chat",
                             "target_uri": fault_server.target_uri}]}
    with Client.from_preset(preset) as client:
        assert client.chat(HI, "gpt").attempts == 2  # the first Target URI refuses: the replica answers
        assert client.chat(HI, "solo").text == "echo: hello there"  # an endpoint with its own Target URI
    assert [r.path for r in second_server.requests] == ["/openai/deployments/fault-chat/chat/completions"]
    assert [r.path for r in fault_server.requests] == ["/v1/chat/completions"]


def test_llama_cpp_serves_while_the_other_replica_is_down(llama_server):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    preset = preset_for(down, llama_server.base_url, models=[llama_server.model], auth_scheme="none")
    with frozen(Client.from_preset(preset)) as client:
        results = [client.chat([{"role": "user", "content": f"Say {w}"}], llama_server.model, max_output_tokens=4)
                   for w in ("yes", "no")]
    assert [r.attempts for r in results] == [2, 1] and all(r.text for r in results)


# --- the official SDK (client.openai()) ------------------------------------------------------------------------

def sdk_chat(sdk, text: str, model: str = "m", **options) -> str:
    answer = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **options)
    return answer.choices[0].message.content


def test_the_sdk_spreads_its_calls_over_the_replicas_and_leaves_a_killed_one_out(second_server):
    pytest.importorskip("openai")
    doomed = FaultServer().start()
    try:
        with frozen(Client.from_preset(preset_for(doomed.url, second_server.url))) as client:
            sdk = client.openai()
            before = [sdk_chat(sdk, f"q{i}") for i in range(4)]
            assert (doomed.calls_to("chat"), second_server.calls_to("chat")) == (2, 2)  # taking turns
            doomed.kill()
            after = [sdk_chat(sdk, f"r{i}") for i in range(4)]
            status = dict(client.replicas.status())
            # the pool is the client's own: its calls avoid the killed replica too
            assert client.chat(HI, "m").attempts == 1
    finally:
        doomed.kill()
    assert before == [f"echo: q{i}" for i in range(4)] and after == [f"echo: r{i}" for i in range(4)]
    assert status[doomed.url] == "left out (refused connection)"
    assert second_server.calls_to("chat") == 2 + 4 + 1  # every call after the kill was answered there
    assert all(r.outstanding == 0 for r in client.replicas.replicas)


def test_sdk_calls_in_flight_on_a_killed_replica_are_answered_by_the_other(second_server):
    pytest.importorskip("openai")
    doomed = FaultServer().start()
    gate = doomed.hold(after=2)  # its 3rd request onwards wait for the kill
    answers: dict = {}
    try:
        with Client.from_preset(preset_for(doomed.url, second_server.url)) as client:
            sdk = client.openai()

            def ask(i: int) -> None:
                answers[i] = sdk_chat(sdk, f"t{i}")

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            reached = gate.wait(60)
            doomed.kill()  # the held requests get their connection reset
            for thread in threads:
                thread.join(120)
    finally:
        doomed.kill()
    assert reached and doomed.injected["killed"] >= 1
    assert answers == {i: f"echo: t{i}" for i in range(8)}
    counts = answered(doomed, second_server)
    assert set(counts.values()) == {1}  # none answered twice


def test_an_sdk_stream_counts_on_its_replica_until_closed_and_a_5xx_moves_the_call(fault_server, second_server):
    pytest.importorskip("openai")
    with frozen(Client.from_preset(preset_for(fault_server.url, second_server.url))) as client:
        sdk = client.openai()
        stream = sdk.chat.completions.create(model="m", messages=HI, stream=True)
        first = next(iter(stream))
        assert sum(r.outstanding for r in client.replicas.replicas) == 1  # the stream is still open
        text = (first.choices[0].delta.content or "") + "".join(c.choices[0].delta.content or "" for c in stream
                                                                if c.choices)
        assert text == "echo: hello there"
        assert sum(r.outstanding for r in client.replicas.replicas) == 0
        busy = fault_server if fault_server.calls_to("chat") == 0 else second_server  # the next call's replica
        busy.script(Fault.error(503))
        assert sdk_chat(sdk, "after a 503") == "echo: after a 503"
        status = dict(client.replicas.status())
    assert status[busy.url] == "left out (HTTP 503)"


def test_the_azure_sdk_client_uses_the_replica_target_uris(second_server):
    pytest.importorskip("openai")
    down = f"http://127.0.0.1:{closed_port()}"
    preset = {"style": "azure", "target_uri": down, "replica_target_uris": [second_server.target_uri],
              "api_key": KEY, "max_retries": 3, "endpoints": [{"name": "gpt", "deployment": "fault-chat"}]}
    with frozen(Client.from_preset(preset)) as client:
        sdk = client.openai("gpt")  # openai.AzureOpenAI
        assert [sdk_chat(sdk, f"a{i}", "gpt") for i in range(2)] == ["echo: a0", "echo: a1"]
        status = dict(client.replicas.status())
    assert status[down] == "left out (refused connection)"
    assert [r.path for r in second_server.requests] == ["/openai/deployments/fault-chat/chat/completions"] * 2
    assert all(r.query.get("api-version") for r in second_server.requests)


def test_an_sdk_http_client_of_ones_own_is_warned_about(fault_server, second_server, caplog):
    pytest.importorskip("openai")
    import httpx

    with Client.from_preset(preset_for(fault_server.url, second_server.url)) as client, \
            httpx.Client() as own:
        sdk = client.openai(http_client=own)
        for i in range(2):
            sdk_chat(sdk, f"o{i}")
    assert (fault_server.calls_to("chat"), second_server.calls_to("chat")) == (2, 0)
    assert "its requests go to" in caplog.text and "2 replicas" in caplog.text


def test_llama_cpp_answers_the_sdk_after_its_fellow_replica_is_killed(llama_server):
    pytest.importorskip("openai")
    doomed = FaultServer(models=[llama_server.model]).start()
    preset = preset_for(doomed.url, llama_server.base_url, models=[llama_server.model], auth_scheme="none")
    try:
        with Client.from_preset(preset) as client:
            sdk = client.openai()
            before = [sdk_chat(sdk, f"Say {w}", llama_server.model, max_tokens=4) for w in ("one", "two")]
            doomed.kill()
            after = [sdk_chat(sdk, f"Say {w}", llama_server.model, max_tokens=4) for w in ("three", "four", "five")]
    finally:
        doomed.kill()
    assert sum(1 for text in before if text.startswith("echo: ")) == 1  # one went to each replica
    assert all(text and not text.startswith("echo: ") for text in after)  # llama.cpp answered every later one


# --- the connection test -------------------------------------------------------------------------------------

def test_the_connection_test_says_which_replica_is_down(fault_server):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    with Client.from_preset(preset_for(fault_server.url, down, models=["fault-chat"])) as client:
        results = {r.name: r for r in run_checks(client)}
    first, second = results["replicas:1"], results["replicas:2"]
    assert first.status == "ok" and fault_server.url in first.label
    assert second.status == "fail" and down in second.label
    assert f"Replica {down} is down" in second.meaning and "connection refused" in second.meaning
    assert "'replica_urls' line 1" in second.setting
    assert results["chat:fault-chat"].status == "ok"  # the calls themselves go to the replica that is up
    names = [name for name in results]
    assert names.index("replicas:1") < names.index("chat:fault-chat")


# --- a recipe run ----------------------------------------------------------------------------------------------

def start_recipe(tmp_path: Path, preset: dict, rows: list[dict], config: dict) -> tuple[threading.Thread, dict]:
    """Runs the prompt recipe through localdss in a thread; the dict gets the finished process."""
    source = write_rows(tmp_path / "in.csv", rows)
    done: dict = {}

    def run() -> None:
        done["process"] = localdss.run_recipe(
            "openai-compatible-prompt", config=dict({"model": preset["models"][0]}, **config),
            presets={"connection": preset}, inputs={"input": str(source)},
            outputs={"output": str(tmp_path / "out.csv")}, timeout=300)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_a_replica_killed_mid_run_loses_no_row_and_pays_none_twice(tmp_path, second_server):
    doomed = FaultServer().start()
    rows = [{"id": str(i), "text": f"row {i}"} for i in range(150)]
    gate = doomed.hold(after=20)  # its 21st request onwards wait for the kill: the run cannot end before it
    try:
        thread, done = start_recipe(tmp_path, preset_for(doomed.url, second_server.url, max_concurrency=4),
                                    rows, {"prompt_template": "{{text}}"})
        reached = gate.wait(120)
        doomed.kill()  # the held requests get their connection reset, new ones are refused
    finally:
        doomed.kill()
    thread.join(300)
    assert reached, "the run never sent the doomed replica its 21st request"
    process = done["process"]
    assert process.returncode == 0, process.stderr
    result = read_rows(tmp_path / "out.csv")
    assert [r["id"] for r in result] == [r["id"] for r in rows]  # no row lost, in order
    assert all(r["llm_response"] == f"echo: row {r['id']}" and not r["llm_error_type"] for r in result)
    # rows were in flight on the replica when it died (held ones, and any it had just taken)
    assert doomed.injected["killed"] >= gate.held >= 1
    counts = answered(doomed, second_server)
    assert set(counts) == {r["text"] for r in rows} and set(counts.values()) == {1}  # none answered twice
    assert sum(1 for r in doomed.requests if r.fault == "ok") <= 20  # the run finished on the other replica


def test_a_recipe_whose_first_replica_is_down_from_the_start_runs_on_the_other(tmp_path, fault_server):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    rows = [{"text": f"t{i}"} for i in range(40)]  # more than the 10 failed requests that stop a job
    thread, done = start_recipe(tmp_path, preset_for(down, fault_server.url, max_concurrency=2), rows,
                                {"prompt_template": "{{text}}"})
    thread.join(300)
    process = done["process"]
    assert process.returncode == 0, process.stderr
    assert [r["llm_response"] for r in read_rows(tmp_path / "out.csv")] == [f"echo: t{i}" for i in range(40)]
    assert set(answered(fault_server).values()) == {1} and fault_server.calls_to("chat") == 40


def test_llama_cpp_finishes_a_recipe_after_its_fellow_replica_is_killed(tmp_path, llama_server):
    doomed = FaultServer(models=[llama_server.model]).start()
    rows = [{"text": f"Say the number {i}"} for i in range(16)]
    gate = doomed.hold(after=4)
    preset = preset_for(doomed.url, llama_server.base_url, models=[llama_server.model], auth_scheme="none",
                        max_concurrency=2)
    try:
        thread, done = start_recipe(tmp_path, preset, rows, {"prompt_template": "{{text}}", "max_output_tokens": 4})
        reached = gate.wait(120)
        doomed.kill()
    finally:
        doomed.kill()
    thread.join(300)
    assert reached
    process = done["process"]
    assert process.returncode == 0, process.stderr
    result = read_rows(tmp_path / "out.csv")
    assert len(result) == 16 and all(r["llm_response"] and not r["llm_error_type"] for r in result)
    echoed = [r for r in result if r["llm_response"].startswith("echo: ")]
    assert len(echoed) <= 4 and doomed.injected["killed"] >= gate.held >= 1  # the rest came from llama.cpp
