"""Reading a request body the way an HTTP server does: a body cut short was never received."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Optional


def read_body(handler: BaseHTTPRequestHandler) -> Optional[bytes]:
    """The body of ``handler``'s request (``b""`` if it has none), or None if the client closed the
    connection before sending all of its Content-Length (killed, or timed out while sending).

    An HTTP server treats such an incomplete message as not received and closes the connection
    (RFC 9112, section 8), so on None the caller answers nothing and records nothing; the connection
    is already marked to close.
    """
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length > 0 else b""
    if len(raw) < length:
        handler.close_connection = True
        return None
    return raw
