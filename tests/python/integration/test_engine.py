"""The row engine against the fault server: order, one output per row, dedup, errors, fail mode."""
from __future__ import annotations

import pytest
from openai_compatible import Client
from openai_compatible.engine import RowEngine, RowFailedError
from openai_compatible.store import AnswerStore
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

from tests.servers.fault_server import Fault, when_text


def make(fault_server, template="{{text}}", **preset):
    client = Client.from_preset(dict({"base_url": fault_server.url, "models": ["m"], "max_retries": 2}, **preset))
    return client, PromptTask(PromptSpec(model="m", prompt_template=template), ["text"])


def chunks(rows, size):
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def run_all(engine, rows, size=10):
    out = []
    sizes = []
    for chunk in engine.run(chunks(rows, size)):
        sizes.append(len(chunk))
        out.extend(chunk)
    return out, sizes


def test_order_and_count_survive_slow_rows(fault_server):
    fault_server.add_rule(Fault.slow(0.3), when_text("slow"))
    rows = [{"text": f"{'slow' if i % 9 == 0 else 'fast'} {i}"} for i in range(95)]
    client, task = make(fault_server)
    engine = RowEngine(task, client, concurrency=8)
    out, sizes = run_all(engine, rows, size=10)
    assert sizes == [10] * 9 + [5]
    assert [o["response"] for o in out] == [f"echo: {r['text']}" for r in rows]
    assert engine.summary.answered == 95 and engine.summary.failed == 0


def test_duplicates_across_chunks_are_sent_once(fault_server):
    rows = [{"text": f"t{i % 5}"} for i in range(60)]
    client, task = make(fault_server)
    engine = RowEngine(task, client, concurrency=4)
    out, _ = run_all(engine, rows, size=7)
    assert fault_server.calls == 5
    assert engine.summary.deduplicated == 55 and engine.summary.from_cache == 0
    assert [o["response"] for o in out] == [f"echo: {r['text']}" for r in rows]
    assert sum(o["latency_ms"] == 0.0 for o in out) == 55  # shared answers cost no time


def test_a_store_answers_a_second_run_without_requests(fault_server, tmp_path):
    rows = [{"text": f"t{i}"} for i in range(20)]
    client, task = make(fault_server)
    store = AnswerStore(str(tmp_path / "a.sqlite"))
    run_all(RowEngine(task, client, store=store), rows)
    store.close()
    store = AnswerStore(str(tmp_path / "a.sqlite"))
    engine = RowEngine(task, client, store=store)
    out, _ = run_all(engine, rows)
    store.close()
    assert fault_server.calls == 20
    assert engine.summary.from_cache == 20 and engine.summary.http_calls == 0
    assert out[3]["response"] == "echo: t3"


def test_errors_are_rows_not_failures(fault_server):
    fault_server.add_rule(Fault.error(500), when_text("down"))
    fault_server.add_rule(Fault.context_length(), when_text("long"))
    rows = [{"text": "ok"}, {"text": "down"}, {"text": None}, {"text": "long"}, {"text": "ok 2"}]
    client, task = make(fault_server)
    engine = RowEngine(task, client, concurrency=2)
    out, _ = run_all(engine, rows, size=2)
    assert [o.get("error_type") for o in out] == [None, "server_error", "input", "context_length", None]
    assert "HTTP 500" in out[1]["error_message"]
    assert dict(engine.summary.errors) == {"server_error": 1, "input": 1, "context_length": 1}
    assert fault_server.calls == 1 + 3 + 1 + 1  # the 500 is retried twice, the rest once each


def test_fail_mode_raises_on_the_first_row_error(fault_server):
    fault_server.add_rule(Fault.error(400), when_text("bad"))
    rows = [{"text": "ok"}] * 3 + [{"text": "bad"}] + [{"text": f"ok {i}"} for i in range(20)]
    client, task = make(fault_server)
    engine = RowEngine(task, client, on_error="fail")
    with pytest.raises(RowFailedError, match=r"Row 4 failed \(bad_request\)"):
        run_all(engine, rows, size=5)


def test_raise_mode_raises_the_rows_own_error(fault_server):
    from openai_compatible import ContextLengthError

    fault_server.add_rule(Fault.context_length(), when_text("long"))
    rows = [{"text": "ok"}, {"text": "long"}, {"text": "ok 2"}]
    client, task = make(fault_server)
    with pytest.raises(ContextLengthError):
        run_all(RowEngine(task, client, on_error="raise"), rows, size=3)
    with pytest.raises(ValueError, match="record, fail, raise"):
        RowEngine(task, client, on_error="ignore")


def test_without_lookahead_a_chunk_is_released_before_the_next_is_read(fault_server):
    client, task = make(fault_server)
    events = []

    def chunks_read():
        for index in range(3):
            events.append(f"read {index}")
            yield [{"text": f"t{index}-{i}"} for i in range(4)]

    for index, outputs in enumerate(RowEngine(task, client, lookahead_chunks=0).run(chunks_read())):
        events.append(f"released {index}")
        assert [o["response"] for o in outputs] == [f"echo: t{index}-{i}" for i in range(4)]
    assert events == ["read 0", "released 0", "read 1", "released 1", "read 2", "released 2"]
    events.clear()
    for index, _ in enumerate(RowEngine(task, client, lookahead_chunks=1).run(chunks_read())):
        events.append(f"released {index}")
    assert events[:2] == ["read 0", "read 1"]  # the default reads ahead


def test_a_bug_in_a_task_costs_its_rows_only(fault_server):
    client, task = make(fault_server)

    class Broken(PromptTask):
        def call(self, client, payload):
            if "boom" in payload[-1]["content"]:
                raise KeyError("unexpected")
            return super().call(client, payload)

    broken = Broken(task.spec, ["text"])
    engine = RowEngine(broken, client)
    out, _ = run_all(engine, [{"text": "a"}, {"text": "boom"}, {"text": "c"}])
    assert [o.get("error_type") for o in out] == [None, "KeyError", None]


@pytest.mark.parametrize("json_mode, schema_in_prompt", [("auto", False), ("json_schema", False),
                                                         ("json_object", True), ("none", True)])
def test_the_schema_is_in_the_prompt_only_when_the_provider_wont_enforce_it(fault_server, json_mode,
                                                                             schema_in_prompt):
    schema = '{"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["pos", "neg"]}}}'
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"], "json_mode": json_mode})
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", system_prompt="Be brief.",
                                 output_format="json_schema", json_schema=schema), ["text"])
    out, _ = run_all(RowEngine(task, client), [{"text": "great"}])
    sent = fault_server.requests[0].json
    system = sent["messages"][0]["content"]
    assert system.startswith("Be brief.")
    assert ('"enum": ["pos", "neg"]' in system) is schema_in_prompt
    assert sent.get("response_format", {}).get("type") == {"auto": "json_schema", "json_schema": "json_schema",
                                                           "json_object": "json_object", "none": None}[json_mode]
    if not schema_in_prompt:  # the fault server follows a schema it is given
        assert out[0]["field:sentiment"] == "pos" and out[0].get("error_type") is None


def test_an_answer_the_task_cannot_read_costs_its_row_only(fault_server):
    client, task = make(fault_server)

    class Picky(PromptTask):
        def row_values(self, answer):
            if "bad" in answer["text"]:
                raise ValueError("cannot read this answer")
            return super().row_values(answer)

    engine = RowEngine(Picky(task.spec, ["text"]), client)
    out, _ = run_all(engine, [{"text": "a"}, {"text": "bad"}, {"text": "c"}])
    assert [o.get("error_type") for o in out] == [None, "ValueError", None]
    assert out[1]["error_message"] == "cannot read this answer"
    assert engine.summary.answered == 2


def test_an_oversized_answer_is_not_downloaded_again(fault_server):
    from openai_compatible import InvalidResponseError
    from openai_compatible.http import send as client_module

    fault_server.always(Fault.giant(2.0))
    client, _ = make(fault_server, max_retries=3)
    limit = client_module.MAX_RESPONSE_BYTES
    client_module.MAX_RESPONSE_BYTES = 1024 * 1024
    try:
        with pytest.raises(InvalidResponseError, match="larger than 1 MB"):
            client.chat([{"role": "user", "content": "hi"}], model="m")
    finally:
        client_module.MAX_RESPONSE_BYTES = limit
    assert fault_server.calls == 1


@pytest.mark.parametrize("limit", [10, 3])
def test_job_stops_after_exactly_its_first_n_provider_wide_failures(fault_server, limit):
    """The promise in the README and CHANGELOG is a number: the Nth failed request stops the job, not the N+1th."""
    from openai_compatible.engine import ProviderUnavailableError

    fault_server.require_auth("the-right-key")  # every request: 401, not retried
    client, task = make(fault_server, api_key="a-wrong-key", max_retries=0)
    engine = RowEngine(task, client, concurrency=1, stop_after_failed_requests=limit)
    with pytest.raises(ProviderUnavailableError, match=f"first {limit} requests"):
        run_all(engine, [{"text": f"row {i}"} for i in range(40)], size=5)
    assert fault_server.calls == limit


def test_a_run_that_was_answered_once_never_stops_on_later_failures(fault_server):
    fault_server.add_rule(Fault.error(500), when_text("down"))
    rows = [{"text": "fine"}] + [{"text": f"down {i}"} for i in range(15)]
    client, task = make(fault_server, max_retries=0)
    out, _ = run_all(RowEngine(task, client, concurrency=1, stop_after_failed_requests=10), rows, size=4)
    assert len(out) == len(rows)
    assert [r.get("error_type") is None for r in out].count(True) == 1
    assert fault_server.calls == len(rows)


def test_rows_differing_only_outside_the_template_share_one_request(fault_server):
    """The key is the rendered request, not the row: columns the template does not use change nothing."""
    rows = [{"id": str(i), "text": f"t{i % 3}", "noise": f"n{i}"} for i in range(12)]
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"]})
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["id", "text", "noise"])
    engine = RowEngine(task, client, concurrency=2)
    out, _ = run_all(engine, rows, size=5)
    assert fault_server.calls == 3 and engine.summary.deduplicated == 9
    assert [o["response"] for o in out] == [f"echo: {r['text']}" for r in rows]


@pytest.mark.parametrize("change", [{"system_prompt": "Answer in French."}, {"model": "m2"},
                                    {"temperature": 0.5}, {"prompt_template": "Q: {{text}}"}])
def test_a_changed_request_misses_the_cache(fault_server, tmp_path, change):
    rows = [{"text": f"t{i}", "other": "same"} for i in range(4)]
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m", "m2"]})
    base = {"model": "m", "prompt_template": "{{text}}"}
    path = str(tmp_path / "cache.sqlite")
    for spec, expected_calls in ((base, 4), (base, 4), (dict(base, **change), 8)):
        store = AnswerStore(path)
        try:
            run_all(RowEngine(PromptTask(PromptSpec(**spec), ["text", "other"]), client, store=store), rows)
        finally:
            store.close()
        assert fault_server.calls == expected_calls, (spec, fault_server.calls)


def test_a_service_that_is_down_stops_the_job_after_few_connection_attempts():
    """No server on the port: each request is tried twice at most, and the job stops after its first 10 requests
    (plus those already in flight), instead of every row paying the full backoff."""
    from openai_compatible.engine import ProviderUnavailableError

    from tools.servers import free_port

    client = Client.from_preset({"base_url": f"http://127.0.0.1:{free_port()}/v1", "models": ["m"],
                                 "max_retries": 5, "connect_timeout_s": 2})
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["text"])
    engine = RowEngine(task, client, concurrency=4)
    with pytest.raises(ProviderUnavailableError, match="connection refused"):
        run_all(engine, [{"text": f"row {i}"} for i in range(200)], size=20)
    assert client.stats.snapshot()["http_calls"] <= 2 * (10 + 4 - 1)


def test_the_summary_counts_the_tokens_the_provider_reported(fault_server):
    """Tokens of answers that became row errors are paid too; answers shared by duplicates are not paid twice."""
    client = Client.from_preset({"base_url": fault_server.url, "models": ["m"]})
    task = PromptTask(PromptSpec(model="m", prompt_template="{{text}}", output_format="json_object"), ["text"])
    fault_server.add_rule(Fault.error(200, {"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "not json"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}, label="bad"), when_text("bad"))
    engine = RowEngine(task, client, concurrency=1)
    out, _ = run_all(engine, [{"text": "bad"}, {"text": "ok"}, {"text": "ok"}])
    assert [o.get("error_type") for o in out] == ["invalid_output", None, None]
    good = [r.json for r in fault_server.requests if "ok" in r.json["messages"][-1]["content"]]
    assert len(good) == 1  # the duplicate shared the answer
    assert engine.summary.prompt_tokens == 7 + out[1]["prompt_tokens"] > 7
    assert engine.summary.completion_tokens == 3 + out[1]["completion_tokens"]


def test_an_embed_run_counts_the_batches_tokens(fault_server):
    from openai_compatible.tasks.embed import EmbedSpec, EmbedTask

    client = Client.from_preset({"base_url": fault_server.url, "models": ["e"]})
    engine = RowEngine(EmbedTask(EmbedSpec(model="e", text_column="text", batch_size=4), ["text"]), client)
    out, _ = run_all(engine, [{"text": f"text number {i}"} for i in range(10)])
    assert len(out) == 10 and all(o.get("error_type") is None for o in out)
    assert fault_server.calls == 3  # batches of 4, 4 and 2
    # the fault server reports one token per word of each input: 3 words x 10 texts
    assert (engine.summary.prompt_tokens, engine.summary.completion_tokens) == (30, 0), engine.summary.describe()


def test_an_interrupted_run_sends_none_of_the_rows_still_waiting_for_a_slot(fault_server):
    # Ctrl-C in a notebook: 100 rows in workers, 2 slots, each answer 0.2 s. The rows waiting for a slot (or a retry)
    # when the run is interrupted must never be sent: a paid API would bill answers nobody collects
    import _thread
    import threading
    import time

    fault_server.add_rule(Fault.slow(0.2))
    client, task = make(fault_server, max_concurrency=2)
    engine = RowEngine(task, client, concurrency=100)
    timer = threading.Timer(1.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_all(engine, [{"text": f"t{i}"} for i in range(100)], size=100)
    at_interrupt = fault_server.calls
    time.sleep(1.5)  # the answers in flight come back; without the stop, another 15 rows would be sent by now
    assert 2 <= at_interrupt <= 20, at_interrupt
    assert fault_server.calls - at_interrupt <= 2
