"""Provider corpus cases replayed through the prompt recipe (localdss), not only the client: one or two cases
of each kind of issue 10, each asserting the output row a user gets for each input row (the answer or the
typed columns, or the error type), and how many requests were sent."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

import localdss
from tests.providers.case import Case
from tests.providers.profiles import all_cases
from tests.providers.profiles.groq import SENTIMENT_SCHEMA
from tests.providers.replay import ReplayServer

ROWS = [{"id": "1", "text": "The service was awful."}, {"id": "2", "text": "The food was cold."}]
CASES = {case.name: case for case in all_cases()}


@dataclass(frozen=True)
class RowOutcome:
    """What each output row must hold: ``response`` (the answer column), ``columns`` (other output columns),
    or ``error`` (the error type) with ``mentions`` in its message; ``calls`` is the total for both rows."""

    response: Optional[str] = None
    columns: Dict[str, str] = field(default_factory=dict)
    error: str = ""
    mentions: tuple = ()
    calls: Optional[int] = None
    config: Dict[str, Any] = field(default_factory=dict)


# case name -> what each of the two rows becomes; cases served in the OpenAI style whatever their profile's
# style (only the provider's answers matter here), one row at a time, with one retry allowed
EXPECTED = {
    # §2.3 an error in a 200: one call per row, no retry, the base_url named
    "lmstudio-no-such-route-string-error": RowOutcome(error="invalid_response", mentions=("base_url", "/v1"),
                                                      calls=2),
    "ollama-web-ui-login-page": RowOutcome(error="invalid_response", mentions=("base_url",), calls=2),
    # §2.4 finish reasons: a synonym of stop is an answer; error and content_filter are row errors, never the answer
    "together-finish-reason-eos": RowOutcome(response="Paris is the capital of France.", columns={
        "llm_finish_reason": "stop"}, calls=2),
    "openrouter-finish-reason-error": RowOutcome(error="server_error", mentions=("finish_reason",), calls=4),
    "azure-output-filtered-finish-reason": RowOutcome(error="content_filter", calls=2),
    # §2.5 content shapes: parts joined, a refusal is a content-filter error
    "mistral-message-text-and-reference-parts": RowOutcome(response=None, calls=2),
    "azure-structured-output-refusal": RowOutcome(error="content_filter", mentions=("can't assist",), calls=2),
    # error statuses: 402 is an exhausted quota; context length worded by the provider
    "deepseek-402-insufficient-balance": RowOutcome(error="quota_exhausted", calls=2),
    "deepseek-context-length": RowOutcome(error="context_length", calls=2),
    # §2.8 json_schema refused: re-sent as json_object with the schema in the prompt; the typed column is filled
    "groq-json-schema-refused": RowOutcome(columns={"llm_sentiment": "negative"}, calls=3, config={
        "output_format": "json_schema", "json_schema": json.dumps(SENTIMENT_SCHEMA["json_schema"]["schema"])}),
    # §2.9 a value refused: the stop list cut to four, the field kept
    "azure-stop-array-too-long": RowOutcome(response="Fine.", calls=3, config={"stop": ["A:", "B:", "C:", "D:", "E:"]}),
}


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


def run_prompt(tmp_path: Path, server: ReplayServer, case: Case, config: dict) -> tuple:
    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    out = tmp_path / "out.csv"
    preset = {"base_url": server.url + case.preset.get("base_url_suffix", "/v1"), "models": ["corpus-model"],
              "api_key": "sk-corpus-recipe-0001", "max_concurrency": 1, "max_retries": 1}
    done = localdss.run_recipe("openai-compatible-prompt",
                               config=dict({"model": "corpus-model", "prompt_template": "Sentiment of: {{text}}"},
                                           **config),
                               presets={"connection": preset}, inputs={"input": str(source)},
                               outputs={"output": str(out)}, timeout=300)
    with open(out, newline="") as f:
        return done, list(csv.DictReader(f))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_through_the_prompt_recipe(tmp_path, replay, name):
    case, outcome = CASES[name], EXPECTED[name]
    replay.serve(case.replies)
    done, rows = run_prompt(tmp_path, replay, case, outcome.config)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS]  # one output row per input row, in order
    for row in rows:
        assert row["llm_error_type"] == outcome.error, row
        message = row["llm_error_message"].lower()
        for word in outcome.mentions:
            assert word.lower() in message, row
        if outcome.error:
            # an error row never carries a partial or withheld text as its answer
            assert row["llm_response"] == "", row
        elif outcome.response is not None:
            assert row["llm_response"] == outcome.response
        else:
            assert row["llm_response"] == case.expect.text
        for column, value in outcome.columns.items():
            assert row[column] == value, row
    if outcome.calls is not None:
        assert len(replay.requests) == outcome.calls
    assert "sk-corpus-recipe-0001" not in done.stderr


def test_the_downgraded_request_carries_the_schema(tmp_path, replay):
    """The re-sent request of the JSON-schema case asks for json_object and holds the schema's values."""
    case = CASES["groq-json-schema-refused"]
    replay.serve(case.replies)
    done, _ = run_prompt(tmp_path, replay, case, EXPECTED[case.name].config)
    assert done.returncode == 0, done.stderr
    first, *later = [r.body for r in replay.requests]
    assert first["response_format"]["type"] == "json_schema"
    for body in later:
        assert body["response_format"] == {"type": "json_object"}
        assert "positive" in json.dumps(body["messages"]) and "json" in json.dumps(body["messages"]).lower()
