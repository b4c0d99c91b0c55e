"""Automatic concurrency through the real client against the fault server: each HTTP attempt's outcome reaches the
controller, and the row engine reports the concurrency in use."""

from openai_compatible import Client, ConnectionSettings
from openai_compatible.engine import RowEngine
from openai_compatible.retry import RetryPolicy
from openai_compatible.tasks.prompt import PromptSpec, PromptTask

from tests.servers.fault_server import Fault

HI = [{"role": "user", "content": "hello there"}]


def automatic_client(fs, **changes):
    preset = {"style": "openai", "base_url": fs.url, "models": ["fault-chat"], "auth_scheme": "none",
              "max_retries": 3, "read_timeout_s": 10}
    preset.update(changes)
    settings = ConnectionSettings.from_preset(preset)
    return Client(settings, retry=RetryPolicy(max_retries=settings.max_retries, initial_delay_s=0.01,
                                              max_delay_s=0.02))


def test_new_presets_are_automatic_and_a_number_fixes_the_limit(fault_server):
    with automatic_client(fault_server) as client:
        assert client.settings.max_concurrency == 0 and client.concurrency.automatic
        assert client.concurrency.upper == 256
    with automatic_client(fault_server, concurrency_upper_bound=12) as client:
        assert client.concurrency.upper == 12
    with automatic_client(fault_server, max_concurrency=5) as client:
        assert not client.concurrency.automatic and client.concurrency.limit == 5


def test_a_429_without_hint_lowers_the_limit_and_one_with_a_hint_only_waits(fault_server):
    with automatic_client(fault_server) as client:
        start = client.concurrency.limit
        fault_server.script(Fault.rate_limit())
        assert client.chat(HI, model="fault-chat").text
        control = client.concurrency.controller
        assert control.refusals == 1 and client.concurrency.limit < start
        lowered = client.concurrency.limit
        fault_server.script(Fault.rate_limit(0.05))
        assert client.chat(HI, model="fault-chat").text
        assert control.refusals == 1 and client.concurrency.limit == lowered  # a rate quota, not a capacity
        assert client.concurrency.inflight == 0


def test_errors_that_say_nothing_about_load_leave_the_limit_alone(fault_server):
    with automatic_client(fault_server) as client:
        start = client.concurrency.limit
        fault_server.script(Fault.error(500))
        assert client.chat(HI, model="fault-chat").text
        assert client.concurrency.controller.refusals == 0 and client.concurrency.limit == start


def test_the_engine_summary_shows_the_concurrency_in_use(fault_server):
    with automatic_client(fault_server) as client:
        engine = RowEngine(PromptTask(PromptSpec(model="fault-chat", prompt_template="{{text}}"), ["text"]), client)
        rows = [{"text": f"row {i}"} for i in range(40)]
        outputs = [values for chunk in engine.run([rows]) for values in chunk]
        assert [v["response"] for v in outputs] == [f"echo: row {i}" for i in range(40)]
        assert engine.summary.concurrency.startswith("automatic, ")
        assert "; concurrency automatic, " in engine.summary.describe()
        assert engine.concurrency == 256  # threads; the client's limiter decides how many send at once
