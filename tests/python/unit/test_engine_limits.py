"""The row engine's defaults that a job depends on: when it gives up on a provider, and its progress lines."""
from __future__ import annotations

import pytest
from openai_compatible import Client
from openai_compatible.engine import ProviderUnavailableError, RowEngine, RowFailedError
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

from tests.servers.fault_server import Fault, FaultServer, oai_error


def prompt_task() -> PromptTask:
    return PromptTask(PromptSpec(model="m", prompt_template="{{text}}"), ["text"])


def test_the_job_stops_after_its_first_ten_provider_wide_failures(fault_server):
    fault_server.always(Fault.error(401))  # a rejected key: every row would fail the same way
    rows = [{"text": f"row {i}"} for i in range(30)]
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        with pytest.raises(ProviderUnavailableError):
            list(RowEngine(prompt_task(), client, concurrency=1).run([rows]))
    assert fault_server.calls == 10


def test_progress_lines_say_rows_done_of_the_total(fault_server, caplog):
    rows = [{"text": f"row {i}"} for i in range(4)]
    with caplog.at_level("INFO", logger="openai_compatible"):
        with Client.from_preset({"base_url": fault_server.url, "models": ["m"]}) as client:
            engine = RowEngine(prompt_task(), client, concurrency=1, total_rows=8, progress_every_s=0)
            list(engine.run([rows[:2], rows[2:]]))
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress: ")]
    assert progress and progress[-1].startswith("Progress: 4/8 rows (50%), ETA ")


@pytest.mark.parametrize("bound", [None, 1000])
def test_progress_lines_show_the_total_once_the_input_is_read_without_being_told(fault_server, caplog, bound):
    """Input read to its end (within the chunks read ahead) gives the exact total without an extra pass; a row
    limit above the input's rows gives way to it."""
    rows = [{"text": f"row {i}"} for i in range(4)]
    with caplog.at_level("INFO", logger="openai_compatible"):
        with Client.from_preset({"base_url": fault_server.url, "models": ["m"]}) as client:
            engine = RowEngine(prompt_task(), client, concurrency=1, max_rows=bound, progress_every_s=0)
            list(engine.run([rows[:2], rows[2:]]))
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress: ")]
    assert progress and progress[-1].startswith("Progress: 4/4 rows (100%), ETA 0s, ")


def test_row_errors_never_stop_the_job_however_many():
    """Only provider-wide failures (key, connection, model...) count toward the stop: 15 rows each refused for
    a reason of their own (too long for the context) all get their error row, and every request is sent."""

    with FaultServer() as server:
        server.always(Fault.error(400, oai_error("This model's maximum context length is 8 tokens", code=
                                                 "context_length_exceeded")))
        rows = [{"text": f"row {i}"} for i in range(15)]
        with Client.from_preset({"base_url": server.url, "models": ["m"], "max_retries": 0}) as client:
            out = [row for chunk in RowEngine(prompt_task(), client, concurrency=1).run([rows]) for row in chunk]
        assert server.calls == 15
    assert len(out) == 15 and all(row["error_type"] == "context_length" for row in out)


def test_a_job_that_fails_on_a_row_error_says_which_row_and_why(fault_server):
    fault_server.always(Fault.error(400, oai_error("the prompt mentions a forbidden word", code="bad_word")))
    rows = [{"text": "first"}]
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        with pytest.raises(RowFailedError) as raised:
            list(RowEngine(prompt_task(), client, concurrency=1, on_error="fail").run([rows]))
    message = str(raised.value)
    assert message.startswith("Row 1 failed (") and "the prompt mentions a forbidden word" in message


def test_the_row_workers_threads_are_named_for_thread_dumps(fault_server):
    # a stack dump of a stuck job (py-spy, faulthandler) or a log format with %(threadName)s tells them apart
    import threading

    names = []

    class Recording(PromptTask):
        def call(self, client, payload):
            names.append(threading.current_thread().name)
            return super().call(client, payload)

    task = Recording(PromptSpec(model="fault-chat", prompt_template="{{text}}"), ["text"])
    with Client.from_preset({"base_url": fault_server.url, "models": ["fault-chat"]}) as client:
        list(RowEngine(task, client, concurrency=2).run([[{"text": "a"}, {"text": "b"}, {"text": "c"}]]))
    assert len(names) == 3 and all(name.startswith("oc-row_") for name in names), names


def test_a_task_error_without_a_kind_costs_its_rows_only(fault_server):
    """A batch whose every answer is an error the task made itself (no ``kind``: not the client's) gives each
    row that error, and counts nothing toward the provider-wide stop: its requests never reached the provider."""

    class Refusing(PromptTask):
        batch_size = 2

        def call_batch(self, client, payloads):
            return [RuntimeError(f"cannot read {p!r}") for p in payloads]

    task = Refusing(PromptSpec(model="m", prompt_template="{{text}}"), ["text"])
    rows = [{"text": f"row {i}"} for i in range(24)]
    with Client.from_preset({"base_url": fault_server.url, "models": ["m"], "max_retries": 0}) as client:
        out = [row for chunk in RowEngine(task, client, concurrency=1).run([rows]) for row in chunk]
    assert [(row["error_type"], row["error_message"]) for row in out] == [
        ("RuntimeError", f"cannot read {task.request(row)[1]!r}") for row in rows]
