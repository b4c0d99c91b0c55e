"""The text of an OpenAI chat message's ``content``, whichever shape it has."""
from __future__ import annotations

from typing import Any, Mapping


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string as is; a list of content parts as the ``text`` of
    its text parts, joined without separator (image, audio and file parts have none); ``None`` or
    anything else as ``""``.

    The OpenAI API accepts both shapes in requests and some providers answer with parts too
    (https://platform.openai.com/docs/api-reference/chat/create, ``messages[].content``).
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content
                       if isinstance(part, Mapping) and isinstance(part.get("text"), str))
    return ""
