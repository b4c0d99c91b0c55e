"""What a call returns: the answer's text with its finish reason, usage, model and timing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Usage:
    """Token counts as the provider reported them (None when it did not). ``reasoning_tokens`` is the part of
    ``completion_tokens`` the model spent reasoning (``completion_tokens_details.reasoning_tokens``,
    https://platform.openai.com/docs/api-reference/chat/object, ``usage``)."""

    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None

    @classmethod
    def from_dict(cls, raw: Any) -> Usage:
        if not isinstance(raw, dict):
            return cls()

        def count(key: str, source: Any = raw) -> Optional[int]:
            value = source.get(key) if isinstance(source, dict) else None
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        total = count("total_tokens")
        prompt, completion = count("prompt_tokens"), count("completion_tokens")
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return cls(prompt, completion, total, count("reasoning_tokens", raw.get("completion_tokens_details")))


@dataclass
class ChatResult:
    """One chat completion.

    ``text`` is the answer (``""`` when the provider sent none), ``finish_reason`` is ``stop``,
    ``length``, ``content_filter``, ``tool_calls`` or a provider's own value; ``raw`` is the parsed
    response body. ``reasoning`` is what a reasoning model thought before answering (never part of ``text``;
    None when the provider sent none), see :mod:`openai_compatible.reasoning`.
    """

    text: str
    finish_reason: Optional[str] = None
    usage: Usage = field(default_factory=Usage)
    model: Optional[str] = None
    latency_ms: float = 0.0
    raw: Any = None
    tool_calls: Optional[list] = None
    logprobs: Optional[Any] = None
    attempts: int = 1
    reasoning: Optional[str] = None

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"ChatResult(text={preview!r}, finish_reason={self.finish_reason!r}, model={self.model!r})"


@dataclass
class EmbeddingResult:
    """Vectors in input order, with usage."""

    vectors: list
    usage: Usage = field(default_factory=Usage)
    model: Optional[str] = None
    latency_ms: float = 0.0
