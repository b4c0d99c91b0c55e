"""A request as the fault server saw it, and the reading of message contents that answers and rules share."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional


def content_text(content: Any) -> str:
    """The text of a message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") in ("text", None))
    return ""


def last_user_text(messages: Any) -> str:
    """The text of the last user message ("" if there is none)."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def words(text: str) -> int:
    """Usage is counted in whitespace-separated words."""
    return len(text.split())


def inputs(value: Any) -> List[Any]:
    """Embedding inputs as a list: strings, or token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    return list(value) if isinstance(value, list) else []


@dataclasses.dataclass
class RecordedRequest:
    """One request as the server saw it. Header names are lower-case."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    raw: bytes
    body: Any  # parsed JSON, or None if absent or invalid
    route: Optional[str] = None  # "chat", "embeddings", "models" or None (unknown path)
    deployment: Optional[str] = None  # Azure deployment name
    fault: str = "ok"  # label of what it got
    client_port: int = 0  # the client's TCP port: equal ports mean a reused (keep-alive) connection
    number: int = 0  # 1 for the first request since start or ``reset()``, then 2, 3...: faults keyed on it are
    # deterministic however the requests interleave in time

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    @property
    def json(self) -> Dict[str, Any]:
        """The JSON body as a dict (empty if it was not an object)."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def model(self) -> Optional[str]:
        """The model asked for: the body's ``model``, else the Azure deployment."""
        model = self.json.get("model")
        return model if isinstance(model, str) else self.deployment

    @property
    def stream(self) -> bool:
        """True if the request asked for SSE."""
        return self.json.get("stream") is True

    @property
    def text(self) -> str:
        """The text answers echo and markers are looked for in: the last user message (chat) or
        all string inputs joined by newlines (embeddings)."""
        if self.route == "embeddings":
            return "\n".join(item for item in inputs(self.json.get("input")) if isinstance(item, str))
        return last_user_text(self.json.get("messages"))
