"""The LLM Mesh side of the plugin: a connection preset as a chat or embedding model of the Mesh.

DSS (14.1 and later) hands a ``python-llms`` component an LLM Mesh query and settings (the dicts that
``dataikuapi`` sends to ``/llms/completions``); this module turns them into OpenAI chat requests and
turns the answers back into what the Mesh expects. The components' ``llm.py`` files only forward to
:class:`MeshChatModel` and :class:`MeshEmbeddingModel`; nothing here imports ``dataiku``.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator, Mapping, Optional, Sequence

from .client import Client
from .content import content_text
from .errors import BadRequestError, OpenAICompatibleError, SettingsError
from .ratelimit import estimate_tokens
from .reasoning import checked_effort
from .results import ChatResult

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


def _annotate(trace: Any, **attributes: Any) -> None:
    """Adds attributes to the Mesh's trace span when there is one (never fails the call)."""
    target = getattr(trace, "attributes", None)
    if isinstance(target, dict):
        target.update({k: v for k, v in attributes.items() if v is not None})


def _trace_reasoning(trace: Any, result: ChatResult) -> None:
    """Puts a reasoning model's thinking in the trace span's ``outputs`` (``reasoning``) and its token count in
    the attributes: the span is dataikuapi's ``SpanBuilder`` (``dss/llm_tracing/__init__.py``: ``inputs``,
    ``outputs`` and ``attributes`` dicts), which DSS shows in the trace explorer. The answer stays free of it."""
    outputs = getattr(trace, "outputs", None)
    if result.reasoning and isinstance(outputs, dict):
        outputs["reasoning"] = result.reasoning
    _annotate(trace, reasoningTokens=result.usage.reasoning_tokens)


# --- the models -----------------------------------------------------------------------------------

class MeshChatModel:
    """A chat model of the LLM Mesh backed by one model of a connection.

    ``process`` answers ``{"text", "finishReason", "promptTokens", "completionTokens", "totalTokens"}``
    (plus ``toolCalls`` and ``logProbs`` when there are); ``process_stream`` yields text chunks, then a
    tool-call chunk if any, then a footer with usage and finish reason. Errors are the library's
    exceptions, whose message carries the provider's own words and whose ``kind`` says what failed.
    """

    def __init__(self, client: Client, model: str, reasoning_effort: Optional[str] = None) -> None:
        if not model or not str(model).strip():
            raise SettingsError("Parameter 'model' is empty: give the model ID (as the provider names it) this "
                                "LLM Mesh model should call.")
        self.client = client
        self.model = str(model).strip()
        self.reasoning_effort = checked_effort(reasoning_effort)
        self.client.endpoint_for(self.model)  # an unknown model fails at set-up, not on the first query

    def _request(self, query: Mapping[str, Any], settings: Optional[Mapping[str, Any]]) -> tuple[list, dict]:
        messages = mesh_messages(query)
        options, skipped = mesh_options(settings, messages)
        if self.reasoning_effort:
            options["reasoning_effort"] = self.reasoning_effort
        if skipped:
            log.info("LLM Mesh settings not sent to the provider: %s",
                     ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items())))
        return messages, options

    def process(self, query: Mapping[str, Any], settings: Optional[Mapping[str, Any]] = None,
                trace: Any = None) -> dict:
        """One completion, as the Mesh's ``BaseLLM.process`` returns it."""
        messages, options = self._request(query, settings)
        result = self._chat(messages, options, settings)
        response: dict[str, Any] = {"text": result.text or "", "finishReason": result.finish_reason}
        response.update(mesh_usage(result, messages))
        calls = mesh_tool_calls(result.tool_calls)
        if calls:
            response["toolCalls"] = calls
        if options.get("logprobs"):
            probs = mesh_log_probs(result.logprobs)
            if probs is not None:
                response["logProbs"] = probs
        _annotate(trace, model=self.model, providerModel=result.model, latencyMs=round(result.latency_ms, 1),
                  finishReason=result.finish_reason)
        _trace_reasoning(trace, result)
        return response

    def _chat(self, messages: list, options: dict, settings: Optional[Mapping[str, Any]]) -> ChatResult:
        try:
            return self.client.chat(messages, model=self.model, **options)
        except BadRequestError as exc:
            if not (_json_if_supported(settings) and "response_format" in options):
                raise
            log.info("The provider refused JSON output (%s); answering without it (responseFormat.ifSupported).",
                     exc.kind)
            options = {k: v for k, v in options.items() if k != "response_format"}
            return self.client.chat(messages, model=self.model, **options)

    def process_stream(self, query: Mapping[str, Any], settings: Optional[Mapping[str, Any]] = None,
                       trace: Any = None) -> Iterator[dict]:
        """Text chunks, then a footer: the Mesh's ``BaseLLM.process_stream``. When the provider can't
        stream (preset 'streaming' = no, or it refuses), the whole answer comes as one chunk."""
        messages, options = self._request(query, settings)
        options.pop("logprobs", None)
        options.pop("top_logprobs", None)  # streams carry no log probs here
        stream = self.client.stream(messages, model=self.model, **options)
        for piece in stream:
            if piece:
                yield {"chunk": {"text": piece}}
        result = stream.result or ChatResult(text="")
        calls = mesh_tool_calls(result.tool_calls)
        if calls:
            yield {"chunk": {"toolCalls": calls}}
        footer: dict[str, Any] = {"finishReason": result.finish_reason}
        footer.update(mesh_usage(result, messages))
        _annotate(trace, model=self.model, providerModel=result.model, finishReason=result.finish_reason)
        _trace_reasoning(trace, result)
        yield {"footer": footer}


def _json_if_supported(settings: Optional[Mapping[str, Any]]) -> bool:
    fmt = (settings or {}).get("responseFormat")
    return isinstance(fmt, Mapping) and bool(fmt.get("ifSupported"))


OVERFLOW_MODES = {"FAIL": "error", "TRUNCATE": "truncate"}


class MeshEmbeddingModel:
    """A text embedding model of the LLM Mesh: ``{"queries": [{"text"}]}`` ->
    ``{"responses": [{"embedding"} | {"errorMessage", ...}]}`` (a single ``{"text"}`` gives
    ``{"embedding"}``).

    Answers per item, as DSS's embedding response does (dataikuapi ``get_embeddings()`` reads
    ``embedding`` or ``errorMessage`` from each response): one text the model refuses, or one image,
    gets its own error and the others their vectors; only a query where every item failed raises.
    ``settings["textOverflowMode"]`` (``FAIL``, the default, or ``TRUNCATE``; dataikuapi
    ``new_embeddings(text_overflow_mode=...)`` sends it with every query) decides what a text too long
    for the model becomes: an error, or the vector of its longest accepted beginning."""

    def __init__(self, client: Client, model: str, batch_size: int = EMBEDDING_BATCH) -> None:
        if not model or not str(model).strip():
            raise SettingsError("Parameter 'model' is empty: give the embedding model ID (as the provider names it).")
        self.client = client
        self.model = str(model).strip()
        self.batch_size = max(1, int(batch_size))
        self.client.endpoint_for(self.model)
        self._tasks: dict[str, Any] = {}

    def _task(self, settings: Optional[Mapping[str, Any]]) -> Any:
        from .tasks.embed import EmbedSpec, EmbedTask

        mode = str((settings or {}).get("textOverflowMode") or "FAIL").upper()
        if mode not in OVERFLOW_MODES:
            raise SettingsError(f"Setting 'textOverflowMode' is '{mode}': use FAIL or TRUNCATE.")
        if mode not in self._tasks:
            spec = EmbedSpec(model=self.model, text_column="text", batch_size=self.batch_size,
                             too_long=OVERFLOW_MODES[mode])
            self._tasks[mode] = EmbedTask(spec, ["text"])
        return self._tasks[mode]

    def process(self, query: Mapping[str, Any], settings: Optional[Mapping[str, Any]] = None,
                trace: Any = None) -> dict:
        """Embeddings (or per-item errors) for every item of the query, in order."""
        if not isinstance(query, Mapping):
            raise SettingsError("The embedding query must be an object with 'queries' (or 'text').")
        task = self._task(settings)
        if "queries" not in query and "text" in query:
            answer = self._embed(task, [self._text(query, 0)])[0]
            if isinstance(answer, Exception):
                raise answer
            return {"embedding": answer["embedding"]}
        queries = query.get("queries")
        if not isinstance(queries, list):
            raise SettingsError("The embedding query has no 'queries' list.")
        answers: list[Any] = [None] * len(queries)
        texts: dict[int, str] = {}
        for index, item in enumerate(queries):
            try:
                texts[index] = self._text(item, index)
            except SettingsError as exc:
                answers[index] = exc
        indexes = list(texts)
        for start in range(0, len(indexes), self.batch_size):
            batch = indexes[start:start + self.batch_size]
            for index, answer in zip(batch, self._embed(task, [texts[i] for i in batch])):
                answers[index] = answer
        failed = [a for a in answers if isinstance(a, Exception)]
        if answers and len(failed) == len(answers):
            raise failed[0]
        _annotate(trace, model=self.model, texts=len(queries), failed=len(failed))
        return {"responses": [error_summary(a) if isinstance(a, Exception) else {"embedding": a["embedding"]}
                              for a in answers]}

    def _text(self, item: Any, index: int) -> str:
        if not isinstance(item, Mapping):
            raise SettingsError(f"Embedding query {index} is not an object.")
        if item.get("inlineImage") is not None:
            raise SettingsError(f"Embedding query {index} holds an image: this connection embeds text only.")
        text = item.get("text")
        if not isinstance(text, str):
            raise SettingsError(f"Embedding query {index} has no 'text'.")
        return text

    def _embed(self, task: Any, texts: list[str]) -> list:
        """An answer dict or an exception per text; empty texts fail without a request."""
        answers: list[Any] = [None] * len(texts)
        sent = [i for i, t in enumerate(texts) if t.strip()]
        for i in range(len(texts)):
            if i not in sent:
                answers[i] = SettingsError(f"Embedding text {i} is empty: nothing to embed.")
        if sent:
            for i, answer in zip(sent, task.call_batch(self.client, [texts[i] for i in sent])):
                answers[i] = answer
        return answers



def error_summary(error: BaseException) -> dict:
    """What the Mesh shows for one failed item of a query: message (the provider's words), kind and HTTP status."""
    if isinstance(error, OpenAICompatibleError):
        return {"errorMessage": error.message, "errorType": error.kind,
                "errorCode": str(error.status) if error.status else error.kind}
    return {"errorMessage": f"{type(error).__name__}: {error}", "errorType": type(error).__name__,
            "errorCode": type(error).__name__}
