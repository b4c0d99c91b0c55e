"""The prompt task: one chat completion per row, from a template over the row's columns."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ..client import Client
from ..columns import OutputColumn
from ..errors import OpenAICompatibleError, OutputValidationError, SettingsError
from ..finish import finish_error
from ..jsonout import column_value, load_schema, read_json_answer, schema_columns, strict_schema
from ..reasoning import checked_effort
from ..store import request_key
from ..template import EmptyValueError, Template
from .base import (
    ERROR_COLUMNS,
    USAGE_COLUMNS,
    RowInputError,
    Task,
    ask,
    chat_answer,
    cut_off_advice,
    output_cap,
    usage_values,
)

OUTPUT_FORMATS = ("text", "json_object", "json_schema")
# Sent when the recipe sets no cap: long enough for a page of text; 0 sends none.
DEFAULT_MAX_OUTPUT_TOKENS = 1024

APPLY_OPTIONS = ("system_prompt", "examples", "temperature", "max_output_tokens", "top_p", "stop", "seed",
                 "output_format", "json_schema", "raw_response", "reasoning_effort", "reasoning_column")
"""The prompt settings a DataFrame ``apply()`` (pandas or Spark) takes as keyword options."""


@dataclass
class PromptSpec:
    """Validated settings of the prompt task (the recipe's parameters, minus the connection)."""

    model: str
    prompt_template: str
    system_prompt: str = ""
    examples: Sequence[Mapping[str, str]] = ()
    temperature: Optional[float] = None
    max_output_tokens: Optional[int] = None
    top_p: Optional[float] = None
    stop: Sequence[str] = ()
    seed: Optional[int] = None
    output_format: str = "text"
    json_schema: Any = None
    raw_response: bool = False
    options: dict = field(default_factory=dict)
    reasoning_effort: Optional[str] = None
    reasoning_column: bool = False

    @classmethod
    def from_options(cls, template: str, model: str, options: Mapping[str, Any], caller: str = "apply()") -> PromptSpec:
        """The spec for ``template`` and ``model`` with ``options`` (names from :data:`APPLY_OPTIONS`).
        Raises :class:`SettingsError` naming any unknown option."""
        unknown = sorted(set(options) - set(APPLY_OPTIONS))
        if unknown:
            raise SettingsError(f"{caller}: unknown option(s) {', '.join(unknown)}. Known: {', '.join(APPLY_OPTIONS)}.")
        stop = options.get("stop") or []
        return cls(
            model=model, prompt_template=template, system_prompt=options.get("system_prompt") or "",
            examples=list(options.get("examples") or []), temperature=options.get("temperature"),
            max_output_tokens=options.get("max_output_tokens"), top_p=options.get("top_p"),
            stop=[stop] if isinstance(stop, str) else list(stop), seed=options.get("seed"),
            output_format=options.get("output_format") or "text", json_schema=options.get("json_schema"),
            raw_response=bool(options.get("raw_response")), reasoning_effort=options.get("reasoning_effort"),
            reasoning_column=bool(options.get("reasoning_column")))


class PromptTask(Task):
    """Renders the template for each row and asks the model; JSON answers become typed columns."""

    def __init__(self, spec: PromptSpec, input_columns: Sequence[str]) -> None:
        if spec.output_format not in OUTPUT_FORMATS:
            raise SettingsError(f"Parameter 'output_format' is '{spec.output_format}': use one of "
                                f"{', '.join(OUTPUT_FORMATS)}.")
        if not spec.model:
            raise SettingsError("Parameter 'model' is empty: choose a model of the connection.")
        self.spec = spec
        self.model = spec.model
        self.template = Template(spec.prompt_template)
        self.template.check_columns(input_columns)
        self.schema = load_schema(spec.json_schema) if spec.output_format == "json_schema" else None
        self._fixed_messages = self._build_fixed_messages()
        self._options = self._build_options()

    # --- requests -----------------------------------------------------------------------------------

    def _build_fixed_messages(self) -> list[dict]:
        spec = self.spec
        system = (spec.system_prompt or "").strip()
        if spec.output_format == "json_object" and "json" not in (system + spec.prompt_template).lower():
            # several providers refuse JSON mode unless the prompt mentions JSON
            system = (system + "\n\nAnswer with a JSON object.").strip()
        messages: list[dict] = [{"role": "system", "content": system}] if system else []
        for index, example in enumerate(spec.examples or (), start=1):
            question = str(example.get("input") or example.get("from") or "").strip()
            answer = str(example.get("output") or example.get("to") or "").strip()
            if not question or not answer:
                raise SettingsError(f"Parameter 'examples' entry {index} needs both an input and an output.")
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return messages

    def _build_options(self) -> dict:
        spec = self.spec
        options: dict[str, Any] = dict(spec.options)
        if spec.temperature is not None:
            options["temperature"] = float(spec.temperature)
        if spec.top_p is not None:
            options["top_p"] = float(spec.top_p)
        cap = output_cap(spec.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS)
        if cap:
            options["max_tokens"] = cap
        stops = [s for s in (spec.stop or ()) if s]
        if stops:
            options["stop"] = list(stops)
        if spec.seed is not None:
            options["seed"] = int(spec.seed)
        effort = checked_effort(spec.reasoning_effort)
        if effort:
            options["reasoning_effort"] = effort
        if self.schema is not None:
            options["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "row", "schema": strict_schema(self.schema), "strict": True}}
        elif spec.output_format == "json_object":
            options["response_format"] = {"type": "json_object"}
        return options

    def messages_for(self, row: Mapping[str, Any]) -> list[dict]:
        """The chat messages for one row (raises :class:`RowInputError` for an empty cell)."""
        try:
            prompt = self.template.render(row)
        except EmptyValueError as exc:
            raise RowInputError(f"{exc}: nothing to send for this row") from None
        return self._fixed_messages + [{"role": "user", "content": prompt}]

    def request(self, row: Mapping[str, Any]) -> tuple[str, Any]:
        messages = self.messages_for(row)
        return request_key("chat", self.spec.model, messages, self._options), messages

    def call(self, client: Client, payload: Any) -> Any:
        # where the provider won't enforce the schema, the client puts it in the prompt (Compatibility.
        # json_instructions); where it does, the schema stays out of the prompt: small models answer worse with it
        result = ask(client, payload, self.spec.model, self._options)
        answer = chat_answer(result)
        if self.spec.raw_response:
            answer["raw"] = result.raw
        return answer

    # --- answers ------------------------------------------------------------------------------------

    def output_columns(self) -> list[OutputColumn]:
        columns = [OutputColumn("response", "string", "The model's answer (raw text, also when JSON parsing failed)")]
        if self.spec.reasoning_column:
            columns.append(OutputColumn("reasoning", "string", "What a reasoning model thought before answering "
                                                               "(empty when the model or provider gives none)"))
        columns += ERROR_COLUMNS + USAGE_COLUMNS
        if self.spec.raw_response:
            columns.append(OutputColumn("raw_response", "string", "The provider's full JSON response"))
        if self.schema is not None:
            columns += schema_columns(self.schema)
        elif self.spec.output_format == "json_object":
            columns.append(OutputColumn("json", "string", "The answer parsed as a JSON object (normalised text)"))
        return columns

    def row_values(self, answer: Any) -> tuple[dict, Optional[OpenAICompatibleError]]:
        values = dict(usage_values(answer), response=answer.get("text"))
        if self.spec.reasoning_column:
            values["reasoning"] = answer.get("reasoning")
        if self.spec.raw_response:
            values["raw_response"] = json.dumps(answer.get("raw"), ensure_ascii=False)
        if self.spec.output_format == "text":
            return values, finish_error(answer.get("finish_reason"), "")
        error = finish_error(answer.get("finish_reason"), "")
        if error is not None:
            return values, error
        try:
            parsed = read_json_answer(answer.get("text") or "", answer.get("finish_reason"), self.schema,
                                      when_cut=cut_off_advice(self._options.get("max_tokens")))
        except OutputValidationError as exc:
            return values, exc
        if self.schema is not None:
            for column in schema_columns(self.schema):
                values[column.name] = column_value(parsed.get(column.suffix), column.type)
        else:
            values["json"] = json.dumps(parsed, ensure_ascii=False)
        return values, None
