"""The LLM Mesh chat model: a Mesh completion query answered by one model of a connection, plain or streamed,
with the trace span filled in."""
from __future__ import annotations

import logging
from typing import Any, Iterator, Mapping, Optional

from ..client import Client
from ..errors import BadRequestError, SettingsError
from ..reasoning import checked_effort
from ..results import ChatResult
from .queries import annotate_trace, mesh_cost, mesh_log_probs, mesh_messages, mesh_options, mesh_tool_calls, mesh_usage

log = logging.getLogger("openai_compatible")


def _trace_reasoning(trace: Any, result: ChatResult) -> None:
    """Puts a reasoning model's thinking in the trace span's ``outputs`` (``reasoning``) and its token count in
    the attributes: the span is dataikuapi's ``SpanBuilder`` (``dss/llm_tracing/__init__.py``: ``inputs``,
    ``outputs`` and ``attributes`` dicts), which DSS shows in the trace explorer. The answer stays free of it."""
    outputs = getattr(trace, "outputs", None)
    if result.reasoning and isinstance(outputs, dict):
        outputs["reasoning"] = result.reasoning
    annotate_trace(trace, reasoningTokens=result.usage.reasoning_tokens)


# --- the models -----------------------------------------------------------------------------------

class MeshChatModel:
    """A chat model of the LLM Mesh backed by one model of a connection.

    ``process`` answers ``{"text", "finishReason", "promptTokens", "completionTokens", "totalTokens"}``
    (plus ``toolCalls`` and ``logProbs`` when there are, and ``estimatedCost`` when the preset prices the
    model); ``process_stream`` yields text chunks, then a tool-call chunk if any, then a footer with usage,
    cost and finish reason. Errors are the library's
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
        response.update(mesh_cost(self.client.settings.prices, self.model, response))
        calls = mesh_tool_calls(result.tool_calls)
        if calls:
            response["toolCalls"] = calls
        if options.get("logprobs"):
            probs = mesh_log_probs(result.logprobs)
            if probs is not None:
                response["logProbs"] = probs
        annotate_trace(trace, model=self.model, providerModel=result.model, latencyMs=round(result.latency_ms, 1),
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
        footer.update(mesh_cost(self.client.settings.prices, self.model, footer))
        annotate_trace(trace, model=self.model, providerModel=result.model, finishReason=result.finish_reason)
        _trace_reasoning(trace, result)
        yield {"footer": footer}


def _json_if_supported(settings: Optional[Mapping[str, Any]]) -> bool:
    fmt = (settings or {}).get("responseFormat")
    return isinstance(fmt, Mapping) and bool(fmt.get("ifSupported"))
