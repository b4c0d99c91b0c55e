"""Replays recorded provider answers over real HTTP on 127.0.0.1, and records what the client sent.

A :class:`ReplayServer` serves a sequence of :class:`Reply` objects: request 1 gets the first, request 2 the
second, and every later request the last one (so "the same error again and again" is a one-element sequence).
Each request is kept as a :class:`Recorded` (method, path, query, headers, parsed body), so a test can assert how
many calls were made (retries) and what the client sent after adapting a request.

Standalone on purpose: stdlib ``http.server`` only, no dependency on the project's fault server.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

from tests.servers.request_body import read_body


@dataclass(frozen=True)
class Reply:
    """One HTTP answer.

    Exactly one of ``body`` (serialised as JSON unless it is ``str``/``bytes``, sent as is) and ``sse`` (a list of
    strings written one after the other, each flushed; the connection is then closed, as a server ending a stream
    does) is used. ``headers`` are sent as given; a Content-Type is added when missing.
    """

    status: int = 200
    body: Any = None
    sse: Optional[Tuple[str, ...]] = None
    headers: Tuple[Tuple[str, str], ...] = ()

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Recorded:
    """One request the server received. ``body`` is the parsed JSON, or the raw text when it is not JSON."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: Any = None


@dataclass
class _State:
    replies: List[Reply] = field(default_factory=list)
    requests: List[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
        return

    def _handle(self) -> None:
        raw = read_body(self)
        if raw is None:  # the client went away mid-body
            return
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        parts = urlsplit(self.path)
        state = self.server.state
        with state.lock:
            state.requests.append(Recorded(self.command, parts.path, dict(parse_qsl(parts.query)),
                                           {k: v for k, v in self.headers.items()}, body))
            position = min(len(state.requests), len(state.replies)) - 1
            reply = state.replies[position] if state.replies else Reply(500, {"error": "no reply configured"})
        if reply.sse is not None:
            self._send_stream(reply)
        else:
            self._send_body(reply)

    do_GET = _handle  # noqa: N815 - http.server's naming
    do_POST = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815

    def _send_body(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            data, kind = reply.body, "application/octet-stream"
        elif isinstance(reply.body, str):
            data = reply.body.encode("utf-8")
            kind = "text/html; charset=utf-8" if reply.body.lstrip().startswith("<") else "text/plain"
        else:
            data, kind = json.dumps(reply.body).encode("utf-8"), "application/json"
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        if reply.header("Content-Type") is None:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        if reply.header("Content-Type") is None:
            self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        self.close_connection = True
        try:
            for piece in reply.sse or ():
                self.wfile.write(piece.encode("utf-8"))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading; nothing left to do


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class ReplayServer:
    """A threaded HTTP server on 127.0.0.1 (free port) serving a sequence of replies.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``url`` has no trailing slash and no path.
    """

    def __init__(self, replies: Union[Reply, Sequence[Reply]] = ()) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread: Optional[threading.Thread] = None
        self.serve(replies)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> List[Recorded]:
        """The requests received so far, in arrival order (a copy)."""
        with self._server.state.lock:
            return list(self._server.state.requests)

    def serve(self, replies: Union[Reply, Sequence[Reply]]) -> None:
        """Replaces the sequence of replies and forgets the requests received so far."""
        items = [replies] if isinstance(replies, Reply) else list(replies)
        with self._server.state.lock:
            self._server.state.replies = items
            self._server.state.requests = []

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="replay-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
