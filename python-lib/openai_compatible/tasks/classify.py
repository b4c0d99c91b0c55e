"""The classify task: put each row's text in one of a few classes (or several, with multi-label).

The model answers with JSON following a schema whose ``enum`` holds the class names, where the
provider supports it; whatever the provider does, the answer is parsed and checked: a label outside
the classes is a row error (``invalid_output``), never a silent label.

From a notebook::

    from openai_compatible import Client
    from openai_compatible.tasks.classify import ClassifySpec, ClassifyTask

    spec = ClassifySpec(model="my-model", text_column="review",
                        classes=[("positive", "the customer is happy"), ("negative", "")])
    task = ClassifyTask(spec, input_columns=["review"])
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from ..client import Client
from ..columns import OutputColumn
from ..errors import OpenAICompatibleError, OutputValidationError, SettingsError
from ..finish import finish_error, is_truncated
from ..jsonout import strip_code_fence
from ..reasoning import answer_text, checked_effort
from ..store import request_key
from ..template import EmptyValueError, Template, format_value
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
from .confidence import label_confidence

NONE_ANSWER = "none of these"
"""What the model answers, in single-label mode with ``allow_none``, when no class fits."""

TOP_LOGPROBS = 5
# Sent when the recipe sets no cap: a JSON label (or several) fits in far less; a one-sentence explanation too.
DEFAULT_MAX_OUTPUT_TOKENS = 256
DEFAULT_MAX_OUTPUT_TOKENS_EXPLAINED = 512
"""Alternatives asked for each answer token, to judge the label's confidence (see :func:`label_confidence`)."""

ClassesLike = Union[Mapping[str, Any], Sequence[Any], str]


@dataclass
class ClassifySpec:
    """Settings of the classify task (the recipe's parameters, minus the connection).

    ``classes``: the class names, each with an optional description, as a list of ``(name,
    description)`` pairs, a ``{name: description}`` dict, a list of names, or DSS's key/value list
    ``[{"from": name, "to": description}]``. The text comes from ``text_column`` or, when set, from
    ``text_template`` (``{{column}}`` placeholders). ``examples`` are ``(text, label)`` pairs (or
    ``{"from": text, "to": label}``); in multi-label mode a label cell may hold several labels,
    comma-separated or as a JSON array.
    """

    model: str
    classes: ClassesLike
    text_column: str = ""
    text_template: str = ""
    multi_label: bool = False
    allow_none: bool = False
    explanation: bool = False
    examples: Sequence[Any] = ()
    temperature: Optional[float] = 0.0
    max_output_tokens: Optional[int] = None
    logprobs: bool = True
    reasoning_effort: Optional[str] = None


def normalize_classes(value: ClassesLike, field: str = "classes") -> list[tuple[str, str]]:
    """The classes as ``[(name, description)]``; raises :class:`SettingsError` for empty or duplicate names."""
    if isinstance(value, str):
        items: list[Any] = [line for line in value.replace(",", "\n").splitlines()]
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise SettingsError(f"Parameter '{field}' must be a list of classes (a name and an optional description).")
    classes: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(items, start=1):
        if isinstance(item, Mapping):
            name, description = item.get("from"), item.get("to")
        elif isinstance(item, (list, tuple)) and len(item) in (1, 2):
            name, description = item[0], (item[1] if len(item) == 2 else "")
        else:
            name, description = item, ""
        name = "" if name is None else str(name).strip()
        description = "" if description is None else str(description).strip()
        if not name:
            if description:
                raise SettingsError(f"Parameter '{field}' entry {index} has a description but no class name.")
            continue
        if name.casefold() in seen:
            raise SettingsError(f"Parameter '{field}': the class '{name}' is given twice "
                                f"(as '{seen[name.casefold()]}' before); class names must be unique.")
        seen[name.casefold()] = name
        classes.append((name, description))
    if not classes:
        raise SettingsError(f"Parameter '{field}' is empty: give at least two classes (a name, and optionally "
                            "a description that tells the model what belongs there).")
    return classes


class ClassifyTask(Task):
    """Asks the model which class each row's text belongs to, and checks the answer against the classes."""

    def __init__(self, spec: ClassifySpec, input_columns: Sequence[str]) -> None:
        if not spec.model:
            raise SettingsError("Parameter 'model' is empty: choose a model of the connection.")
        self.spec = spec
        self.model = spec.model  # checked against the connection before any row
        self.classes = normalize_classes(spec.classes)
        names = [name for name, _ in self.classes]
        if len(names) == 1 and not spec.multi_label and not spec.allow_none:
            raise SettingsError("Parameter 'classes' has a single class: add another class, or allow 'none of "
                                "these' (allow_none) so that the model can say the text doesn't belong to it.")
        if spec.allow_none and not spec.multi_label and NONE_ANSWER.casefold() in (n.casefold() for n in names):
            raise SettingsError(f"Parameter 'classes': '{NONE_ANSWER}' is the answer reserved for texts that fit no "
                                "class when 'allow_none' is on; rename that class or turn 'allow_none' off.")
        self._by_folded = {name.casefold(): name for name in names}
        self.template = self._text_template(spec, list(input_columns))
        self._answers = names + ([NONE_ANSWER] if spec.allow_none and not spec.multi_label else [])
        self.schema = self._answer_schema()
        self.output_cap = output_cap(spec.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS_EXPLAINED if spec.explanation
                                     else DEFAULT_MAX_OUTPUT_TOKENS)
        self._fixed_messages = [{"role": "system", "content": self._instructions()}]
        self._options = self._build_options()

    # --- settings -----------------------------------------------------------------------------------

    @staticmethod
    def _text_template(spec: ClassifySpec, input_columns: list[str]) -> Template:
        if spec.text_template and spec.text_template.strip():
            template = Template(spec.text_template, field="text_template")
        elif spec.text_column:
            if spec.text_column not in input_columns:
                raise SettingsError(f"Parameter 'text_column': '{spec.text_column}' is not a column of the input "
                                    f"dataset. Input columns: {', '.join(input_columns[:30])}.")
            template = Template("{{" + spec.text_column + "}}", field="text_column")
        else:
            raise SettingsError("Parameter 'text_column' is empty: choose the column holding the text to classify "
                                "(or write a text template over several columns).")
        template.check_columns(input_columns)
        return template

    def _answer_schema(self) -> dict:
        if self.spec.multi_label:
            properties: dict[str, Any] = {"labels": {"type": "array", "items": {"type": "string",
                                                                                 "enum": list(self._answers)}}}
        else:
            properties = {"label": {"type": "string", "enum": list(self._answers)}}
        if self.spec.explanation:
            properties["explanation"] = {"type": "string"}
        return {"type": "object", "properties": properties, "required": list(properties),
                "additionalProperties": False}

    def _instructions(self) -> str:
        spec = self.spec
        lines = ["You are a text classifier."]
        if spec.multi_label:
            lines.append("Give every class that applies to the text, from these classes:")
        else:
            lines.append("Put the text in exactly one of these classes:")
        for name, description in self.classes:
            lines.append(f"- {name}: {description}" if description else f"- {name}")
        if spec.multi_label:
            lines.append("If no class applies, answer an empty list." if spec.allow_none
                         else "Give at least one class.")
        elif spec.allow_none:
            lines.append(f'If no class fits, answer "{NONE_ANSWER}".')
        key = "labels" if spec.multi_label else "label"
        shape = '["<class>", ...]' if spec.multi_label else '"<class>"'
        extra = ', "explanation": "<one sentence saying why>"' if spec.explanation else ""
        lines.append(f'Answer with a JSON object only: {{"{key}": {shape}{extra}}}. '
                     "Write class names exactly as listed.")
        examples = self._examples()
        if examples:
            lines.append("")
            lines.append("Examples:")
            for text, labels in examples:
                answer: dict[str, Any] = {key: labels if spec.multi_label else labels[0]}
                lines.append(f"Text: {text}\nAnswer: {json.dumps(answer, ensure_ascii=False)}")
            if spec.explanation:
                # the examples carry no reasons, and a model copies their shape: it would leave out its own
                lines.append('The examples show the classes only: your answer also gives the "explanation".')
        return "\n".join(lines)

    def _examples(self) -> list[tuple[str, list]]:
        out = []
        for index, example in enumerate(self.spec.examples or (), start=1):
            if isinstance(example, Mapping):
                text, label = example.get("from", example.get("input")), example.get("to", example.get("output"))
            elif isinstance(example, (list, tuple)) and len(example) == 2:
                text, label = example
            else:
                raise SettingsError(f"Parameter 'examples' entry {index} must be a text and its label.")
            text = format_value(text).strip()
            if not text:
                raise SettingsError(f"Parameter 'examples' entry {index} has no text.")
            out.append((text, self._example_labels(index, label)))
        return out

    def _example_labels(self, index: int, label: Any) -> list:
        raw = format_value(label).strip()
        where = f"Parameter 'examples' entry {index}"
        if not raw:
            if self.spec.allow_none:
                return [] if self.spec.multi_label else [NONE_ANSWER]
            raise SettingsError(f"{where} has no label: give the class of the example text.")
        if self.spec.multi_label:
            candidates: Iterable[Any]
            if raw.startswith("["):
                try:
                    candidates = json.loads(raw)
                except ValueError:
                    raise SettingsError(f"{where}: the labels '{raw}' are not a valid JSON list.") from None
            elif raw.casefold() in self._by_folded:
                candidates = [raw]
            else:
                candidates = [part for part in raw.split(",") if part.strip()]
        else:
            candidates = [raw]
        labels = []
        for candidate in candidates:
            name = self._match(str(candidate))
            if name is None:
                raise SettingsError(f"{where}: '{str(candidate).strip()}' is not one of the classes "
                                    f"({', '.join(self._answers)}).")
            if name not in labels:
                labels.append(name)
        return labels

    def _build_options(self) -> dict:
        spec = self.spec
        options: dict[str, Any] = {"response_format": {"type": "json_schema", "json_schema": {
            "name": "classification", "schema": self.schema, "strict": True}}}
        if spec.temperature is not None:
            options["temperature"] = float(spec.temperature)
        cap = self.output_cap
        if cap:
            options["max_tokens"] = cap
        effort = checked_effort(spec.reasoning_effort)
        if effort:
            options["reasoning_effort"] = effort
        if spec.logprobs:
            # for the confidence column; a provider that refuses them gets requests without them
            options["logprobs"] = True
            options["top_logprobs"] = TOP_LOGPROBS
        return options

    # --- requests -----------------------------------------------------------------------------------

    def messages_for(self, row: Mapping[str, Any]) -> list[dict]:
        """The chat messages for one row (raises :class:`RowInputError` when the text is empty)."""
        try:
            text = self.template.render(row)
        except EmptyValueError as exc:
            raise RowInputError(f"{exc}: no text to classify in this row") from None
        return self._fixed_messages + [{"role": "user", "content": f"Text to classify:\n{text}"}]

    def request(self, row: Mapping[str, Any]) -> tuple[str, Any]:
        messages = self.messages_for(row)
        return request_key("classify", self.spec.model, messages, self._options), messages

    def call(self, client: Client, payload: Any) -> Any:
        result = ask(client, payload, self.spec.model, self._options)
        answer = chat_answer(result)
        answer["confidence"] = None
        try:
            _, written = self.parse(result.text)
        except OutputValidationError:
            return answer
        answer["confidence"] = label_confidence(result.logprobs, written, self._answers)
        return answer

    # --- answers ------------------------------------------------------------------------------------

    def output_columns(self) -> list[OutputColumn]:
        if self.spec.multi_label:
            label = OutputColumn("label", "string", "The classes that apply, as a JSON array of class names "
                                                    "([] when none applies)")
        else:
            label = OutputColumn("label", "string", "The class the model chose"
                                 + (" (empty when no class fits)" if self.spec.allow_none else ""))
        columns = [label]
        if self.spec.explanation:
            columns.append(OutputColumn("explanation", "string", "Why the model chose this label, in its words"))
        columns.append(OutputColumn("confidence", "double", "Probability (0 to 1) the model gave its label, from "
                                                            "the label tokens' log-probabilities; empty when the "
                                                            "provider doesn't return them"))
        return columns + ERROR_COLUMNS + USAGE_COLUMNS

    def row_values(self, answer: Any) -> tuple[dict, Optional[OpenAICompatibleError]]:
        values: dict[str, Any] = usage_values(answer)
        error = finish_error(answer.get("finish_reason"), "")
        if error is not None:  # an answer stored before the client raised for it
            return values, error
        try:
            parsed, _ = self.parse(answer.get("text") or "", answer.get("finish_reason"))
        except OutputValidationError as exc:
            return values, exc
        labels = parsed["labels"]
        if self.spec.multi_label:
            values["label"] = json.dumps(labels, ensure_ascii=False)
        else:
            values["label"] = labels[0] if labels else None
        if self.spec.explanation:
            values["explanation"] = parsed.get("explanation")
        values["confidence"] = answer.get("confidence")
        return values, None

    def parse(self, text: str, finish_reason: Optional[str] = None) -> tuple[dict, list[str]]:
        """Reads an answer: ``({"labels": [...class names], "explanation": ...}, labels as written)``.

        Accepts the JSON object asked for (also inside a code fence or surrounded by prose) and, from
        providers without JSON output, a bare class name. Raises :class:`OutputValidationError` when the
        answer names anything but the classes. A reasoning block left inline is skipped: the classes a model
        weighs while thinking are not its answer.
        """
        text = answer_text(text)
        obj = _json_object(text)
        if obj is None:
            written = [_strip_label(text)] if not self.spec.multi_label else [
                _strip_label(part) for part in text.split(",") if _strip_label(part)]
            if written and all(self._match(w) is not None for w in written):
                return self._checked([self._match(w) for w in written], None, written)
            if is_truncated(finish_reason):
                raise OutputValidationError("The answer was cut off at the output token limit (finish_reason="
                                            f"length) before it named a class: {cut_off_advice(self.output_cap)}.")
            raise OutputValidationError(f"The answer is not one of the classes: {_preview(text)}.")
        raw = obj.get("labels", obj.get("label", obj.get("class")))
        if self.spec.multi_label:
            if isinstance(raw, str):
                raw = [raw]
            if not isinstance(raw, list):
                raise OutputValidationError(f"The answer has no 'labels' list: {_preview(text)}.")
        else:
            if isinstance(raw, list) and len(raw) == 1:
                raw = raw[0]
            if not isinstance(raw, str):
                raise OutputValidationError(f"The answer has no 'label': {_preview(text)}.")
            raw = [raw]
        names = []
        for item in raw:
            name = self._match(item) if isinstance(item, str) else None
            if name is None:
                raise OutputValidationError(f"The answer {json.dumps(item, ensure_ascii=False)} is not one of the "
                                            f"classes ({', '.join(self._answers)}).")
            names.append(name)
        explanation = obj.get("explanation")
        if explanation is not None and not isinstance(explanation, str):
            explanation = json.dumps(explanation, ensure_ascii=False)
        return self._checked(names, explanation, [str(item) for item in raw])

    def _checked(self, names: list, explanation: Optional[str], written: list[str]) -> tuple[dict, list[str]]:
        labels = [] if names == [NONE_ANSWER] else list(dict.fromkeys(names))
        if NONE_ANSWER in labels:
            raise OutputValidationError(f"The answer mixes '{NONE_ANSWER}' with classes: {', '.join(labels)}.")
        if not labels and not self.spec.allow_none:
            raise OutputValidationError("The answer names no class, and 'none of these' is not allowed.")
        return {"labels": labels, "explanation": explanation}, written

    def _match(self, written: str) -> Optional[str]:
        """The class (or the 'none' answer) a written label names: exact, else ignoring case and spaces."""
        text = written.strip()
        if text in self._answers:
            return text
        folded = text.casefold()
        if folded in self._by_folded:
            return self._by_folded[folded]
        if self.spec.allow_none and not self.spec.multi_label and folded == NONE_ANSWER:
            return NONE_ANSWER
        return None


# --- parsing helpers ----------------------------------------------------------------------------------

def _json_object(text: str) -> Optional[dict]:
    """The JSON object in an answer: the whole text, a code fence's content, or the outermost braces
    (a bare JSON list counts as the list of labels)."""
    stripped = strip_code_fence(text)
    candidates = [stripped]
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start:end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        if isinstance(value, list):  # a bare list of labels
            return {"labels": value}
    return None


def _strip_label(text: str) -> str:
    return text.strip().strip("\"'`*.").strip()


def _preview(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    if not text:
        return "an empty answer"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
