"""Streaming: does the service stream answers as server-sent events, and report usage at their end."""
from __future__ import annotations

from typing import Any

from ..client import Client
from ..errors import APIConnectionError, BadRequestError, InvalidResponseError
from ..reasoning import ReasoningBudgetError
from .context import PING, CheckContext
from .explain import provider_words


def check_streaming(ctx: CheckContext) -> None:
    """A short streamed chat, forced on whatever the preset says."""
    name, label, model = "streaming", "Streaming", ctx.probe_model
    configured = ctx.settings.streaming

    def consume(client: Client) -> Any:
        stream = client.stream(PING, model=model, max_tokens=3)
        pieces: list = []
        try:
            pieces.extend(stream)
        except ReasoningBudgetError:
            pass  # a reasoning model thought through the 3 tokens: the stream itself worked
        return pieces, stream.result

    value, error, latency = ctx.call(consume, streaming="yes", stream_usage=False)
    ctx.streaming_refused = error is not None
    if error is None:
        pieces, result = value
        if result is not None and result.raw is not None:
            ctx.add(name, label, "warn", "The service ignores streaming requests and answers in one piece; streamed "
                                         "calls still work, token by token display doesn't.",
                    "set 'streaming' to 'no'" if configured != "no" else "", latency_ms=latency, model=model)
            return
        note = "" if configured != "no" else "set 'streaming' to 'auto' to stream (optional)"
        ctx.add(name, label, "ok", f"The service streams answers token by token ({len(pieces)} piece(s) received, "
                                   "ended with [DONE]).", note, latency_ms=latency, model=model)
    elif isinstance(error, BadRequestError):
        status = "fail" if configured == "yes" else ("warn" if configured == "auto" else "ok")
        meaning = "The service refuses streaming requests."
        if configured == "auto":
            meaning += " The client falls back to one-piece answers after the first refusal."
        elif configured == "no":
            meaning += " The preset already doesn't stream."
        ctx.add(name, label, status, meaning, "set 'streaming' to 'no'" if configured != "no" else "",
                latency_ms=latency, model=model, detail=provider_words(error))
    elif isinstance(error, (InvalidResponseError, APIConnectionError)):  # timeouts included
        ctx.add(name, label, "fail" if configured != "no" else "warn",
                "Streams break on the way (no proper end, a cut connection or a stall): a proxy or gateway probably "
                f"buffers or cuts server-sent events ({provider_words(error)}).",
                "set 'streaming' to 'no'" if configured != "no" else "",
                latency_ms=latency, model=model, detail=provider_words(error))
    else:
        ctx.could_not_test(name, label, "streaming", error, latency, model)


def check_stream_usage(ctx: CheckContext) -> None:
    """A short streamed chat asking for usage (``stream_options.include_usage``)."""
    name, label, model = "stream_usage", "Usage in streams", ctx.probe_model
    if ctx.streaming_refused:
        ctx.add(name, label, "skipped", "Streaming doesn't work, so usage in streams doesn't matter.", model=model)
        return

    def consume(client: Client) -> Any:
        stream = client.stream(PING, model=model, max_tokens=3)
        try:
            list(stream)
        except ReasoningBudgetError:
            pass  # as in the streaming check: thinking used the probe's limit, usage still came
        return stream.result

    result, error, latency = ctx.call(consume, streaming="yes", stream_usage=True)
    asked = ctx.settings.stream_usage
    configured = asked and ctx.settings.streaming != "no"
    if error is None:
        if result is not None and result.usage.total_tokens is not None:
            ctx.add(name, label, "ok", "The service reports token usage at the end of streams.",
                    "" if asked else "turn 'stream_usage' on (optional)", latency_ms=latency, model=model)
        else:
            ctx.add(name, label, "warn", "The service accepts stream_options but reports no usage at the end of "
                                         "streams: token counts of streamed calls will be empty.",
                    "turn 'stream_usage' off (nothing is lost)" if asked else "", latency_ms=latency, model=model)
    elif isinstance(error, BadRequestError):
        ctx.add(name, label, "fail" if configured else "ok",
                "The service refuses stream_options (include_usage)"
                + (": every streamed call fails until it is turned off." if configured
                   else "; the preset doesn't ask for it."),
                "turn 'stream_usage' off" if configured else "", latency_ms=latency, model=model,
                detail=provider_words(error))
    else:
        ctx.could_not_test(name, label, "usage in streams", error, latency, model)
