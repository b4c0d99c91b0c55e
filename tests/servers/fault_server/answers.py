"""Answers: the normal OpenAI-shaped answers (chat, streamed chat, embeddings), the request checks that come
before them, and the responders that send a fault in their place.

Shapes follow OpenAI's API reference for chat completions, streaming chunks and embeddings
(https://platform.openai.com/docs/api-reference/chat, .../embeddings).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import re
import struct
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .faults import Fault, oai_error
from .handler import Handler
from .recorded import RecordedRequest, content_text, inputs, last_user_text, words


def embedding_vector(item: Any, dimensions: int = 8) -> List[float]:
    """A deterministic unit vector derived from a hash of the input."""
    seed = item if isinstance(item, str) else json.dumps(item)
    data = b""
    counter = 0
    while len(data) < dimensions:
        data += hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        counter += 1
    raw = [byte / 127.5 - 1.0 for byte in data[:dimensions]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def schema_example(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A simple value valid against a simple JSON schema: strings "echo", numbers 1, booleans true,
    enums their first value, objects one value per property, arrays one item; local $refs resolved."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 20:
        return "echo"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_example(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return schema_example((options or schema[key])[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: schema_example(sub, root, depth + 1)
                for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [schema_example(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        value = 1
        if "minimum" in schema and value < schema["minimum"]:
            value = math.ceil(schema["minimum"])
        if "maximum" in schema and value > schema["maximum"]:
            value = math.floor(schema["maximum"])
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = "echo"
    if schema.get("minLength", 0) > len(text):
        text = text + "o" * (int(schema["minLength"]) - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def validate(method: str, req: RecordedRequest, route: Optional[str],
              invalid_json: bool) -> Optional[Tuple[int, Dict[str, Any]]]:
    """OpenAI-like checks of the request; returns (status, body) of the error, if any."""
    if route is None:
        return 404, oai_error(f"Invalid URL ({method} {req.path})", code="unknown_url")
    expected = "GET" if route == "models" else "POST"
    if method != expected:
        return 405, oai_error(f"Method {method} not allowed on {req.path}", code="method_not_allowed")
    if req.deployment is not None and "api-version" not in req.query:
        return 404, {"error": {"code": "404", "message": "Resource not found"}}
    if route == "models":
        return None
    if invalid_json or not isinstance(req.body, dict):
        return 400, oai_error("We could not parse the JSON body of your request. (HINT: This likely "
                              "means you aren't using your HTTP library correctly.)")
    if req.deployment is None and not isinstance(req.body.get("model"), str):
        return 400, oai_error("you must provide a model parameter", param="model")
    if route == "chat":
        messages = req.body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, oai_error("Missing required parameter: 'messages'.", param="messages",
                                  code="missing_required_parameter")
    else:
        items = inputs(req.body.get("input"))
        if not items:
            return 400, oai_error("'input' must be a non-empty string or array.", param="input")
        dims = req.body.get("dimensions", 8)
        if not isinstance(dims, int) or not 1 <= dims <= 4096:
            return 400, oai_error("'dimensions' must be an integer between 1 and 4096.", param="dimensions")
    return None

Responder = Callable[[Handler, Fault, List[Tuple[str, str]]], None]


def _respond_reset(h: Handler, _fault: Fault, _headers: List[Tuple[str, str]]) -> None:
    h.reset()


def _respond_malformed(h: Handler, _fault: Fault, headers: List[Tuple[str, str]]) -> None:
    h.send_bytes(200, b'{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,'
                      b'"message":{"role":"assistant","content":"unfinish', headers=headers)


def _respond(h: Handler, fault: Fault, headers: List[Tuple[str, str]]) -> None:
    body = fault.body
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = dumps(body)
    headers = [*headers, *fault.headers]
    if fault.retry_after_date is not None:
        headers.append(("Retry-After", email.utils.formatdate(time.time() + fault.retry_after_date,
                                                              usegmt=True)))
    h.send_bytes(fault.status, data, fault.content_type, headers)


# Fault kinds sent instead of the normal answer, by kind; every other kind shapes the normal answer.
RESPONDERS: Dict[str, Responder] = {"reset": _respond_reset, "malformed": _respond_malformed, "respond": _respond}


def send_fault(h: Handler, fault: Fault, headers: List[Tuple[str, str]]) -> None:
    """Answer with ``fault`` instead of the normal answer (its kind is in ``RESPONDERS``), after its delay."""
    fault.pause(fault.delay)
    RESPONDERS[fault.kind](h, fault, headers)


def send_answer(h: Handler, data: bytes, fault: Fault, extra: List[Tuple[str, str]]) -> None:
    """Send a non-stream 200 JSON answer, broken as ``fault`` says (cut, error body, padding)."""
    if fault.kind == "keepalive":
        data = b"\n\n\n" + data
    if fault.kind == "cut":
        h.send_bytes(200, data[: len(data) // 2], headers=extra, length=len(data))
        h.drop()
    elif fault.kind == "stream_error":
        h.send_bytes(200, dumps(oai_error("The server had an error while processing your request.",
                                           "server_error")), headers=extra)
    else:
        h.send_bytes(200, data, headers=extra)

def answer_embeddings(h: Handler, req: RecordedRequest, fault: Fault,
                       extra: List[Tuple[str, str]]) -> None:
    body = req.json
    dims = body.get("dimensions", 8)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for index, item in enumerate(inputs(body.get("input"))):
        vector = embedding_vector(item, dims)
        tokens += words(item) if isinstance(item, str) else len(item)
        value: Any = (base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                      if as_base64 else vector)
        data.append({"object": "embedding", "index": index, "embedding": value})
    answer = {"object": "list", "data": data, "model": req.model,
              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    send_answer(h, dumps(answer), fault, extra)

def answer_chat(h: Handler, req: RecordedRequest, fault: Fault, number: int,
                 extra: List[Tuple[str, str]]) -> None:
    body = req.json
    text = last_user_text(body.get("messages"))
    response_format = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
    kind = response_format.get("type")
    if fault.kind == "giant":
        content = ("lorem ipsum " * (fault.size // 12 + 1))[: fault.size]
    elif fault.kind == "filtered":
        content = ""
    elif kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        content = json.dumps(schema_example(spec.get("schema") or {}))
    elif kind == "json_object":
        content = json.dumps({"echo": text})
    else:
        content = "echo: " + text
    finish = "content_filter" if fault.kind == "filtered" else "stop"
    prompt_words = sum(words(content_text(m.get("content")))
                       for m in body.get("messages") or [] if isinstance(m, dict))
    usage = {"prompt_tokens": prompt_words, "completion_tokens": words(content),
             "total_tokens": prompt_words + words(content)}
    ident, created, model = f"chatcmpl-fault{number}", int(time.time()), req.model
    if not req.stream:
        message = {"role": "assistant", "content": content}
        choice: Dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        if fault.kind == "filtered":
            choice["content_filter_results"] = {"violence": {"filtered": True, "severity": "high"}}
        answer = {"id": ident, "object": "chat.completion", "created": created, "model": model,
                  "choices": [choice], "usage": usage}
        send_answer(h, dumps(answer), fault, extra)
        return
    stream_chat(h, req, fault, content, finish, usage, (ident, created, model), extra)

def stream_chat(h: Handler, req: RecordedRequest, fault: Fault, content: str, finish: str,
                 usage: Dict[str, int], meta: Tuple[str, int, Optional[str]],
                 extra: List[Tuple[str, str]]) -> None:
    ident, created, model = meta
    base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}

    def chunk(delta: Dict[str, Any], finish_reason: Optional[str] = None) -> bytes:
        payload = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                       "finish_reason": finish_reason}])
        return b"data: " + dumps(payload) + b"\n\n"

    pieces = re.findall(r"\S+\s*", content) or ([content] if content else [])
    options = req.json.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    noisy = fault.kind == "keepalive"
    h.start_stream(extra)

    def send(data: bytes) -> None:
        fault.pause(fault.interval)
        h.write_event(data)
        if noisy:
            h.write_event(b": keep-alive\n\n")

    if noisy:
        h.write_event(b": OPENROUTER PROCESSING\n\n")
        h.write_event(b"data: " + dumps(dict(base, choices=[], prompt_filter_results=[
            {"prompt_index": 0, "content_filter_results": {}}])) + b"\n\n")
    send(chunk({"role": "assistant", "content": ""}))
    for count, piece in enumerate(pieces):
        if fault.kind in ("cut", "stream_error") and count >= fault.after:
            break
        send(chunk({"content": piece}))
        if noisy:
            h.write_event(b"data: " + dumps(dict(base, choices=[])) + b"\n\n")
    if fault.kind == "cut":
        h.drop()
        return
    if fault.kind == "stream_error":
        h.write_event(b"data: " + dumps(oai_error("The server had an error while processing your "
                                                   "request.", "server_error")) + b"\n\n")
        h.end_stream()
        return
    send(chunk({}, finish))
    if include_usage:
        send(b"data: " + dumps(dict(base, choices=[], usage=usage)) + b"\n\n")
    h.write_event(b"data: [DONE]\n\n")
    h.end_stream()
