"""The official SDK's HTTP client over a connection's replicas: each request goes to the replica that the client's own
:class:`~openai_compatible.http.replicas.ReplicaPool` chooses, and its outcome counts in that pool's health.

``openai.OpenAI(http_client=...)`` accepts any ``httpx.Client``; this one overrides :meth:`httpx.Client.send`, the
one method every SDK request goes through (its retries build and send a new request each time), so that:

- the request's URL moves from the preset's first server to the chosen replica (least outstanding requests over the
  client's calls and the SDK's together), the ``Host`` header with it; the rest of httpx runs unchanged (the
  preset's proxy or the environment's for that replica's host, TLS, the OAuth2 token flow);
- a refused, broken or timed-out connection, or a 5xx answer, leaves the replica out for its cool-down, exactly as
  for the client's own calls (:func:`~openai_compatible.http.replicas.is_replica_failure`). The SDK retries such a
  failure (``max_retries``, the preset's), and its retry goes to another replica;
- a streamed answer counts as outstanding on its replica until the SDK closes it.

httpx is imported here, and this module only when ``client.openai()`` is called on a preset with replicas: the
plugin itself does not need httpx (the SDK brings it).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Optional

import httpx

from ..errors import APIConnectionError, APITimeoutError, OpenAICompatibleError, ServerError
from ..settings import safe_url
from .replicas import ReplicaPool


def transport_error(exc: httpx.TransportError, url: str) -> OpenAICompatibleError:
    """This library's error for an httpx transport failure: a timeout, a refused connection (``unreachable``) or
    another connection failure, which the replica pool reads as the replica's failure."""
    where = safe_url(url)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"no answer from {where} within the timeouts")
    error = APIConnectionError(f"cannot reach {where} ({type(exc).__name__})")
    error.unreachable = isinstance(exc, httpx.ConnectError)
    return error


class _Outcome:
    """Records one request's outcome on its replica, once (the first report wins)."""

    def __init__(self, pool: ReplicaPool, choice: tuple) -> None:
        self._pool = pool
        self._choice = choice
        self._lock = threading.Lock()
        self._done = False

    def __call__(self, error: Optional[BaseException]) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        replica, epoch, probe = self._choice
        self._pool.finish(replica, epoch, probe, error)


class _TrackedStream(httpx.SyncByteStream):
    """A streamed body whose end (closed, or broken while read) is the request's outcome on its replica."""

    def __init__(self, stream: Any, done: Callable[[Optional[BaseException]], None], url: str) -> None:
        self._stream = stream
        self._done = done
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except httpx.TransportError as exc:
            self._done(transport_error(exc, self._url))
            raise

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._done(None)


class ReplicaHTTPClient(httpx.Client):
    """An ``httpx.Client`` (all its arguments accepted) that sends each request under ``pool.primary`` to the
    replica ``pool`` chooses; other URLs go where they point."""

    def __init__(self, pool: ReplicaPool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool = pool

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        url = str(request.url)
        if not self.pool.serves(url):
            return super().send(request, **kwargs)
        choice = self.pool.choose()
        done = _Outcome(self.pool, choice)
        moved = httpx.URL(choice[0].root + url[len(self.pool.primary):])
        request.url = moved
        request.headers["Host"] = moved.netloc.decode("ascii")
        try:
            response = super().send(request, **kwargs)
        except httpx.TransportError as exc:
            done(transport_error(exc, str(moved)))
            raise
        except BaseException as exc:
            done(exc)  # not the replica's failure (is_replica_failure says so): only its outstanding count
            raise
        if response.status_code >= 500:
            done(ServerError(f"HTTP {response.status_code} from {safe_url(str(moved))}",
                             status=response.status_code))
        elif response.is_closed:  # a body already read (not streamed)
            done(None)
        else:
            response.stream = _TrackedStream(response.stream, done, str(moved))
        return response
