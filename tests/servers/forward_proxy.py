"""A small forward HTTP proxy for the tests: plain HTTP requests in absolute form are forwarded, HTTPS goes
through a ``CONNECT`` tunnel (RFC 9110, section 9.3.6: https://www.rfc-editor.org/rfc/rfc9110#CONNECT; the
absolute form of the request target for a proxy: RFC 9112, section 3.2.2). It records what it was asked
(``seen``: method and target) and the ``Proxy-Authorization`` headers it received, and may demand one
(``require_auth``: anything else gets 407, RFC 9110 section 15.5.8), as corporate proxies do.

    with ForwardProxy() as proxy:
        proxy.url  # http://127.0.0.1:PORT
"""
from __future__ import annotations

import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

from tests.servers.request_body import read_body

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade"}


class ForwardProxy:
    """A forward proxy on 127.0.0.1 on a free port; ``require_auth`` is the ``Proxy-Authorization`` value it
    demands (None: none)."""

    def __init__(self, require_auth: Optional[str] = None) -> None:
        self.require_auth = require_auth
        self.seen: list[tuple[str, str]] = []
        self.auth_headers: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _admitted(self) -> bool:
                owner.seen.append((self.command, self.path))
                given = self.headers.get("Proxy-Authorization", "")
                if given:
                    owner.auth_headers.append(given)
                if owner.require_auth is not None and given != owner.require_auth:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="tests"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def do_CONNECT(self) -> None:  # noqa: N802 (the method's name is the HTTP verb)
                if not self._admitted():
                    return
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                sockets = [self.connection, upstream]
                try:
                    while True:
                        ready, _, _ = select.select(sockets, [], [], 10)
                        if not ready:
                            return
                        for side in ready:
                            data = side.recv(65536)
                            if not data:
                                return
                            (upstream if side is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()
                    self.close_connection = True

            def _forward(self) -> None:
                if not self._admitted():
                    return
                target = urlsplit(self.path)
                if not target.scheme:  # a proxy is asked for absolute URLs only
                    self.send_error(400, "absolute URL expected")
                    return
                body = read_body(self)
                if body is None:  # the client went away mid-body: nothing to forward
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
                try:
                    upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                                     body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
