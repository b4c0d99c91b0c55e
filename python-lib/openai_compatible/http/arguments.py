"""A call's arguments checked before anything is sent, with errors that say what to pass instead."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ..errors import InvalidArgumentError

_EXAMPLE = "[{'role': 'user', 'content': 'Hello'}]"


def checked_messages(messages: Any, call: str) -> list:
    """``messages`` as a list of chat messages (mappings with a ``role``); raises :class:`InvalidArgumentError`
    (a ``TypeError``) for a bare string or anything that is not a list of messages."""
    if type(messages) is list and all(type(message) is dict and message.get("role") for message in messages):
        return list(messages)  # the usual case, at no more cost than a copy (the checks below are the slow ones)
    if isinstance(messages, str):
        raise InvalidArgumentError(f"{call}() takes a list of messages, not a string: pass {_EXAMPLE} (for a single "
                                   "prompt, put it in one user message).")
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
        raise InvalidArgumentError(f"{call}() takes a list of messages like {_EXAMPLE}, not "
                                   f"{type(messages).__name__}.")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or not message.get("role"):
            raise InvalidArgumentError(f"{call}(): message {index} must be a dict with a 'role' and a 'content', "
                                       f"like {_EXAMPLE}; got {type(message).__name__}.")
    return list(messages)


def output_token_limit(max_output_tokens: Optional[int], max_tokens: Optional[int], call: str) -> Optional[int]:
    """The output cap of a call: ``max_output_tokens`` (the name the recipes and ``apply()`` use), or
    ``max_tokens`` (the OpenAI field's name, accepted too); giving both is an error."""
    if max_output_tokens is not None and max_tokens is not None:
        raise InvalidArgumentError(f"{call}(): give max_output_tokens or max_tokens (the same limit), not both.")
    value = max_output_tokens if max_output_tokens is not None else max_tokens
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgumentError(f"{call}(): max_output_tokens must be a whole number of at least 1, not {value!r}.")
    return value
