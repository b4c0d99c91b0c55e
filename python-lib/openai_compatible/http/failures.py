"""Short, secret-free reasons for transport failures (refused, reset, cut short, timed out...)."""
from __future__ import annotations

import socket

import requests
import urllib3

_REASONS = (
    ("Connection refused", "connection refused"), ("reset by peer", "connection reset"),
    ("RemoteDisconnected", "the server closed the connection"), ("Name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"), ("No route to host", "no route to host"),
    ("CERTIFICATE_VERIFY_FAILED", "certificate verification failed"), ("timed out", "timed out"),
    ("IncompleteRead", "the answer was cut short"), ("InvalidChunkLength", "the answer was cut short"),
    ("ProtocolError", "protocol error"),
)


def transport_reason(exc: BaseException) -> str:
    """A few words for a transport failure (``"connection refused"``, ``"unknown host"``...), else the
    exception's class name. Never the exception's text, which may hold a URL with a key."""
    text = str(exc)
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    return type(exc).__name__


def is_timeout(exc: BaseException) -> bool:
    """True for a read timeout, including one ``requests`` reports as a ConnectionError while reading a body."""
    if isinstance(exc, requests.exceptions.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, (urllib3.exceptions.TimeoutError, socket.timeout))


def never_connected(exc: BaseException) -> bool:
    """True when the request never reached a server: the connection was refused, the host is unknown or has no
    route (urllib3's ``NewConnectionError``, DNS failures included), as opposed to a server that reset or cut
    an answer it had started (a restart, a proxy's idle timeout)."""
    seen = set()
    current: object = exc
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        current = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
    return False
