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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from ..client import Client
from ..columns import OutputColumn
from ..errors import OpenAICompatibleError, OutputValidationError, SettingsError
from ..jsonout import column_value, load_schema, parse_json_text, schema_columns, strict_schema

log = logging.getLogger("openai_compatible")

MAX_ROWS = 1_000_000
SAMPLE_CHARS = 1500


class GenerationError(OpenAICompatibleError):
    """Generation stopped before it had enough rows: too many calls brought no new valid row."""

    kind = "generation"


@dataclass
class GenerateSpec:
    """Settings of the generate task.

    ``rows_per_call`` rows are asked for in each call; ``max_fruitless_calls`` calls in a row that
    bring no new valid row stop the generation with :class:`GenerationError`.
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
        try:
            rows = int(spec.rows)
        except (TypeError, ValueError):
            raise SettingsError(f"Parameter 'rows' must be a whole number, not {spec.rows!r}.") from None
        if not 1 <= rows <= MAX_ROWS:
            raise SettingsError(f"Parameter 'rows' must be between 1 and {MAX_ROWS}, not {spec.rows}.")
        if int(spec.rows_per_call) < 1 or int(spec.max_fruitless_calls) < 1:
            raise SettingsError("'rows_per_call' and 'max_fruitless_calls' must be at least 1.")
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
        if self.spec.max_output_tokens:
            options["max_tokens"] = int(self.spec.max_output_tokens)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], options

    # --- answers ------------------------------------------------------------------------------------

    def parse_rows(self, text: str, finish_reason: Optional[str] = None) -> tuple[list[dict], int]:
        """The rows of an answer that follow the schema, and how many rows did not.

        Raises :class:`OutputValidationError` when the answer holds no list of rows at all.
        """
        import jsonschema

        value = parse_json_text(text, finish_reason, "ask for fewer rows per call or raise the limit")
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
        """
        target = self.rows_wanted if not limit or limit <= 0 else min(self.rows_wanted, int(limit))
        workers = max(1, int(concurrency or client.settings.max_concurrency or client.settings.concurrency_upper_bound))
        per_call = max(1, int(self.spec.rows_per_call))
        seen: set[str] = set()
        recent: list[dict] = []
        produced = 0
        fruitless = 0
        last_problem = ""
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oc-generate") as pool:
            while produced < target:
                remaining = target - produced
                # the client's limit (automatic or fixed) caps the calls of a round too
                calls = min(workers, client.concurrency.limit, math.ceil(remaining / per_call))
                sample = recent[-10:]
                futures = []
                for index in range(calls):
                    count = min(per_call, remaining - index * per_call)
                    messages, options = self.request_body(count, sample)
                    futures.append(pool.submit(self._ask, client, messages, options))
                for future in futures:
                    self.calls += 1
                    try:
                        items, invalid = future.result()
                    except OutputValidationError as exc:
                        items, invalid, last_problem = [], 0, str(exc)
                    new = 0
                    self.dropped_invalid += invalid
                    for item in items:
                        key = json.dumps(item, sort_keys=True, ensure_ascii=False)
                        if key in seen:
                            self.dropped_duplicates += 1
                            continue
                        seen.add(key)
                        if produced >= target:
                            continue
                        produced += 1
                        new += 1
                        recent.append(item)
                        yield self.row_values(item)
                    if invalid and not items:
                        last_problem = f"all {invalid} rows of the answer broke the schema"
                    elif items and not new:
                        last_problem = "every row of the answer was a duplicate"
                    fruitless = 0 if new else fruitless + 1
                    if produced < target and fruitless >= self.spec.max_fruitless_calls:
                        raise GenerationError(
                            f"Generated {produced} of {target} rows, then {fruitless} calls in a row brought no new "
                            f"valid row (last: {last_problem}). In all, {self.dropped_invalid} rows broke the "
                            f"schema and {self.dropped_duplicates} were duplicates. Ask for more variety in the "
                            "prompt, loosen the schema, ask for fewer rows, or use a stronger model.")
                del recent[:-10]
        log.info("Generated %d rows in %d calls (%d invalid and %d duplicate rows dropped).", produced, self.calls,
                 self.dropped_invalid, self.dropped_duplicates)

    def _ask(self, client: Client, messages: list[dict], options: dict) -> tuple[list[dict], int]:
        result = client.chat(messages, model=self.spec.model, **options)
        if result.finish_reason == "content_filter":
            raise OutputValidationError("The provider's content filter withheld the answer.")
        return self.parse_rows(result.text, result.finish_reason)


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
