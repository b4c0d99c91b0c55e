"""What this connection has learnt about its provider: which fields and features it refuses.

The client starts from the preset's compatibility switches and adapts once per problem when the
provider's 400 names it; what it learns lasts for the client's lifetime and is logged once.
"""
from __future__ import annotations

import json
import logging
import re
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
        self.json_word = False  # json_object needs the word "json" in the messages (Groq, OpenAI)
        self.dropped: set[str] = set()
        self.max_items: dict[str, int] = {}  # list fields the provider caps at a length (stop: 4 on Azure)
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

    def json_instructions(self, messages: list, requested: Optional[dict], sent: Optional[dict]) -> list:
        """The messages with what the model must read when the provider does not enforce the caller's JSON
        request: the schema itself when ``json_schema`` was asked but is not sent (issue 10 §2.8), and the word
        "json" that ``json_object`` requires of the prompt once the provider said so."""
        if not requested or requested.get("type") not in ("json_schema", "json_object"):
            return messages
        sent_type = (sent or {}).get("type")
        hint = ""
        if requested.get("type") == "json_schema" and sent_type != "json_schema":
            schema = (requested.get("json_schema") or {}).get("schema")
            if schema:
                hint = ("Answer with a JSON object following this JSON schema: "
                        + json.dumps(schema, ensure_ascii=False))
        if not hint and sent_type == "json_object" and self.json_word:
            if not any("json" in content_text(m.get("content")).lower() for m in messages):
                hint = "Answer with a JSON object."
        if not hint:
            return messages
        if messages and messages[0].get("role") in ("system", "developer") and isinstance(
                messages[0].get("content"), str):
            return [dict(messages[0], content=f"{messages[0]['content']}\n\n{hint}")] + messages[1:]
        return self.map_messages([{"role": "system", "content": hint}] + messages)

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Removes the fields this provider refuses, and shortens the lists it caps."""
        for name in self.dropped:
            payload.pop(name, None)
        for name, limit in self.max_items.items():
            if isinstance(payload.get(name), list) and len(payload[name]) > limit:
                payload[name] = payload[name][:limit]
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
            if ("response_format" in payload and "json" in text and "messages" in text
                    and payload["response_format"].get("type") == "json_object"):
                # "'messages' must contain the word 'json'" (Groq, OpenAI): a precondition of json_object mode,
                # met by saying it in the prompt; the mode stays (console.groq.com/docs/structured-outputs)
                if self.json_word:
                    return False
                self.json_word = True
                return self._learn("json_object mode needs the word 'json' in the prompt: the request now asks "
                                   "for a JSON object in words too")
            if "response_format" in payload and (param == "response_format" or "response_format" in text
                                                 or "response format" in text or "json_schema" in text
                                                 or "json_object" in text):
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
            kind = refusal_kind(error)
            if kind == "value" and param in payload:
                return self._fix_value(error, param, payload, text)
            if kind == "precondition":
                return False  # the field is accepted; another field's value decides: nothing to learn
            if param and param in payload and param not in _NEVER_DROP and param not in self.dropped:
                self.dropped.add(param)
                return self._learn(f"the provider refuses the parameter '{param}': it is no longer sent "
                                   "on this connection")
        return False

    def _fix_value(self, error: BadRequestError, param: str, payload: dict[str, Any], text: str) -> bool:
        """Fixes a value the provider refused when its message says how (a list above a maximum length is
        cut to that length, keeping the first items); False otherwise. The field itself is kept."""
        value = payload.get(param)
        limit = _max_length(f"{text} {_details_words(error.body)}".lower())
        if isinstance(value, list) and limit is not None and 0 < limit < len(value) and param not in self.max_items:
            self.max_items[param] = limit
            return self._learn(f"the provider accepts at most {limit} items in '{param}': only the first {limit} "
                               f"are sent (dropped: {json.dumps(value[limit:], ensure_ascii=False)})")
        return False

    def _learn(self, what: str) -> bool:
        self.learnt.append(what)
        log.warning("Compatibility: %s.", what)
        return True


# How a 400 tells what it refuses (issue 10 §2.9): the field itself (drop it), one value of it (fix the value,
# keep the field), or a value that needs another field set (nothing to learn about the field). OpenAI's codes
# (https://platform.openai.com/docs/guides/error-codes): unsupported_parameter / unknown_parameter versus
# invalid_value, array_above_max_length, integer_above_max_value...; pydantic servers say extra_forbidden.
_UNSUPPORTED = ("unsupported_parameter", "unknown_parameter", "unrecognized request argument", "extra_forbidden",
                "extra inputs are not permitted", "unsupported parameter", "unknown field", "unknown name",
                "is not supported", "not supported with this model", "does not support")
_VALUE = ("invalid_value", "array_above_max_length", "array_below_min_length", "integer_above_max_value",
          "integer_below_min_value", "decimal_above_max_value", "decimal_below_min_value",
          "string_above_max_length", "array too long", "invalid value", "must be less than",
          "must be greater than", "must be between", "out of range", "maximum length", "is not one of",
          "too_long", "too_short", "less_than_equal", "greater_than_equal", "literal_error", "enum ",
          "should have at most")
_PRECONDITION = ("only allowed when", "only supported when", "requires", "must be set", "must be true when",
                 "can only be", "when using", "is required when")


def refusal_kind(error: BadRequestError) -> Optional[str]:
    """``"unsupported"``, ``"value"`` or ``"precondition"`` for a 400 that blames a field, from its code, type
    and words; None when it does not say."""
    words = " ".join(str(v or "") for v in (error.code, error.error_type, error.provider_message,
                                            _details_words(error.body))).lower()
    for kind, markers in (("unsupported", _UNSUPPORTED), ("value", _VALUE), ("precondition", _PRECONDITION)):
        if any(marker in words for marker in markers):
            return kind
    return None


def _details_words(body: Optional[str]) -> str:
    """The ``type`` and ``msg`` of a validation error's ``details`` (pydantic servers, Azure AI Foundry), where
    the refusal is said when the message is generic ("invalid input error")."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return ""
    if isinstance(data, list) and data:  # Google's one-element list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else data
    words: list[str] = []
    while isinstance(err, dict):  # the error, and the upstream's error a gateway's wrapper holds
        for key in ("details", "detail"):  # a null "details" leaves "detail" its say
            if isinstance(err.get(key), list):
                words += [f"{d.get('type', '')} {d.get('msg', '')}" for d in err[key] if isinstance(d, dict)]
        err = err.get("error")
    return " ".join(words)


def _max_length(text: str) -> Optional[int]:
    """The maximum a refusal states ("maximum length 4", "at most 4", "up to 4")."""
    match = re.search(r"(?:maximum length(?: of)?|at most|up to|max(?:imum)? of)\s+(\d+)", text)
    return int(match.group(1)) if match else None
