"""What this connection has learnt about its provider: which fields and features it refuses.

The client starts from the preset's compatibility switches and adapts once per problem when the
provider's 400 names it; what it learns lasts for the client's lifetime and is logged once.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from .content import content_text
from .errors import BadRequestError
from .reasoning import refuses_reasoning_effort
from .settings import ConnectionSettings

log = logging.getLogger("openai_compatible")

_NEVER_DROP = {"model", "messages", "input", "stream"}
_JSON_LADDER = ("json_schema", "json_object", "none")


def default_token_field(settings: ConnectionSettings) -> str:
    """The output-token field to send when the preset says ``auto``: ``max_completion_tokens`` when every
    endpoint is an Azure OpenAI deployment (Azure's newer models refuse ``max_tokens``), else ``max_tokens``."""
    if settings.endpoints and all(e.kind == "azure_deployment" for e in settings.endpoints):
        return "max_completion_tokens"
    return "max_tokens"


class Compatibility:
    """Thread-safe record of the provider's accepted fields, roles and features."""

    def __init__(self, settings: ConnectionSettings, default_token_field: str = "max_tokens") -> None:  # noqa: S107
        self._lock = threading.Lock()
        self.settings = settings
        self.token_field = (settings.max_tokens_field if settings.max_tokens_field != "auto"
                            else default_token_field)
        self.system_role = settings.system_role
        self.json_mode = settings.json_mode
        self.streaming = settings.streaming != "no"
        self.stream_usage = settings.stream_usage
        self.dropped: set[str] = set()
        self.learnt: list[str] = []

    # --- shaping requests ---------------------------------------------------------------------------

    def map_messages(self, messages: list) -> list:
        """Applies the system-role setting to system prompts (``system`` and ``developer`` messages alike):
        send them as ``system``, as ``developer``, or merge them into the first user message for providers
        that accept neither."""
        role = self.system_role
        if not any(m.get("role") in ("system", "developer") for m in messages):
            return messages
        if role in ("system", "developer"):
            other = "developer" if role == "system" else "system"
            return [dict(m, role=role) if m.get("role") == other else m for m in messages]
        system_texts = [content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
        rest = [m for m in messages if m.get("role") not in ("system", "developer")]
        preamble = "\n\n".join(t for t in system_texts if t)
        for index, message in enumerate(rest):
            if message.get("role") == "user":
                merged = f"{preamble}\n\n{content_text(message.get('content'))}" if preamble else message.get("content")
                return rest[:index] + [dict(message, content=merged)] + rest[index + 1:]
        return [{"role": "user", "content": preamble}] + rest

    def response_format(self, requested: Optional[dict]) -> Optional[dict]:
        """The ``response_format`` to send for the caller's request, given the JSON mode."""
        if not requested or requested.get("type") in (None, "text"):
            return requested or None
        mode = self.json_mode
        if mode == "none":
            return None
        if mode == "json_object" and requested.get("type") == "json_schema":
            return {"type": "json_object"}
        return requested

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Removes the fields this provider refuses."""
        for name in self.dropped:
            payload.pop(name, None)
        return payload

    # --- learning from refusals ---------------------------------------------------------------------

    def adapt(self, error: BadRequestError, payload: dict[str, Any]) -> bool:
        """Changes what is sent after a 400 that names a refused field; False when nothing can help."""
        param = error.param or ""
        text = (error.provider_message or "").lower()
        with self._lock:
            if "developer" in text and any(m.get("role") == "developer" for m in payload.get("messages", [])):
                self.system_role = "system"
                return self._learn("the provider refuses the 'developer' role: system prompts are now sent "
                                   "with the 'system' role (set 'system_role' to 'system' in the preset)")
            if param in ("max_tokens", "max_completion_tokens") and param in payload:
                if self.settings.max_tokens_field != "auto":
                    return False
                other = "max_completion_tokens" if param == "max_tokens" else "max_tokens"
                self.token_field = other
                return self._learn(f"the provider refuses '{param}': the output token limit is now sent as "
                                   f"'{other}' (set 'max_tokens_field' to '{other}' in the preset)")
            if payload.get("stream") and (param == "stream" or ("stream" in text and param != "stream_options")):
                if self.settings.streaming != "auto":
                    return False
                self.streaming = False
                return self._learn("the provider refuses streaming: answers are now fetched in one piece "
                                   "(set 'streaming' to 'no' in the preset)")
            if param == "stream_options" or ("stream_options" in text and "stream_options" in payload):
                self.stream_usage = False
                self.dropped.add("stream_options")
                return self._learn("the provider refuses 'stream_options': streams no longer ask for usage "
                                   "(turn 'stream_usage' off in the preset)")
            if "response_format" in payload and (param == "response_format" or "response_format" in text
                                                 or "json_schema" in text or "json_object" in text):
                if self.settings.json_mode != "auto":
                    return False
                current = payload["response_format"].get("type", "json_schema")
                later = _JSON_LADDER[_JSON_LADDER.index(current) + 1:] if current in _JSON_LADDER else ("none",)
                self.json_mode = later[0] if later else "none"
                return self._learn(f"the provider refuses response_format '{current}': JSON output now uses "
                                   f"'{self.json_mode}' (set 'json_mode' accordingly in the preset)")
            if refuses_reasoning_effort(error, payload) and "reasoning_effort" not in self.dropped:
                self.dropped.add("reasoning_effort")
                return self._learn("the provider or model refuses 'reasoning_effort': it is no longer sent on "
                                   "this connection (leave the option empty for this model)")
            if param and param in payload and param not in _NEVER_DROP and param not in self.dropped:
                self.dropped.add(param)
                return self._learn(f"the provider refuses the parameter '{param}': it is no longer sent "
                                   "on this connection")
        return False

    def _learn(self, what: str) -> bool:
        self.learnt.append(what)
        log.warning("Compatibility: %s.", what)
        return True
