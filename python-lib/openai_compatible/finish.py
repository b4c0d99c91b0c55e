"""What an answer's ``finish_reason`` makes of it: an answer, an answer cut at the output limit, or an error.

One table for every value providers send, read by the client (which raises for the errors, so a partial
text is never returned as the answer nor cached) and by the tasks (which read stored answers).

Sources of the values beside the table: the OpenAI API reference (``stop``, ``length``, ``tool_calls``,
``content_filter``, ``function_call``), OpenRouter's normalised ``error``
(https://openrouter.ai/docs/api-reference/errors), Together's ``eos`` (vibrantlabsai/ragas#1548), TGI's
``eos_token`` before 2.2.1 (huggingface/text-generation-inference#2296), Anthropic's ``end_turn``,
``stop_sequence``, ``max_tokens`` and ``tool_use`` (https://docs.anthropic.com/en/api/messages), Gemini's
``STOP``, ``MAX_TOKENS``, ``SAFETY``, ``RECITATION`` (https://ai.google.dev/api/generate-content#FinishReason),
vLLM's ``abort`` (vllm/entrypoints/openai/protocol.py) and DeepSeek's ``insufficient_system_resource``.
"""
from __future__ import annotations

from typing import Optional

from .errors import ContentFilterError, OpenAICompatibleError, ServerError

ANSWER = "answer"          # a complete answer
TRUNCATED = "truncated"    # an answer cut at the output token limit: kept, flagged by finish_reason "length"
FILTERED = "filtered"      # withheld or cut by the provider's content filter: a row error
FAILED = "failed"          # the provider failed while generating: a retryable row error

# provider value (lower case) -> (the value the library reports, what the answer becomes)
_TABLE = {
    "stop": ("stop", ANSWER),
    "eos": ("stop", ANSWER),
    "eos_token": ("stop", ANSWER),
    "end_turn": ("stop", ANSWER),
    "stop_sequence": ("stop", ANSWER),
    "length": ("length", TRUNCATED),
    "max_tokens": ("length", TRUNCATED),
    "model_length": ("length", TRUNCATED),
    "tool_calls": ("tool_calls", ANSWER),
    "tool_use": ("tool_calls", ANSWER),
    "function_call": ("tool_calls", ANSWER),
    "content_filter": ("content_filter", FILTERED),
    "safety": ("content_filter", FILTERED),
    "recitation": ("content_filter", FILTERED),
    "prohibited_content": ("content_filter", FILTERED),
    "blocklist": ("content_filter", FILTERED),
    "error": ("error", FAILED),
    "abort": ("error", FAILED),  # vLLM, a request aborted by the engine
    "insufficient_system_resource": ("error", FAILED),  # DeepSeek: https://api-docs.deepseek.com/api/create-chat-completion
}


def normalise(reason: Optional[str], has_tool_calls: bool = False) -> Optional[str]:
    """The finish reason as the library reports it: a provider's synonym becomes the OpenAI value, and an
    answer that carries tool calls but says ``stop`` (or nothing) says ``tool_calls`` (ollama/ollama#7963).
    An unknown value is kept as sent."""
    if not isinstance(reason, str) or not reason:
        return "tool_calls" if has_tool_calls and reason is None else reason
    value = _TABLE.get(reason.lower(), (reason, ANSWER))[0]
    if has_tool_calls and value == "stop":
        return "tool_calls"
    return value


def outcome(reason: Optional[str]) -> str:
    """What an answer with this finish reason becomes: :data:`ANSWER`, :data:`TRUNCATED`, :data:`FILTERED`
    or :data:`FAILED` (an unknown or missing value is an answer)."""
    if not isinstance(reason, str):
        return ANSWER
    return _TABLE.get(reason.lower(), (reason, ANSWER))[1]


def is_truncated(reason: Optional[str]) -> bool:
    """Whether the answer was cut at the output token limit."""
    return outcome(reason) == TRUNCATED


def finish_error(reason: Optional[str], where: str, detail: str = "") -> Optional[OpenAICompatibleError]:
    """The error an answer with this finish reason is, or None when it is an answer (cut or not).

    :class:`ContentFilterError` for a filtered answer; a retryable :class:`ServerError` for ``error`` (the
    text before it is partial). ``detail`` adds the provider's words when it sent any.
    """
    kind = outcome(reason)
    prefix = f"{where}: " if where else ""
    extra = f" ({detail})" if detail else ""
    if kind == FILTERED:
        return ContentFilterError(f"{prefix}the provider's content filter withheld the answer "
                                  f"(finish_reason={reason}){extra}.", code="content_filter")
    if kind == FAILED:
        return ServerError(f"{prefix}the provider stopped with finish_reason=error{extra}; the partial text was "
                           "not kept as the answer.", code="finish_reason_error")
    return None
