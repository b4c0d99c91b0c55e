"""LLM Mesh queries and settings to OpenAI chat requests, and OpenAI answers back to what the Mesh reads
(messages, options, tool calls, log-probabilities, usage, cost)."""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Optional, Sequence

from ..content import content_text
from ..errors import SettingsError
from ..pricing import estimated_cost
from ..ratelimit import estimate_tokens
from ..results import ChatResult, Usage

log = logging.getLogger("openai_compatible")

# LLM Mesh setting -> OpenAI chat option (passed through unchanged)
_DIRECT_SETTINGS = {"temperature": "temperature", "topP": "top_p", "presencePenalty": "presence_penalty",
                    "frequencyPenalty": "frequency_penalty", "logitBias": "logit_bias", "seed": "seed",
                    "topLogProbs": "top_logprobs"}
# settings the Mesh may send that OpenAI-compatible services have no field for
_IGNORED_SETTINGS = ("topK", "textOverflowMode", "context", "stream", "guardrails")
EMBEDDING_BATCH = 64


# --- queries -> OpenAI requests -------------------------------------------------------------------

def mesh_messages(query: Mapping[str, Any]) -> list[dict]:
    """The OpenAI chat messages of an LLM Mesh completion query.

    Handles plain messages (``content``), multipart messages (``parts``: TEXT, IMAGE_INLINE,
    IMAGE_URI), assistant tool calls (``toolCalls``) and tool outputs (``toolOutputs``). Messages
    that only make sense to DSS agents (memory fragments, tool validations) are left out.
    """
    if not isinstance(query, Mapping):
        raise SettingsError("The LLM Mesh query must be an object with 'messages'.")
    raw = query.get("messages")
    if not isinstance(raw, list) or not raw:
        raise SettingsError("The LLM Mesh query has no messages.")
    out: list[dict] = []
    for index, message in enumerate(raw):
        if not isinstance(message, Mapping):
            raise SettingsError(f"Message {index} of the query is not an object.")
        role = message.get("role") or "user"
        if role in ("memoryFragment", "toolValidationRequests", "toolValidationResponses"):
            continue
        if message.get("toolOutputs"):
            out.extend(_tool_output_messages(message["toolOutputs"], index))
            continue
        converted: dict[str, Any] = {"role": role}
        if message.get("parts") is not None:
            converted["content"] = _parts_content(message["parts"], index)
        else:
            content = message.get("content")
            converted["content"] = "" if content is None else (content if isinstance(content, str)
                                                               else json.dumps(content, ensure_ascii=False))
        if message.get("toolCalls"):
            converted["tool_calls"] = [_openai_tool_call(c, index) for c in message["toolCalls"]]
            if not converted["content"]:
                converted["content"] = None
        if role == "tool" and message.get("toolCallId"):
            converted["tool_call_id"] = str(message["toolCallId"])
        out.append(converted)
    if not out:
        raise SettingsError("The LLM Mesh query has no message an OpenAI-compatible model can read.")
    return out


def _parts_content(parts: Any, index: int) -> Any:
    if not isinstance(parts, list):
        raise SettingsError(f"Message {index}: 'parts' must be a list.")
    converted: list[dict] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        kind = str(part.get("type") or "TEXT").upper()
        if kind == "TEXT":
            converted.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "IMAGE_INLINE":
            data = part.get("inlineImage") or ""
            mime = part.get("imageMimeType") or "image/png"
            url = data if str(data).startswith("data:") else f"data:{mime};base64,{data}"
            converted.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "IMAGE_URI":
            converted.append({"type": "image_url", "image_url": {"url": str(part.get("imageUrl") or "")}})
        else:
            raise SettingsError(f"Message {index}: part type '{kind}' is not supported by OpenAI-compatible models "
                                "(TEXT, IMAGE_INLINE and IMAGE_URI are).")
    if all(p["type"] == "text" for p in converted):
        return "\n".join(p["text"] for p in converted)  # plain text: what every service accepts
    return converted


def _tool_output_messages(outputs: Any, index: int) -> list[dict]:
    if not isinstance(outputs, list):
        raise SettingsError(f"Message {index}: 'toolOutputs' must be a list.")
    messages = []
    for output in outputs:
        if not isinstance(output, Mapping) or not output.get("callId"):
            raise SettingsError(f"Message {index}: each tool output needs a 'callId'.")
        value = output.get("output")
        text = value if isinstance(value, str) else ("" if value is None else json.dumps(value, ensure_ascii=False))
        extra = [str(p.get("text") or "") for p in output.get("parts") or []
                 if isinstance(p, Mapping) and str(p.get("type") or "TEXT").upper() == "TEXT"]
        content = "\n".join([t for t in [text, *extra] if t])
        messages.append({"role": "tool", "tool_call_id": str(output["callId"]), "content": content})
    return messages


def _openai_tool_call(call: Any, index: int) -> dict:
    if not isinstance(call, Mapping):
        raise SettingsError(f"Message {index}: a tool call is not an object.")
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {"id": str(call.get("id") or ""), "type": call.get("type") or "function",
            "function": {"name": str(function.get("name") or ""), "arguments": arguments}}


def mesh_options(settings: Optional[Mapping[str, Any]], messages: list[dict]) -> tuple[dict, dict]:
    """The chat options for LLM Mesh ``settings``, and what was left out (``{setting: reason}``).

    Returns ``(options, skipped)``; ``options`` holds keyword arguments of :meth:`Client.chat`
    (``max_tokens``, ``response_format``, ``stop``, ``tools``...). A JSON output without a schema also
    adds an instruction to the messages when none of them mentions JSON (services require it).
    """
    settings = dict(settings or {})
    options: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key in _DIRECT_SETTINGS:
            options[_DIRECT_SETTINGS[key]] = value
        elif key == "maxOutputTokens":
            if value:
                options["max_tokens"] = int(value)
        elif key == "stopSequences":
            stops = [value] if isinstance(value, str) else [s for s in value if s]
            if stops:
                options["stop"] = stops
        elif key == "logProbs":
            if value:
                options["logprobs"] = True
        elif key == "tools":
            if value:
                options["tools"] = [_openai_tool(t) for t in value]
        elif key == "toolChoice":
            choice = _tool_choice(value)
            if choice is not None:
                options["tool_choice"] = choice
        elif key == "responseFormat":
            fmt = _response_format(value, messages)
            if fmt is not None:
                options["response_format"] = fmt
        elif key in _IGNORED_SETTINGS:
            skipped[key] = "not an OpenAI chat setting"
        else:
            skipped[key] = "unknown to this plugin"
    if "top_logprobs" in options:
        options["logprobs"] = True  # services require both
    if "tool_choice" in options and "tools" not in options:
        del options["tool_choice"]  # a choice without tools is refused by every service
    return options, skipped


def _openai_tool(tool: Any) -> dict:
    if not isinstance(tool, Mapping):
        raise SettingsError("Each tool of 'tools' must be an object in the OpenAI function format.")
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return {"type": "function", "function": dict(tool["function"])}
    if tool.get("name"):  # a bare function definition
        return {"type": "function", "function": dict(tool)}
    raise SettingsError("Each tool of 'tools' must look like {\"type\": \"function\", \"function\": {\"name\": ...}}.")


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice if choice in ("auto", "required", "none") else {"type": "function",
                                                                      "function": {"name": choice}}
    if not isinstance(choice, Mapping):
        return None
    kind = str(choice.get("type") or "auto").lower()
    if kind in ("auto", "required", "none"):
        return kind
    name = choice.get("name") or (choice.get("function") or {}).get("name")
    if name:
        return {"type": "function", "function": {"name": str(name)}}
    return None


def _response_format(value: Any, messages: list[dict]) -> Optional[dict]:
    if not isinstance(value, Mapping):
        return None
    kind = str(value.get("type") or "").lower()
    if kind in ("", "text"):
        return None
    schema = value.get("schema")
    if isinstance(schema, str) and schema.strip():
        try:
            schema = json.loads(schema)
        except ValueError:
            raise SettingsError("responseFormat.schema is not valid JSON.") from None
    if isinstance(schema, Mapping) and schema:
        spec: dict[str, Any] = {"name": "response", "schema": dict(schema)}
        if value.get("strict"):
            spec["strict"] = True
            if value.get("compatible") is not False and schema.get("type") == "object" and "properties" in schema:
                spec["schema"].setdefault("required", list(schema["properties"]))
                spec["schema"].setdefault("additionalProperties", False)
        return {"type": "json_schema", "json_schema": spec}
    if not any("json" in content_text(m.get("content")).lower() for m in messages):
        messages.append({"role": "system", "content": "Answer with a JSON object."})
    return {"type": "json_object"}


# --- answers -> LLM Mesh responses ----------------------------------------------------------------

def mesh_tool_calls(tool_calls: Optional[Sequence[Any]]) -> list[dict]:
    """Tool calls in the Mesh's format (OpenAI's, arguments as a JSON string); stream fragments
    (``index``-keyed deltas) are merged into whole calls."""
    merged: dict[Any, dict] = {}
    order: list[Any] = []
    for position, call in enumerate(tool_calls or []):
        if not isinstance(call, Mapping):
            continue
        key = call.get("index", f"#{position}")
        function = call.get("function") or {}
        if key not in merged:
            merged[key] = {"type": call.get("type") or "function", "id": call.get("id") or "",
                           "function": {"name": function.get("name") or "", "arguments": ""}}
            order.append(key)
        target = merged[key]
        if call.get("id") and not target["id"]:
            target["id"] = call["id"]
        if function.get("name") and not target["function"]["name"]:
            target["function"]["name"] = function["name"]
        arguments = function.get("arguments")
        if arguments is not None:
            target["function"]["arguments"] += (arguments if isinstance(arguments, str)
                                                else json.dumps(arguments, ensure_ascii=False))
    return [merged[k] for k in order]


def mesh_log_probs(logprobs: Any) -> Optional[list]:
    """OpenAI ``choices[0].logprobs`` as a list of ``{token, logProb, topLogProbs}``."""
    items = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        entry = {"token": item.get("token"), "logProb": item.get("logprob")}
        if item.get("top_logprobs"):
            entry["topLogProbs"] = [{"token": t.get("token"), "logProb": t.get("logprob")}
                                    for t in item["top_logprobs"] if isinstance(t, Mapping)]
        out.append(entry)
    return out


def mesh_usage(result: ChatResult, messages: Sequence[Mapping[str, Any]]) -> dict:
    """Token counts for the Mesh: the provider's, else an estimate flagged ``tokenCountsAreEstimated``.
    ``reasoningTokens`` is one of the footer keys the Mesh client sums up (dataikuapi
    ``dss/llm_utils/__init__.py``, ``_footer_attributes``), sent when the provider reports it."""
    usage = result.usage
    if usage.prompt_tokens is not None or usage.completion_tokens is not None:
        prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        counts = {"promptTokens": prompt, "completionTokens": completion,
                  "totalTokens": usage.total_tokens if usage.total_tokens is not None else prompt + completion}
        if usage.reasoning_tokens is not None:
            counts["reasoningTokens"] = usage.reasoning_tokens
        return counts
    chars = sum(len(content_text(m.get("content"))) for m in messages)
    prompt = estimate_tokens(chars)
    completion = estimate_tokens(len(result.text or "")) if result.text else 0
    return {"promptTokens": prompt, "completionTokens": completion, "totalTokens": prompt + completion,
            "tokenCountsAreEstimated": True}


def mesh_cost(prices: tuple, model: str, usage: Mapping[str, Any]) -> dict:
    """``{"estimatedCost": ...}`` from the preset's price for ``model`` and the Mesh token counts, or ``{}``
    without a price. DSS's cost tracking reads ``estimatedCost`` from a completion response and a stream footer
    (dataikuapi ``dss/llm_utils`` ``_footer_attributes``; summed from raw responses in ``dss/langchain/llm.py``)."""
    cost = estimated_cost(prices, model, Usage(usage.get("promptTokens"), usage.get("completionTokens")))
    return {} if cost is None else {"estimatedCost": cost}


def annotate_trace(trace: Any, **attributes: Any) -> None:
    """Adds attributes to the Mesh's trace span when there is one (never fails the call)."""
    target = getattr(trace, "attributes", None)
    if isinstance(target, dict):
        target.update({k: v for k, v in attributes.items() if v is not None})
