"""Prices per model in the preset, and the estimated cost of calls and runs."""
from __future__ import annotations

import pytest
from openai_compatible.errors import SettingsError
from openai_compatible.pricing import ModelPrice, estimated_cost, read_prices
from openai_compatible.progress import RunSummary
from openai_compatible.results import Usage
from openai_compatible.settings import ConnectionSettings

BASE = {"base_url": "http://127.0.0.1:1/v1", "models": ["m", "e"]}


def test_prices_are_read_from_the_preset():
    settings = ConnectionSettings.from_preset(dict(BASE, prices=[
        {"model": "m", "input_per_million": 2.5, "output_per_million": 10},
        {"model": "e", "input_per_million": "0.02"}]))
    assert settings.prices == (ModelPrice("m", 2.5, 10.0), ModelPrice("e", 0.02, 0.0))
    assert ConnectionSettings.from_preset(BASE).prices == ()
    assert ConnectionSettings.from_preset(dict(BASE, prices=None)).prices == ()


def test_cost_is_tokens_times_price_per_million():
    prices = read_prices([{"model": "m", "input_per_million": 2.5, "output_per_million": 10}])
    assert estimated_cost(prices, "m", Usage(1000, 200)) == pytest.approx(0.0025 + 0.002)
    assert estimated_cost(prices, "m", Usage(1000, None)) == pytest.approx(0.0025)
    assert estimated_cost(prices, "other", Usage(1000, 200)) is None  # no price: no cost, never a guess
    assert estimated_cost(prices, "m", Usage()) is None  # no token counts: no cost


@pytest.mark.parametrize("raw, field", [
    ([{"input_per_million": 1}], "prices[1].model"),
    ([{"model": "m", "input_per_million": -1}], "prices[1].input_per_million"),
    ([{"model": "m", "output_per_million": "cheap"}], "prices[1].output_per_million"),
    ([{"model": "m"}, {"model": "m"}], "prices[2].model"),
    ([{"model": "m", "input_per_million": float("nan")}], "prices[1].input_per_million"),
    ("m=1", "prices"),
])
def test_bad_prices_name_the_field(raw, field):
    with pytest.raises(SettingsError, match=rf"'{field}'".replace("[", r"\[").replace("]", r"\]")):
        ConnectionSettings.from_preset(dict(BASE, prices=raw))


def test_run_summary_totals_the_cost_only_when_priced():
    summary = RunSummary(rows=2, answered=2)
    summary.add_cost(None)
    assert summary.cost is None and "cost" not in summary.describe()
    summary.add_cost(0.25)
    summary.add_cost(0.5)
    assert summary.cost == pytest.approx(0.75)
    assert "estimated cost: 0.75" in summary.describe() and summary.as_dict()["cost"] == pytest.approx(0.75)


@pytest.mark.parametrize("streaming", ["auto", "no"])
def test_each_call_is_priced_by_the_model_asked_for(fault_server, streaming):
    # the fault server counts one token per word: the prompt "one two three" is 3 input tokens, and the
    # embeddings of "alpha beta" and "gamma" are 3 tokens; a model without a price gets no cost, never a guess
    from openai_compatible import Client
    preset = dict(BASE, base_url=fault_server.url, models=["chat-m", "emb-m", "free-m"], max_retries=0,
                  streaming=streaming, prices=[{"model": "chat-m", "input_per_million": 2, "output_per_million": 8},
                                               {"model": "emb-m", "input_per_million": 0.5}])
    messages = [{"role": "user", "content": "one two three"}]
    with Client.from_preset(preset) as client:
        chat = client.chat(messages, "chat-m")
        assert chat.usage.prompt_tokens == 3 and chat.usage.completion_tokens
        assert chat.cost == pytest.approx((3 * 2 + chat.usage.completion_tokens * 8) / 1e6)
        stream = client.stream(messages, "chat-m")
        assert "".join(stream) == chat.text
        assert stream.result.cost == pytest.approx(chat.cost)
        embedded = client.embed_result(["alpha beta", "gamma"], "emb-m")
        assert embedded.usage.prompt_tokens == 3 and embedded.cost == pytest.approx(3 * 0.5 / 1e6)
        assert client.chat(messages, "free-m").cost is None
        assert client.embed_result(["alpha"], "free-m").cost is None


def test_a_runs_cost_counts_each_paid_request_once(fault_server):
    # three rows, two of them the same prompt: the duplicate shares the first one's answer and is not paid twice;
    # the fault server counts one token per word
    from openai_compatible import Client
    from openai_compatible.engine import RowEngine
    from openai_compatible.tasks.prompt import PromptSpec, PromptTask
    preset = dict(BASE, base_url=fault_server.url, models=["chat-m"], max_retries=0,
                  prices=[{"model": "chat-m", "input_per_million": 2, "output_per_million": 8}])
    with Client.from_preset(preset) as client:
        engine = RowEngine(PromptTask(PromptSpec(model="chat-m", prompt_template="{{text}}"), ["text"]), client,
                           concurrency=1)
        rows = list(engine.run([[{"text": "one two"}, {"text": "one two"}, {"text": "three"}]]))[0]
    costs = [(r["prompt_tokens"] * 2 + r["completion_tokens"] * 8) / 1e6 for r in rows]
    assert [r["cost"] for r in rows] == pytest.approx(costs)
    assert engine.summary.deduplicated == 1 and fault_server.calls == 2
    assert engine.summary.cost == pytest.approx(costs[0] + costs[2])
