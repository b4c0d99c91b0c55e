"""Streamed chat completions: the stream object a caller iterates, the accumulator that builds the final
result from the events, and the reader that turns an SSE response into events (or API errors)."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Optional

import requests

from ..content import content_text
from ..errors import APIConnectionError, APITimeoutError, InvalidResponseError
from ..finish import finish_error, normalise
from ..reasoning import ReasoningSplitter
from ..results import ChatResult, Usage
from ..sse import iter_sse_data
from .answers import refused
from .failures import is_timeout, transport_reason
from .send import error_in_answer
from .transport import Response


class StreamAccumulator:
    """What a stream has brought so far: text ``pieces``, ``tool_calls`` (fragments merged), ``usage``,
    ``finish_reason`` and ``model``; ``result`` is the whole :class:`ChatResult` once the stream ended."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets everything (a new attempt starts from nothing)."""
        self.pieces: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: list[dict] = []
        self.usage = Usage()
        self.finish_reason: Optional[str] = None
        self.model: Optional[str] = None
        self.result: Optional[ChatResult] = None
        self.reasoning = ReasoningSplitter()

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self.pieces)

    def add(self, event: dict) -> Optional[str]:
        """Takes one chunk event (``chat.completion.chunk``); returns its text piece, if it has one."""
        self.model = event.get("model") or self.model
        if event.get("usage"):
            self.usage = Usage.from_dict(event["usage"])
        piece = None
        for choice in (event.get("choices") or [])[:1]:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            # a string, null or a list of parts alike
            content = self.reasoning.take(delta, content_text(delta.get("content")))
            if content:
                self.pieces.append(content)
                piece = content
            if isinstance(delta.get("refusal"), str):
                self.refusal.append(delta["refusal"])
            if isinstance(delta.get("tool_calls"), list):
                merge_tool_calls(self.tool_calls, delta["tool_calls"])
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return piece

    def check(self, where: str) -> None:
        """Raises the error the ended stream is instead of an answer: a refusal, or a finish reason that is
        not an answer (see :mod:`openai_compatible.finish`)."""
        refused("".join(self.refusal), where)
        error = finish_error(self.finish_reason, where)
        if error is not None:
            raise error

    def finish(self) -> ChatResult:
        """The whole answer, once the stream ended (``raw`` is None: a stream has no single body)."""
        for position, call in enumerate(self.tool_calls):
            call["index"] = position  # calls told apart by id may share the provider's index
        self.finish_reason = normalise(self.finish_reason, bool(self.tool_calls))
        self.result = ChatResult(text=self.text, finish_reason=self.finish_reason, usage=self.usage,
                                 model=self.model, raw=None, tool_calls=self.tool_calls or None,
                                 reasoning=self.reasoning.text)
        return self.result

    def flush(self) -> Optional[str]:
        """The answer text still held back when the stream ends (a start that only looked like reasoning)."""
        tail = self.reasoning.flush()
        if tail:
            self.pieces.append(tail)
        return tail or None

    def whole(self, result: ChatResult) -> ChatResult:
        """Takes an answer that came in one piece (the provider could not stream, or ignored ``stream``)."""
        self.reset()
        if result.text:
            self.pieces.append(result.text)
        self.usage, self.finish_reason, self.model = result.usage, result.finish_reason, result.model
        self.tool_calls = list(result.tool_calls or [])
        self.result = result
        return result


def read_stream(response: Response, accumulator: StreamAccumulator, *, where: str,
                redact: Callable[[object], str], read_timeout_s: float) -> Iterator[str]:
    """Feeds ``accumulator`` with the events of an SSE ``response`` up to ``[DONE]``, yielding text pieces.

    An error event raises its API error; a stall raises :class:`APITimeoutError`; a stream that breaks
    or ends without ``[DONE]`` raises :class:`APIConnectionError` or :class:`InvalidResponseError`.
    """
    try:
        for data in iter_sse_data(response.iter_content(chunk_size=None)):
            if data.strip() == "[DONE]":
                accumulator.check(where)
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise InvalidResponseError(f"{where}: a stream event is not JSON: {redact(data)[:200]!r}") from None
            if not isinstance(event, dict):
                continue
            if event.get("error"):
                raise error_in_answer(event, data, response.headers, redact, where + " (in the stream)")
            piece = accumulator.add(event)
            if piece:
                yield piece
    except requests.exceptions.RequestException as exc:
        count = len(accumulator.pieces)
        if is_timeout(exc):
            raise APITimeoutError(redact(
                f"{where}: the stream stalled past the read timeout ({read_timeout_s:g}s) after {count} pieces. "
                "Raise 'read_timeout_s' in the preset if the provider is slow.")) from None
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            raise InvalidResponseError(redact(
                f"{where}: the stream ended without [DONE] after {count} pieces ({transport_reason(exc)}); the "
                "answer may be incomplete.")) from None
        raise APIConnectionError(redact(f"{where}: the stream broke after {count} pieces "
                                        f"({transport_reason(exc)}).")) from None
    if accumulator.finish_reason is not None:
        # some servers close the stream after the finish chunk without [DONE] (ikawrakow/ik_llama.cpp#467,
        # waybarrios/vllm-mlx#101): the answer is whole; only a stream cut before its finish reason is broken
        accumulator.check(where)
        return
    raise InvalidResponseError(f"{where}: the stream ended without [DONE] after {len(accumulator.pieces)} pieces; "
                               "the answer may be incomplete.")


class ChatStream:
    """A streamed chat completion: iterate it for the text pieces as they arrive; ``result`` holds the whole
    :class:`ChatResult` once the stream is consumed (usage included when the provider reports it).

    Nothing is sent before the first piece is asked for. A stream is iterated once; ``close()`` (or
    ``with``) frees the connection of a stream left unfinished. ``accumulator`` exposes what arrived so far.
    """

    def __init__(self, produce: Callable[[StreamAccumulator], Iterator[str]]) -> None:
        self.accumulator = StreamAccumulator()
        self._produce = produce
        self._pieces: Optional[Iterator[str]] = None

    @property
    def result(self) -> Optional[ChatResult]:
        """The whole answer, once the stream ended; None before."""
        return self.accumulator.result

    @property
    def pieces(self) -> list[str]:
        """The text pieces received so far."""
        return self.accumulator.pieces

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        if self._pieces is None:
            self._pieces = self._produce(self.accumulator)
        return next(self._pieces)

    def text(self) -> str:
        """Consumes the stream and returns the whole answer's text."""
        for _ in self:
            pass
        return self.accumulator.text

    def close(self) -> None:
        """Stops reading and frees the connection (a stream not yet started is never sent)."""
        if self._pieces is None:
            self._pieces = iter(())
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "finished" if self.result is not None else f"{len(self.pieces)} pieces so far"
        return f"<openai_compatible.ChatStream {state}>"


def merge_tool_calls(calls: list, fragments: list) -> None:
    """Assembles streamed tool calls from their fragments, by one rule for every provider's shape.

    A fragment with an ``id`` opens a new call unless a call with that id exists (then it extends it); a
    fragment without ``id`` extends the last call with its ``index``, or the last call when it has no
    ``index`` (SGLang and older Ollama builds send none: vercel/ai#5885, ollama/ollama#7881); an ``index``
    reused by a new ``id`` is a new call (ollama/ollama#15457). Argument text is appended across any
    number of fragments; other fields are set.
    """
    for fragment in fragments:
        if not isinstance(fragment, dict):
            continue
        call = _target(calls, fragment)
        if call is None:
            calls.append(json.loads(json.dumps(fragment)))  # a copy, free of the event it came from
            continue
        for key, value in fragment.items():
            if key == "function" and isinstance(value, dict):
                function = call.setdefault("function", {})
                for name, part in value.items():
                    if name == "arguments" and isinstance(part, str):
                        function["arguments"] = (function.get("arguments") or "") + part
                    elif part is not None:
                        function[name] = part
            elif value is not None and key != "index":
                call[key] = value


def _target(calls: list, fragment: dict) -> Optional[dict]:
    """The call a fragment extends, or None when it opens a new one (see :func:`merge_tool_calls`)."""
    call_id, index = fragment.get("id"), fragment.get("index")
    if call_id:
        return next((c for c in calls if c.get("id") == call_id), None)
    if index is not None:
        return next((c for c in reversed(calls) if c.get("index") == index), None)
    return calls[-1] if calls else None
