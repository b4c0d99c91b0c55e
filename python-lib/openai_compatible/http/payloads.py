"""Request bodies of the chat and embeddings calls, shaped by what the provider accepts."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..compat import Compatibility
from ..errors import SettingsError
from ..settings import Endpoint

CHAT_OPTIONS = ("temperature", "top_p", "stop", "seed", "n", "presence_penalty", "frequency_penalty",
                "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls", "user",
                "reasoning_effort")


def chat_body(compat: Compatibility, endpoint: Endpoint, messages: Sequence[Mapping[str, Any]],
              max_tokens: Optional[int], response_format: Optional[dict], options: Mapping[str, Any],
              stream: bool) -> dict:
    """The body of ``POST /chat/completions``: only the options set (see :data:`CHAT_OPTIONS`), the token
    limit under the field the provider accepts, system prompts in the role it accepts, ``response_format``
    adapted to the JSON mode; raises :class:`SettingsError` for an unknown option or no message."""
    unknown = [k for k in options if k not in CHAT_OPTIONS]
    if unknown:
        raise SettingsError(f"Unknown chat option(s): {', '.join(unknown)}. Known: {', '.join(CHAT_OPTIONS)}.")
    if not messages:
        raise SettingsError("chat() needs at least one message.")
    body: dict[str, Any] = {}
    if endpoint.model_in_body:
        body["model"] = endpoint.model_in_body
    fmt = compat.response_format(response_format)
    body["messages"] = compat.json_instructions(compat.map_messages([dict(m) for m in messages]),
                                                response_format, fmt)
    for key, value in options.items():
        if value is not None:
            body[key] = value
    if max_tokens is not None:
        body[compat.token_field] = int(max_tokens)
    if fmt:
        body["response_format"] = fmt
    if stream:
        body["stream"] = True
        if compat.stream_usage:
            body["stream_options"] = {"include_usage": True}
    return compat.apply(body)


def embeddings_body(compat: Compatibility, endpoint: Endpoint, texts: list[str], dimensions: Optional[int]) -> dict:
    """The body of ``POST /embeddings``: float vectors, ``dimensions`` when set."""
    body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
    if endpoint.model_in_body:
        body["model"] = endpoint.model_in_body
    if dimensions:
        body["dimensions"] = int(dimensions)
    return compat.apply(body)


def message_chars(messages: Iterable[Mapping[str, Any]]) -> int:
    """The size of the messages' content in characters (non-text content as JSON), for token estimates."""
    total = 0
    for message in messages:
        content = message.get("content")
        total += len(content) if isinstance(content, str) else len(json.dumps(content or ""))
    return total
