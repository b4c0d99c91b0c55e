"""The generate task: synthetic rows from a prompt and the JSON schema of one row.

The model is asked, in batches, for a JSON object holding an array of rows. Every row is checked
against the schema: invalid rows and rows already generated are dropped, and calls go on until the
number of rows asked for exists. When call after call brings no new valid row, generation stops with
an error saying what went wrong, rather than spending forever.

From a notebook::

    from openai_compatible import Client
    from openai_compatible.tasks.generate import GenerateSpec, GenerateTask

    spec = GenerateSpec(model="my-model", prompt="Customers of a bike shop", rows=100,
                        row_schema={"type": "object", "properties": {"name": {"type": "string"},
                                                                     "age": {"type": "integer"}}})
    with Client.from_preset(preset) as client:
        rows = list(GenerateTask(spec).rows(client))
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from ..client import Client
from ..columns import OutputColumn
from ..engine import RowEngine
from ..errors import OpenAICompatibleError, OutputValidationError, SettingsError
from ..jsonout import column_value, load_schema, parse_json_text, schema_columns, strict_schema
from ..numeric import whole_number
from ..store import request_key
from .base import Task, ask, chat_answer, cut_off_advice, output_cap, usage_values

log = logging.getLogger("openai_compatible")

MAX_ROWS = 1_000_000
SAMPLE_CHARS = 1500
# Sent when no cap is set: room for a call's rows (rows_per_call of them); 0 sends none.
DEFAULT_MAX_OUTPUT_TOKENS = 2048


class GenerationError(OpenAICompatibleError):
    """Generation stopped before it had enough rows: too many calls brought no new valid row."""

    kind = "generation"


@dataclass
class GenerateSpec:
    """Settings of the generate task.

    ``rows_per_call`` rows are asked for in each call, showing up to 10 rows made already (none in a
    call after a fruitless one); ``max_fruitless_calls`` calls in a row that bring no new valid row stop
    the generation with :class:`GenerationError`.
    """

    model: str
    prompt: str
    row_schema: Any
    rows: int = 100
    rows_per_call: int = 10
    temperature: Optional[float] = 1.0
    max_output_tokens: Optional[int] = None
    max_fruitless_calls: int = 5


class GenerateTask:
    """Generates distinct rows that follow a JSON schema (not a row task: it has no input rows)."""

    def __init__(self, spec: GenerateSpec) -> None:
        if not spec.model:
            raise SettingsError("Parameter 'model' is empty: choose a model of the connection.")
        if not isinstance(spec.prompt, str) or not spec.prompt.strip():
            raise SettingsError("Parameter 'prompt' is empty: describe the rows to generate, e.g. 'customers of a "
                                "bike shop in Lyon, with realistic names and ages'.")
        rows = whole_number(spec.rows, "Parameter 'rows'", 1, MAX_ROWS)
        self.rows_per_call = whole_number(spec.rows_per_call, "Parameter 'rows_per_call'", 1, MAX_ROWS)
        self.max_fruitless_calls = whole_number(spec.max_fruitless_calls, "Parameter 'max_fruitless_calls'", 1)
        self.spec = spec
        self.rows_wanted = rows
        self.schema = load_schema(spec.row_schema, field="row_schema")
        self.columns = schema_columns(self.schema)
        self.calls = 0
        self.dropped_invalid = 0
        self.dropped_duplicates = 0

    def output_columns(self) -> list[OutputColumn]:
        """One column per property of the row schema, named as the property."""
        return [OutputColumn(c.suffix, c.type, c.description) for c in self.columns]

    def read_schema(self) -> dict:
        """The dataset schema, as a connector's ``get_read_schema`` returns it."""
        return {"columns": [{"name": c.name, "type": c.type, "comment": c.description}
                            for c in self.output_columns()]}

    # --- requests -----------------------------------------------------------------------------------

    def request_body(self, count: int, sample: list[dict]) -> tuple[list[dict], dict]:
        """The messages and chat options asking for ``count`` rows (``sample``: rows to avoid repeating)."""
        row_schema = strict_schema(self.schema)
        system = ("You generate realistic, varied synthetic data rows. Answer with a JSON object only: "
                  f'{{"rows": [...]}} holding exactly {count} rows, each a JSON object following this JSON '
                  f"schema: {json.dumps(row_schema, ensure_ascii=False)}. Every row must differ from the others.")
        user = f"{self.spec.prompt.strip()}\n\nGenerate {count} rows."
        if sample:
            shown, size = [], 0
            for row in sample:
                text = json.dumps(row, ensure_ascii=False, sort_keys=True)
                size += len(text)
                if size > SAMPLE_CHARS:
                    break
                shown.append(text)
            if shown:
                user += " These rows exist already; write different ones:\n" + "\n".join(shown)
        wrapper = {"type": "object", "additionalProperties": False, "required": ["rows"], "properties": {
            "rows": {"type": "array", "items": row_schema, "minItems": count, "maxItems": count}}}
        options: dict[str, Any] = {"response_format": {"type": "json_schema", "json_schema": {
            "name": "rows", "schema": wrapper, "strict": True}}}
        if self.spec.temperature is not None:
            options["temperature"] = float(self.spec.temperature)
        cap = output_cap(self.spec.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS)
        if cap:
            options["max_tokens"] = cap
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], options

    # --- answers ------------------------------------------------------------------------------------

    def parse_rows(self, text: str, finish_reason: Optional[str] = None) -> tuple[list[dict], int]:
        """The rows of an answer that follow the schema, and how many rows did not.

        Raises :class:`OutputValidationError` when the answer holds no list of rows at all.
        """
        import jsonschema

        cap = output_cap(self.spec.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS)
        value = parse_json_text(text, finish_reason, f"{cut_off_advice(cap)}, or ask for fewer rows per call")
        items = _row_list(value, self.schema)
        if items is None:
            raise OutputValidationError("The answer holds no list of rows.")
        validator = jsonschema.validators.validator_for(self.schema)(self.schema)
        valid = [item for item in items if isinstance(item, dict) and validator.is_valid(item)]
        return valid, len(items) - len(valid)

    def row_values(self, row: dict) -> dict:
        """A generated row as the dataset stores it (typed values; arrays and objects as JSON text)."""
        return {c.suffix: column_value(row.get(c.suffix), c.type) for c in self.columns}

    # --- the loop -----------------------------------------------------------------------------------

    def rows(self, client: Client, limit: Optional[int] = None, concurrency: Optional[int] = None) -> Iterator[dict]:
        """Yields distinct valid rows (as :meth:`row_values` gives them) until there are ``rows`` of them,
        or ``limit`` when it is smaller. Raises :class:`GenerationError` after ``max_fruitless_calls``
        calls in a row that bring no new row; a failed call (after the client's retries) raises its error.

        The calls go through the row engine, one engine row per call, in rounds of up to
        ``concurrency`` parallel calls (default: the connection's ``max_concurrency``). Unlike a row
        task, each round is built from the answers to the previous one (how many rows are missing,
        which rows to avoid repeating), so the engine reads no round ahead (``lookahead_chunks=0``);
        identical requests are each sent (each call is keyed by its number, so the engine's
        de-duplication never merges two calls), and the first failed call stops the generation with
        its own error (``on_error="raise"``).
        """
        target = self.rows_wanted if not limit or limit <= 0 else min(self.rows_wanted, int(limit))
        # calls per round: the client's limit (fixed, or automatic and changing) caps them in flight anyway
        workers = max(1, int(concurrency or client.settings.max_concurrency or client.concurrency.limit))
        tally = _Tally(target)
        engine = RowEngine(_GenerationCalls(self), client, concurrency=workers, on_error="raise",
                           lookahead_chunks=0, progress_every_s=math.inf, stop_after_failed_requests=0)
        answers = engine.run(self._rounds(tally, workers))
        try:
            for round_values in answers:
                for values in round_values:
                    yield from self._take(values, tally)
        finally:
            answers.close()
        log.info("Generated %d rows in %d calls (%d invalid and %d duplicate rows dropped).", tally.produced,
                 self.calls, self.dropped_invalid, self.dropped_duplicates)

    def _rounds(self, tally: _Tally, workers: int) -> Iterator[list[dict]]:
        """The engine rows of each round: one per call, each asking for its share of the missing rows."""
        per_call = self.rows_per_call
        while tally.produced < tally.target:
            remaining = tally.target - tally.produced
            # Small models copy the rows shown to them as 'already made' (this project's 135M example model
            # did, five calls in a row): after a call that brought nothing new, the next one shows none, so a
            # fruitless streak alternates between the two prompts.
            sample = tally.recent[-10:] if tally.fruitless % 2 == 0 else []
            first = self.calls
            yield [{"call": first + index, "count": min(per_call, remaining - index * per_call), "sample": sample}
                   for index in range(min(workers, math.ceil(remaining / per_call)))]
            del tally.recent[:-10]

    def _take(self, values: dict, tally: _Tally) -> Iterator[dict]:
        """Keeps the new rows of one call's answer; raises :class:`GenerationError` when too many calls in
        a row brought nothing new."""
        self.calls += 1
        items, invalid = values["rows"], values["invalid"]
        self.dropped_invalid += invalid
        new = 0
        for item in items:
            key = json.dumps(item, sort_keys=True, ensure_ascii=False)
            if key in tally.seen:
                self.dropped_duplicates += 1
                continue
            tally.seen.add(key)
            if tally.produced >= tally.target:
                continue
            tally.produced += 1
            new += 1
            tally.recent.append(item)
            yield self.row_values(item)
        if values["problem"]:
            tally.last_problem = values["problem"]
        elif invalid and not items:
            tally.last_problem = f"all {invalid} rows of the answer broke the schema"
        elif not items:
            tally.last_problem = "the answer held no rows"
        elif not new:
            tally.last_problem = "every row of the answer was a duplicate"
        tally.fruitless = 0 if new else tally.fruitless + 1
        if tally.produced < tally.target and tally.fruitless >= self.max_fruitless_calls:
            raise GenerationError(
                f"Generated {tally.produced} of {tally.target} rows, then {tally.fruitless} calls in a row brought "
                f"no new valid row (last: {tally.last_problem}). In all, {self.dropped_invalid} rows broke the "
                f"schema and {self.dropped_duplicates} were duplicates. Ask for more variety in the prompt, loosen "
                "the schema, ask for fewer rows, or use a stronger model.")


@dataclass
class _Tally:
    """Where a generation stands: rows made (and their keys), recent rows to show, calls without a new row."""

    target: int
    produced: int = 0
    fruitless: int = 0
    last_problem: str = ""
    seen: set = field(default_factory=set)
    recent: list = field(default_factory=list)


class _GenerationCalls(Task):
    """The calls of a generation as rows of the row engine: a row ``{"call", "count", "sample"}`` asks
    for ``count`` rows unlike ``sample``; its values are the valid rows of the answer, how many rows
    broke the schema, and why the answer held no row (``problem``)."""

    def __init__(self, generate: GenerateTask) -> None:
        self.generate = generate
        self.model = generate.spec.model

    def output_columns(self) -> list[OutputColumn]:
        return []  # the rows are read by GenerateTask, never written as columns

    def request(self, row: Mapping[str, Any]) -> tuple[str, Any]:
        messages, options = self.generate.request_body(row["count"], row["sample"])
        return request_key("generate", self.model, messages, options, row["call"]), (messages, options)

    def call(self, client: Client, payload: Any) -> Any:
        messages, options = payload
        return chat_answer(ask(client, messages, self.model, options))

    def row_values(self, answer: Any) -> tuple[dict, Optional[OpenAICompatibleError]]:
        values: dict[str, Any] = dict(usage_values(answer), rows=[], invalid=0, problem="")
        # a filtered or failed answer never gets here: the client raised it (generation keeps no answer store)
        try:
            values["rows"], values["invalid"] = self.generate.parse_rows(answer.get("text") or "",
                                                                         answer.get("finish_reason"))
        except OutputValidationError as exc:  # an unusable answer is a fruitless call, not a failure
            values["problem"] = str(exc)
        return values, None


def _row_list(value: Any, schema: dict) -> Optional[list]:
    """The list of rows in an answer: ``{"rows": [...]}``, a bare list, an object's only list, or one row."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("rows"), list):
        return value["rows"]
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) == 1 and not set(value) & set(schema["properties"]):
        return lists[0]
    if set(value) & set(schema["properties"]):
        return [value]
    return None
