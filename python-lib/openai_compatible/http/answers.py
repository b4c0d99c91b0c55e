"""Reading the provider's answers: a chat completion and a list of embedding vectors, leniently."""
from __future__ import annotations

import base64
import struct
from typing import Optional

from ..content import content_text
from ..errors import ContentFilterError, InvalidResponseError
from ..finish import finish_error, normalise
from ..reasoning import checked_budget, split_message
from ..results import ChatResult, Usage


def parse_chat(data: dict, where: str) -> ChatResult:
    """The :class:`ChatResult` of a chat completion body (its first choice); text parts are joined, reasoning
    is split from the answer. Raises :class:`InvalidResponseError` without a choice or message,
    :class:`~openai_compatible.reasoning.ReasoningBudgetError` when reasoning used the whole output limit, and
    the error of a refusal or of a finish reason that is not an answer (see :mod:`openai_compatible.finish`)."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponseError(f"{where}: the answer has no 'choices'.")
    choice = choices[0]
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise InvalidResponseError(f"{where}: the answer's message is not an object.")
    refused(message.get("refusal"), where)
    tool_calls = message.get("tool_calls") or None
    reason = normalise(choice.get("finish_reason"), bool(tool_calls))
    error = finish_error(reason, where)
    if error is not None:
        raise error
    text, reasoning = split_message(message, content_text(message.get("content")))
    return checked_budget(ChatResult(
        text=text,
        finish_reason=reason,
        usage=Usage.from_dict(data.get("usage")),
        model=data.get("model"),
        raw=data,
        tool_calls=tool_calls,
        logprobs=choice.get("logprobs"),
        reasoning=reasoning,
    ), where)


def refused(refusal: object, where: str) -> None:
    """Raises :class:`ContentFilterError` when the model declined (``refusal``, structured outputs:
    https://platform.openai.com/docs/guides/structured-outputs); its words are the message."""
    if isinstance(refusal, str) and refusal.strip():
        raise ContentFilterError(f"{where}: the model refused to answer: {refusal.strip()}", code="refusal",
                                 provider_message=refusal.strip())


def parse_embeddings(data: dict, expected: int, where: str) -> list[list[float]]:
    """``expected`` vectors in input order (by each item's ``index``); base64 float32 vectors are decoded.
    Raises :class:`InvalidResponseError` for a missing, misplaced or non-numeric vector."""
    items = data.get("data")
    if not isinstance(items, list) or len(items) != expected:
        got = len(items) if isinstance(items, list) else "no"
        raise InvalidResponseError(f"{where}: expected {expected} vectors, got {got}.")
    ordered: list[Optional[list[float]]] = [None] * expected
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidResponseError(f"{where}: a vector entry is not an object.")
        index = item.get("index", position)
        vector = item.get("embedding")
        if isinstance(vector, str):  # base64 of float32, from providers that ignore encoding_format
            try:
                raw = base64.b64decode(vector, validate=True)
                vector = list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
            except (ValueError, struct.error):  # binascii.Error is a ValueError
                raise InvalidResponseError(f"{where}: vector {position} is text, not numbers.") from None
        if (not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None
                or not isinstance(vector, list) or not vector
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector)):
            raise InvalidResponseError(f"{where}: vector {position} is missing, misplaced or not numbers.")
        ordered[index] = [float(v) for v in vector]
    return ordered  # type: ignore[return-value]
