"""The recipes' and the generate connector's parameters as validated tasks (raises
:class:`SettingsError` naming the parameter, before any request)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import SettingsError
from ..tasks.base import Task
from .config import optional_float, optional_int

if TYPE_CHECKING:
    from ..tasks.generate import GenerateTask


def prompt_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The prompt recipe's parameters as a validated :class:`PromptTask`."""
    from ..tasks.prompt import PromptSpec, PromptTask

    examples = config.get("examples") or []
    if not isinstance(examples, list):
        raise SettingsError("Parameter 'examples' must be a list of input/output pairs.")
    stop = config.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    spec = PromptSpec(
        model=str(config.get("model") or ""),
        prompt_template=config.get("prompt_template") or "",
        system_prompt=config.get("system_prompt") or "",
        examples=examples,
        temperature=optional_float(config, "temperature", 0.0, 2.0),
        max_output_tokens=optional_int(config, "max_output_tokens", 1),
        top_p=optional_float(config, "top_p", 0.0, 1.0),
        stop=[str(s) for s in stop if s],
        seed=optional_int(config, "seed", 0),
        output_format=config.get("output_format") or "text",
        json_schema=config.get("json_schema"),
        raw_response=bool(config.get("raw_response")),
        reasoning_effort=config.get("reasoning_effort") or None,
        reasoning_column=bool(config.get("reasoning_column")),
    )
    return PromptTask(spec, input_columns)


def classify_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The classify recipe's parameters as a validated :class:`ClassifyTask`."""
    from ..tasks.classify import ClassifySpec, ClassifyTask

    examples = config.get("examples") or []
    if not isinstance(examples, list):
        raise SettingsError("Parameter 'examples' must be a list of text/label pairs.")
    spec = ClassifySpec(
        model=str(config.get("model") or ""),
        classes=config.get("classes") or [],
        text_column=str(config.get("text_column") or ""),
        text_template=str(config.get("text_template") or ""),
        multi_label=bool(config.get("multi_label")),
        allow_none=bool(config.get("allow_none")),
        explanation=bool(config.get("explanation")),
        examples=examples,
        max_output_tokens=optional_int(config, "max_output_tokens", 1),
        reasoning_effort=config.get("reasoning_effort") or None,
    )
    return ClassifyTask(spec, input_columns)


def embed_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The embed recipe's parameters as a validated :class:`EmbedTask`."""
    from ..tasks.embed import EmbedSpec, EmbedTask

    spec = EmbedSpec(
        model=str(config.get("model") or ""),
        text_column=str(config.get("text_column") or ""),
        batch_size=optional_int(config, "batch_size", 1) or 32,
        dimensions=optional_int(config, "dimensions", 1),
        too_long=str(config.get("too_long") or "error"),
    )
    return EmbedTask(spec, input_columns)


def generate_task_from_config(config: Mapping[str, Any]) -> GenerateTask:
    """The generate connector's parameters as a validated :class:`GenerateTask`."""
    from ..tasks.generate import GenerateSpec, GenerateTask

    rows = optional_int(config, "rows", 1)
    if rows is None:
        raise SettingsError("Parameter 'rows' is empty: give the number of rows to generate.")
    spec = GenerateSpec(model=str(config.get("model") or ""), prompt=str(config.get("prompt") or ""),
                        row_schema=config.get("row_schema"), rows=rows,
                        max_output_tokens=optional_int(config, "max_output_tokens", 1))
    return GenerateTask(spec)
