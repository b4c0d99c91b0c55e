"""The connections of the transport's ``urllib3`` pools: ``urllib3``'s own, except that a request's head and a
body of known size leave in one write.

``urllib3`` (2.x) writes the head (request line and headers), then the body, in two ``sendall`` calls: two
system calls, two TLS records, and with many threads two hand-overs of the interpreter lock per request.
One write instead cut the client's CPU per call by about a tenth (``bench/per_call.py``).
"""
from __future__ import annotations

from typing import Any, Optional

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# larger bodies (an embedding batch of megabytes) go as urllib3 sends them: copying them to join the head would
# cost more than the write it saves
MAX_JOINED_BODY = 256 * 1024


class _OneWrite:
    """Joins a request's body (bytes, fixed length, not chunked) to its head's write, and skips the body's own."""

    _pending: Optional[bytes] = None  # the body, to join to the head's write
    _joined: Optional[bytes] = None  # the body, gone with the head: its own write is skipped

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, *, chunked: bool = False,
                **options: Any) -> None:
        framed = chunked or (headers is not None and any(name.lower() == "transfer-encoding" for name in headers))
        if type(body) is bytes and 0 < len(body) <= MAX_JOINED_BODY and not framed:
            self._pending = body
        try:
            super().request(method, url, body=body, headers=headers, chunked=chunked, **options)  # type: ignore[misc]
        finally:
            self._pending = self._joined = None

    def send(self, data: Any) -> None:
        body, self._pending = self._pending, None
        if body is not None:  # the head: connect first, so that a proxy tunnel's CONNECT goes alone
            if self.sock is None:  # type: ignore[attr-defined]
                self.connect()  # type: ignore[attr-defined]
            super().send(data + body)  # type: ignore[misc]
            self._joined = body
        elif self._joined is not None and (data is self._joined or data == self._joined):
            self._joined = None
        else:
            super().send(data)  # type: ignore[misc]


class OneWriteHTTPConnection(_OneWrite, HTTPConnection):
    """``urllib3``'s HTTP connection, the head and body written together."""


class OneWriteHTTPSConnection(_OneWrite, HTTPSConnection):
    """``urllib3``'s HTTPS connection, the head and body written together (one TLS record)."""


class OneWriteHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = OneWriteHTTPConnection


class OneWriteHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = OneWriteHTTPSConnection


# a PoolManager's (or ProxyManager's) pool classes, by scheme
POOL_CLASSES = {"http": OneWriteHTTPConnectionPool, "https": OneWriteHTTPSConnectionPool}
