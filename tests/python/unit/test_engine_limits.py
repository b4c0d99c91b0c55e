"""The row engine's defaults that a job depends on: when it gives up on a provider, and its progress lines."""
from __future__ import annotations

import pytest
from openai_compatible import Client
from openai_compatible.engine import ProviderUnavailableError, RowEngine
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

from tests.servers.fault_server import Fault


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
