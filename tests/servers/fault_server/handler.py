"""The HTTP plumbing: a threading HTTP/1.1 server and a handler that hands each request to its ``FaultServer``
and writes answers byte for byte (single-write responses, SSE chunks, FIN and RST closes)."""

from __future__ import annotations

import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Iterable, Optional, Tuple

from .faults import JSON, SSE

if TYPE_CHECKING:
    from .server import FaultServer


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that go away are normal here; anything else is a bug worth printing."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)) or self.owner.stopping:
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-server"
    disable_nagle_algorithm = True
    server: HTTPServer
    _chunked = True

    def setup(self) -> None:
        super().setup()
        self.server.owner.track_connection(self.connection, True)

    def finish(self) -> None:
        self.server.owner.track_connection(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.server.owner.handle_request(self)

    def do_POST(self) -> None:
        self.server.owner.handle_request(self)

    def do_PUT(self) -> None:
        self.server.owner.handle_request(self)

    def do_DELETE(self) -> None:
        self.server.owner.handle_request(self)

    # -- writers --
    def send_bytes(self, status: int, body: bytes, content_type: str = JSON,
                   headers: Iterable[Tuple[str, str]] = (), length: Optional[int] = None) -> None:
        """Status line, headers and body in a single write."""
        reason = self.responses.get(status, ("",))[0]
        head = [f"HTTP/1.1 {status} {reason}", f"Server: {self.server_version}",
                f"Content-Type: {content_type}", f"Content-Length: {len(body) if length is None else length}"]
        head += [f"{name}: {value}" for name, value in headers]
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def start_stream(self, headers: Iterable[Tuple[str, str]] = ()) -> bool:
        """Send the headers of an SSE answer; returns True if the body is chunked (HTTP/1.1)."""
        chunked = self.request_version == "HTTP/1.1"
        if not chunked:
            self.close_connection = True
        head = ["HTTP/1.1 200 OK", f"Server: {self.server_version}", f"Content-Type: {SSE}",
                "Cache-Control: no-cache"]
        head += [f"{name}: {value}" for name, value in headers]
        head.append("Transfer-Encoding: chunked" if chunked else "Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        self._chunked = chunked
        return chunked

    def write_event(self, data: bytes) -> None:
        """One piece of an SSE body (framed as an HTTP chunk when chunked)."""
        if self._chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def end_stream(self) -> None:
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """Close the connection now, with a FIN (an incomplete answer, not a reset)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self) -> None:
        """Close the connection with a TCP RST: SO_LINGER on, timeout 0, then close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
