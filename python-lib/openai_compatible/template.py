"""Prompt templates with ``{{column}}`` placeholders, checked against the input columns before any request."""
from __future__ import annotations

import difflib
import math
import re
from typing import Any, Iterable, Mapping

from .errors import SettingsError

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_SINGLE_BRACES = re.compile(r"(?<!\{)\{\s*([^{}]+?)\s*\}(?!\})")


class EmptyValueError(ValueError):
    """A placeholder's cell is null or empty: the row gets an error and no request is sent."""


class Template:
    """A prompt template. ``render(row)`` fills each ``{{column}}`` with the row's value."""

    def __init__(self, text: str, field: str = "prompt_template") -> None:
        if not isinstance(text, str) or not text.strip():
            raise SettingsError(f"Parameter '{field}' is empty: write the prompt, with {{{{column}}}} placeholders "
                                "for the input columns.")
        self.text = text
        self.field = field
        self._parts: list[str] = []
        self.columns: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            self._check_braces(text[position:match.start()])
            name = match.group(1)
            if not name:
                raise SettingsError(f"Parameter '{field}' has an empty placeholder '{{{{}}}}': put a column name "
                                    "between the braces.")
            self._parts.append(text[position:match.start()])
            self._parts.append(name)
            if name not in self.columns:
                self.columns.append(name)
            position = match.end()
        self._check_braces(text[position:])
        self._parts.append(text[position:])

    def _check_braces(self, literal: str) -> None:
        if "{{" in literal or "}}" in literal:
            snippet = literal.strip()[:40]
            raise SettingsError(f"Parameter '{self.field}' has unbalanced braces near '{snippet}': placeholders are "
                                "written {{column}}, with two braces on each side.")

    def check_columns(self, available: Iterable[str]) -> None:
        """Raises :class:`SettingsError` naming any placeholder that is not an input column."""
        available = list(available)
        if not self.columns:  # every row would get the same prompt: '{text}' is a placeholder written with one brace
            for match in _SINGLE_BRACES.finditer(self.text):
                if match.group(1) in available:
                    raise SettingsError(f"Parameter '{self.field}' has no {{{{column}}}} placeholder, so every row "
                                        f"would get the same prompt; '{{{match.group(1)}}}' names an input column: "
                                        f"write {{{{{match.group(1)}}}}}, with two braces on each side.")
        unknown = [name for name in dict.fromkeys(self.columns) if name not in available]
        if not unknown:
            return
        columns = f"Input columns: {', '.join(available[:30])}."
        if len(unknown) == 1:
            close = difflib.get_close_matches(unknown[0], available, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise SettingsError(f"Parameter '{self.field}': the placeholder {{{{{unknown[0]}}}}} names no input "
                                f"column.{hint} {columns}")
        described = []
        for name in unknown:  # every one at once, so that one fix is enough
            close = difflib.get_close_matches(name, available, n=1)
            described.append(f"{{{{{name}}}}}" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise SettingsError(f"Parameter '{self.field}': {len(unknown)} placeholders name no input column: "
                            f"{', '.join(described)}. {columns}")

    def render(self, row: Mapping[str, Any]) -> str:
        """The prompt for ``row``; :class:`EmptyValueError` when a placeholder's cell is null or empty."""
        out = []
        for index, part in enumerate(self._parts):
            if index % 2 == 0:
                out.append(part)
                continue
            text = format_value(row.get(part))
            if not text.strip():
                raise EmptyValueError(f"column '{part}' is empty")
            out.append(text)
        return "".join(out)


def format_value(value: Any) -> str:
    """A cell as prompt text: nulls become '', integral floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):  # a binary cell: its text, not Python's b'...' repr
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover - pandas is always there in DSS
        pass
    return str(value)
