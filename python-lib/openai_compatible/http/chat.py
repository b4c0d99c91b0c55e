"""Chat completions, plain and streamed, over one connection's sender and retry loop."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from ..compat import Compatibility
from ..pricing import estimated_cost
from ..ratelimit import estimate_tokens
from ..reasoning import checked_budget
from ..results import ChatResult
from ..settings import Endpoint
from .answers import parse_chat
from .payloads import chat_body, message_chars
from .retries import Call, RetryLoop
from .send import Sender
from .streaming import ChatStream, StreamAccumulator, read_stream
from .transport import Response

PATH = "/chat/completions"


@dataclass(frozen=True)
class ChatRequest:
    """What the caller asked for: the endpoint, the model, the messages and the options."""

    endpoint: Endpoint
    model: str
    messages: Sequence[Mapping[str, Any]]
    max_tokens: Optional[int] = None
    response_format: Optional[dict] = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def body(self, compat: Compatibility, stream: bool) -> dict:
        """The request body, as the provider accepts it today."""
        return chat_body(compat, self.endpoint, self.messages, self.max_tokens, self.response_format,
                         self.options, stream)

    def call(self, where: str) -> Call:
        """A fresh record for one call of this request."""
        return Call(where=where, tokens=estimate_tokens(message_chars(self.messages), self.max_tokens or 0),
                    base=self.endpoint.base)


@dataclass
class _Opened:
    """A stream attempt that got through: its response, and its first text piece (None: it had none)."""

    response: Response
    pieces: Iterator[str]
    first: Optional[str]


class _StreamingRefusedError(Exception):
    """The provider refused ``stream`` (learnt while sending): fall back to a plain call."""


class ChatCompletions:
    """``POST /chat/completions``: one answer, or a stream of pieces."""

    def __init__(self, sender: Sender, loop: RetryLoop, compat: Compatibility) -> None:
        self.sender = sender
        self.loop = loop
        self.compat = compat

    def create(self, request: ChatRequest, call: Optional[Call] = None) -> ChatResult:
        """One chat completion; ``call`` (default: a new one) counts its requests and time."""
        where = f"chat with '{request.model}'"
        call = call or request.call(where)
        # read inside the loop: an answer that ended with finish_reason "error" is retried like a failed call
        result = self.loop.run_adapting(
            lambda: request.body(self.compat, stream=False),
            lambda body: parse_chat(self.sender.post_json(request.endpoint, PATH, body, where=where), where),
            call, self.compat)
        self.loop.settle(call, result.usage)
        result.latency_ms = call.elapsed_ms()
        result.attempts = call.attempts
        result.cost = estimated_cost(self.sender.settings.prices, request.model, result.usage)
        return result

    def stream(self, request: ChatRequest) -> ChatStream:
        """A :class:`ChatStream` of the answer; nothing is sent before it is iterated."""
        return ChatStream(lambda accumulator: self._pieces(request, accumulator))

    def _pieces(self, request: ChatRequest, accumulator: StreamAccumulator) -> Iterator[str]:
        """The stream's pieces. An attempt is retried (by the one loop) until its first piece arrives; a
        failure after a piece was given to the caller is raised. Without streaming, one plain call."""
        where = f"stream with '{request.model}'"
        call = request.call(where)
        opened: Union[_Opened, ChatResult, None] = None
        if self.compat.streaming:
            try:
                opened = self.loop.run_adapting(lambda: self._stream_body(request),
                                                lambda body: self._open(request, body, accumulator, where),
                                                call, self.compat)
            except _StreamingRefusedError:
                opened = None
        if opened is None or isinstance(opened, ChatResult):
            result = opened if opened is not None else self.create(request, call)
            if opened is not None:
                self.loop.settle(call, result.usage)
            _whole_call(result, call)
            result.cost = estimated_cost(self.sender.settings.prices, request.model, result.usage)
            accumulator.whole(result)
            if result.text:
                yield result.text
            return
        try:
            if opened.first is not None:
                yield opened.first
                yield from opened.pieces
            tail = accumulator.flush()
            if tail:
                yield tail
        finally:
            opened.response.close()
        result = accumulator.finish()
        self.loop.settle(call, result.usage)
        _whole_call(result, call)
        result.cost = estimated_cost(self.sender.settings.prices, request.model, result.usage)
        checked_budget(result, where)

    def _stream_body(self, request: ChatRequest) -> dict:
        if not self.compat.streaming:
            raise _StreamingRefusedError  # learnt from the last answer: don't ask for a stream again
        return request.body(self.compat, stream=True)

    def _open(self, request: ChatRequest, body: dict, accumulator: StreamAccumulator,
              where: str) -> Union[_Opened, ChatResult]:
        """One stream attempt, read up to its first text piece (so that what fails before is retried)."""
        response = self.sender.send("POST", request.endpoint, PATH, body, where=where, stream=True)
        content_type = response.headers.get("Content-Type", "")
        if "json" in content_type and "event-stream" not in content_type:
            return parse_chat(self.sender.decode(response, where), where)  # a provider that ignores "stream"
        accumulator.reset()
        pieces = read_stream(response, accumulator, where=where, redact=self.sender.redact,
                             read_timeout_s=self.sender.settings.read_timeout_s)
        try:
            return _Opened(response, pieces, next(pieces, None))
        except BaseException:
            response.close()
            raise


def _whole_call(result: ChatResult, call: Call) -> None:
    """Gives a stream's result the whole call's latency and requests, refused or broken attempts included."""
    result.latency_ms = call.elapsed_ms()
    result.attempts = call.attempts
