"""What a corpus case is: the provider's answer(s), the call a user makes, what the user must get, and the source.

Bodies are written by hand from what the cited source describes (never pasted): the builders below keep each
case to the fields that matter, and fill in the fields every answer carries (id, object, created, model).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

from tests.providers.replay import Reply

MODEL = "corpus-model"


@dataclass(frozen=True)
class Expect:
    """What a user of the public client API gets.

    On success: ``text`` (the answer; for a stream, the joined pieces and ``result.text`` alike),
    ``finish_reason``, ``tool_calls`` (``(name, arguments as a dict)`` pairs, arguments parsed from the JSON the
    client returns), ``reasoning`` (``ChatResult.reasoning``), ``usage`` (attribute name -> value on
    ``ChatResult.usage``), ``vectors`` (embeddings), ``models`` (ids from ``Client.models()``).

    On failure: ``error`` names the exception class in ``openai_compatible`` (an ``isinstance`` check, so
    ``OpenAICompatibleError`` accepts any of them) and ``mentions`` are lower-case words its message must hold;
    ``error_type`` is the provider's own type the exception carries (``error_type``: OpenAI's ``type``, Google's
    ``status``).
    ``either_ok_or_error`` accepts success or that error (a choice the issue leaves to the fix).

    ``calls`` is the exact number of HTTP requests (the test client allows 2 retries, so a retried error
    makes 3 calls and a final error 1); ``max_calls`` an upper bound. ``sent`` checks the body of the last
    request: dotted path -> value, or -> ``Contains(text)`` for a substring of its JSON, or -> ``ABSENT``.
    """

    text: Optional[str] = None
    finish_reason: Optional[str] = None
    tool_calls: Optional[Tuple[Tuple[str, Dict[str, Any]], ...]] = None
    reasoning: Optional[str] = None
    usage: Optional[Dict[str, int]] = None
    vectors: Optional[Tuple[Tuple[float, ...], ...]] = None
    models: Optional[Tuple[str, ...]] = None
    error: Optional[str] = None
    mentions: Tuple[str, ...] = ()
    error_type: Optional[str] = None
    either_ok_or_error: bool = False
    calls: Optional[int] = None
    max_calls: Optional[int] = None
    sent: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contains:
    """A check on a sent field: its JSON text contains ``text`` (case-insensitive)."""

    text: str


ABSENT = object()  # a check on a sent field: the client did not send it

# The kinds a case's ``known_gap`` may name, each with the part of issue 10 it belongs to.
KINDS = {
    "tool-call-fragments": "§2.1 streamed tool calls: no index, index reused by a new id, split arguments, "
                           "finish_reason stop with tool calls",
    "stream-without-done": "§2.2 a stream that ends cleanly after its finish chunk without data: [DONE]",
    "error-in-200": "§2.3 an error carried by a 200 (string, object, HTML page) diagnosed as a wrong URL, not retried",
    "wrong-url": "§2.3 a non-200 that says the path cannot be routed: name base_url",
    "finish-reason": "§2.4 every finish_reason mapped to answer, truncated answer or error",
    "content-parts": "§2.5 content as null, list of parts or refusal, in message and delta alike",
    "context-wording": "§2.6 each provider's context-length wording is a ContextLengthError",
    "json-schema-downgrade": "§2.8 json_schema refused: re-send in the mode that works, schema in the prompt",
    "value-not-field": "§2.9 a 400 about a value fixes the value, not drops the field",
    "unsupported-parameter": "§2.9 a refused field named outside the message (details, loc)",
    "reasoning": "§3 reasoning_content / reasoning / <think> split from the answer; budget spent on reasoning; "
                 "reasoning_tokens in usage",
    "error-status": "error bodies: payment-required (402) is an exhausted quota, a per-minute limit is not",
    "models-shape": "/models listings in another envelope",
}

# the retry budget every corpus client gets: a retried error costs 1 + RETRIES calls
RETRIES = 2
RETRIED = 1 + RETRIES


@dataclass(frozen=True)
class Case:
    """One recorded behaviour of one provider.

    ``call`` is ``chat``, ``stream``, ``embed`` or ``models``; ``options`` are passed to it (``texts`` and
    ``dimensions`` for ``embed``). ``preset`` changes the preset the test builds (e.g. ``base_url_suffix``).
    ``known_gap`` names the kind of issue 10 that the current client gets wrong for this case: the test is then
    a strict xfail, so fixing the kind turns it into a failure until the field is removed.
    """

    name: str
    provider: str
    source: str
    call: str
    replies: Tuple[Reply, ...]
    expect: Expect
    options: Dict[str, Any] = field(default_factory=dict)
    preset: Dict[str, Any] = field(default_factory=dict)
    known_gap: Optional[str] = None


# --- builders -----------------------------------------------------------------------------------------------

def completion(content: Any = "", finish: Optional[str] = "stop", *, usage: Optional[dict] = None,
               message: Optional[dict] = None, choice: Optional[dict] = None, top: Optional[dict] = None,
               model: str = MODEL) -> dict:
    """A non-streamed chat completion body; ``message``/``choice``/``top`` add or override fields."""
    msg: Dict[str, Any] = {"role": "assistant", "content": content}
    msg.update(message or {})
    one: Dict[str, Any] = {"index": 0, "message": msg, "finish_reason": finish}
    one.update(choice or {})
    body: Dict[str, Any] = {"id": "chatcmpl-corpus", "object": "chat.completion", "created": 1700000000,
                            "model": model, "choices": [one]}
    if usage is not None:
        body["usage"] = usage
    body.update(top or {})
    return body


def chunk(delta: Optional[dict] = None, finish: Optional[str] = None, *, usage: Optional[dict] = None,
          choices: bool = True, choice: Optional[dict] = None, top: Optional[dict] = None,
          model: str = MODEL) -> dict:
    """One ``chat.completion.chunk``; ``choices=False`` gives the usage-only chunk with ``choices: []``."""
    body: Dict[str, Any] = {"id": "chatcmpl-corpus", "object": "chat.completion.chunk", "created": 1700000000,
                            "model": model}
    if choices:
        one: Dict[str, Any] = {"index": 0, "delta": delta if delta is not None else {}, "finish_reason": finish}
        one.update(choice or {})
        body["choices"] = [one]
    else:
        body["choices"] = []
    if usage is not None:
        body["usage"] = usage
    body.update(top or {})
    return body


def text_chunks(*pieces: str, finish: str = "stop", role_first: bool = True) -> list:
    """The usual run of chunks: an optional role-only first chunk, one chunk a piece, then the finish chunk."""
    events: list = [chunk({"role": "assistant", "content": ""})] if role_first else []
    events += [chunk({"content": piece}) for piece in pieces]
    events.append(chunk({}, finish))
    return events


def sse(events: Sequence[Any], *, done: bool = True, eol: str = "\n") -> Tuple[str, ...]:
    """SSE frames: a dict becomes ``data: <json>``, a str is sent as is (comments, odd frames)."""
    frames = [e if isinstance(e, str) else f"data: {json.dumps(e)}{eol}{eol}" for e in events]
    if done:
        frames.append(f"data: [DONE]{eol}{eol}")
    return tuple(frames)


def stream_reply(events: Sequence[Any], *, done: bool = True, eol: str = "\n",
                 headers: Tuple[Tuple[str, str], ...] = ()) -> Reply:
    return Reply(200, sse=sse(events, done=done, eol=eol), headers=headers)


def ok(body: Any, headers: Tuple[Tuple[str, str], ...] = ()) -> Reply:
    return Reply(200, body, headers=headers)


def err(status: int, body: Any, headers: Tuple[Tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, body, headers=headers)


def openai_error(message: str, type_: Optional[str] = "invalid_request_error", *, code: Any = None,
                 param: Optional[str] = None) -> dict:
    """The OpenAI error envelope that most providers copy."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def tool_delta(*, index: Any = 0, id_: Optional[str] = None, name: Optional[str] = None,
               arguments: Optional[str] = None, with_index: bool = True) -> dict:
    """One entry of ``delta.tool_calls``; ``with_index=False`` leaves ``index`` out, as some providers do."""
    call: Dict[str, Any] = {}
    if with_index:
        call["index"] = index
    if id_ is not None:
        call["id"] = id_
        call["type"] = "function"
    function: Dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        call["function"] = function
    return call


def embeddings(*vectors: Sequence[float], model: str = MODEL, usage: Optional[dict] = None) -> dict:
    body: Dict[str, Any] = {"object": "list", "model": model,
                            "data": [{"object": "embedding", "index": i, "embedding": list(v)}
                                     for i, v in enumerate(vectors)]}
    if usage is not None:
        body["usage"] = usage
    return body


def usage(prompt: int, completion_: int, **extra: Any) -> dict:
    body: Dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion_,
                            "total_tokens": prompt + completion_}
    body.update(extra)
    return body


HI = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
