"""Load JSON that may carry // and /* */ comments, as DSS accepts in descriptors (strict JSON otherwise)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localdss.errors import ConfigError


def strip_comments(text: str) -> str:
    """Remove comments outside string literals, keeping line breaks so error positions stay right."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
        elif ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def load_jsonc(path: Path, what: str) -> Any:
    """Parse a JSON file (comments allowed); a missing or malformed file is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}")
    try:
        return json.loads(strip_comments(text))
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc}")


def load_json_object(path: Path, what: str) -> dict[str, Any]:
    """Like load_jsonc, but the document must be a JSON object."""
    value = load_jsonc(path, what)
    if not isinstance(value, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object, not {type(value).__name__}")
    return value
