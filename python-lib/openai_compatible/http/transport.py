"""The TLS, CA bundle and proxy setup of a connection, and the thin HTTP transport over ``urllib3`` that applies
it: one rule, used by the client, the connection checks and the official SDK handoff alike.

The rule: the preset's ``ca_bundle`` wins, else ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the
environment (as ``requests`` reads them), else the default trust store (``certifi``'s, as ``requests``);
``verify_tls`` off turns verification off. The preset's ``proxy`` wins, else the environment's proxy for the
URL's host (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, honouring ``NO_PROXY``).

Why not ``requests.Session`` itself: for each call it prepares and merges settings, hooks, cookies and
headers in several mappings, which cost more CPU than the ``urllib3`` exchange below it (a ``requests``
call took about twice the CPU of the same call on a bare ``urllib3`` pool; ``bench/per_call.py``). The
transport keeps what the client relies on from ``requests`` — its exceptions (so that every caller maps
failures as before), its redirect rules (a POST answered by 301/302/303 goes on as a GET, credentials are
dropped for another host), its default headers, the session's cookies — and reaches the pool of each
origin directly, its TLS, proxy and pool looked up once per origin.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any, Iterator, Mapping, Optional, Union
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests import exceptions as rex
from requests.cookies import MockRequest, MockResponse
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import InvalidHeader as Urllib3InvalidHeader
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ..settings import ConnectionSettings
from ..version import __version__
from .connection import POOL_CLASSES

USER_AGENT = f"dss-plugin-openai-compatible/{__version__}"
MAX_REDIRECTS = 30  # as requests
# no retry inside urllib3 (the client's loop retries), raising as requests' adapter does: a failed connection as
# MaxRetryError (its reason inside), a failure once the request was sent as itself
_NO_RETRY = urllib3.Retry(0, read=False)
# what requests sends by default besides the User-Agent (the Accept header is the caller's); not its
# "Connection: keep-alive": HTTP/1.1 connections persist without it (RFC 9112, section 9.3)
_DEFAULT_HEADERS = {"Accept-Encoding": requests.utils.DEFAULT_ACCEPT_ENCODING}
# headers that carry a credential: not sent on to another host when the provider redirects (requests drops
# Authorization only; the key headers of the other schemes are credentials just as much, and so are the
# preset's custom key header and extra headers, whose values are secrets)
_CREDENTIAL_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie", "api-key", "x-api-key",
                                 "x-goog-api-key"))
_BODY_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding")


@dataclass(frozen=True)
class TransportOptions:
    """What every HTTP stack needs to reach the provider.

    ``verify`` is False (no verification), True (the default trust store) or the path of a CA bundle;
    ``cert`` is None, a certificate path, or a ``(certificate, key)`` pair; ``proxy`` is the preset's
    proxy URL (None: use the environment's).
    """

    verify: Union[bool, str]
    cert: Union[None, str, tuple[str, str]]
    proxy: Optional[str]


def transport_options(settings: ConnectionSettings, environ: Optional[Mapping[str, str]] = None) -> TransportOptions:
    """The connection's TLS and proxy options, the environment read once (``environ``, default ``os.environ``)."""
    env = os.environ if environ is None else environ
    if settings.verify_tls:
        verify: Union[bool, str] = (settings.ca_bundle or env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE")
                                    or True)
    else:
        verify = False
    cert: Union[None, str, tuple[str, str]] = None
    if settings.client_cert:
        cert = (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
    return TransportOptions(verify=verify, cert=cert, proxy=settings.proxy or None)


def tls_pool_options(options: TransportOptions) -> dict[str, Any]:
    """The ``urllib3`` pool arguments of ``options``' TLS: verification, trust store, client certificate (as
    ``requests`` derives them: a CA path that is a directory is a ``ca_cert_dir``)."""
    out: dict[str, Any] = {"cert_reqs": "CERT_NONE" if options.verify is False else "CERT_REQUIRED"}
    if options.verify is True:
        out["ca_certs"] = requests.utils.DEFAULT_CA_BUNDLE_PATH
    elif isinstance(options.verify, str):
        out["ca_cert_dir" if os.path.isdir(options.verify) else "ca_certs"] = options.verify
    if isinstance(options.cert, tuple):
        out["cert_file"], out["key_file"] = options.cert
    elif options.cert:
        out["cert_file"] = options.cert
    return out


class Response:
    """One answer, its body unread: ``status_code``, ``headers`` (case-insensitive), ``url`` (after redirects),
    ``history`` (the redirect answers that led here), ``raw`` (the ``urllib3`` response).

    The body is read with :meth:`iter_content`, which raises ``requests``' exceptions as ``requests`` does;
    :meth:`close` gives the connection back to the pool (or drops it when the body was left unread).
    """

    __slots__ = ("raw", "status_code", "headers", "url", "history", "_consumed")

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str, history: list) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self.url = url
        self.history = history
        self._consumed = False

    def iter_content(self, chunk_size: Optional[int] = 1) -> Iterator[bytes]:
        """The body, decoded (gzip, deflate...), in pieces of ``chunk_size`` bytes or, with None, as they arrive."""
        try:
            yield from self.raw.stream(chunk_size, decode_content=True)
        except _READ_ERRORS as exc:
            raise _read_error(exc) from exc
        self._consumed = True

    @property
    def length_remaining(self) -> Optional[int]:
        """The bytes of the body left to read, as its framing says: ``urllib3``'s reading of Content-Length, which a
        chunked body overrides (RFC 9112, section 6.3). None when only the end of the body will tell."""
        return self.raw.length_remaining

    def read(self) -> bytes:
        """The whole body, decoded, in one read (for a body of known and bounded size: see ``Sender.read_text``)."""
        try:
            data = self.raw.read(decode_content=True)
        except _READ_ERRORS as exc:
            raise _read_error(exc) from exc
        self._consumed = True
        return data

    def close(self) -> None:
        """Frees the connection: back to the pool once the body was read, closed otherwise."""
        if not self._consumed:
            self.raw.close()
        self.raw.release_conn()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


_READ_ERRORS = (ProtocolError, DecodeError, ReadTimeoutError, Urllib3SSLError)


def _read_error(exc: Exception) -> rex.RequestException:
    """The ``requests`` exception of a failure while reading a body, as ``requests`` raises it."""
    if isinstance(exc, ProtocolError):
        return rex.ChunkedEncodingError(exc)
    if isinstance(exc, DecodeError):
        return rex.ContentDecodingError(exc)
    if isinstance(exc, ReadTimeoutError):
        return rex.ConnectionError(exc)  # as requests: is_timeout() looks inside
    return rex.SSLError(exc)


class _Route:
    """How one origin is reached: its pool, and whether the request line holds the whole URL (plain HTTP
    through a proxy)."""

    __slots__ = ("pool", "absolute", "auth")

    def __init__(self, pool: urllib3.HTTPConnectionPool, absolute: bool, auth: Optional[str]) -> None:
        self.pool = pool
        self.absolute = absolute
        self.auth = auth  # user:password in the URL: Basic authentication, as requests sends it


class Transport:
    """HTTP for one connection, set up by :func:`transport_options`, over ``urllib3`` pools sized for it.

    The environment is read once per origin, not on every call. Thread-safe: the pools are ``urllib3``'s,
    the routes and cookies are kept under a lock.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.options = transport_options(settings)
        in_flight = settings.concurrency_ceiling
        hosts = 4 + len(settings.replica_roots())  # a pool per replica, so that none evicts another's connections
        # what every pool of this connection gets: its size, no retry of urllib3's own, the TLS options
        self.pool_options: dict[str, Any] = dict(num_pools=hosts, maxsize=max(10, in_flight * 2), block=False,
                                                  retries=False, **tls_pool_options(self.options))
        self._direct = urllib3.PoolManager(**self.pool_options)
        self._direct.pool_classes_by_scheme = POOL_CLASSES  # a request's head and body in one write
        self._proxied: dict[str, urllib3.PoolManager] = {}
        self._routes: dict[str, _Route] = {}
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}
        self._headers = {"User-Agent": USER_AGENT, **_DEFAULT_HEADERS}
        self._credentials = _CREDENTIAL_HEADERS.union(
            name.lower() for name in (settings.auth_header_name or "", *(n for n, _ in settings.extra_headers)) if name)
        self.cookies = CookieJar()  # as a requests session: cookies a provider sets are sent back to it
        self._cookies_seen = False  # no cookie ever set: no cookie work per call
        self._lock = threading.Lock()

    @property
    def proxies(self) -> dict[str, str]:
        """The preset's proxy for both schemes (``{}`` without one)."""
        proxy = self.options.proxy
        return {"http": proxy, "https": proxy} if proxy else {}

    def proxies_for(self, url: str) -> Optional[dict]:
        """The preset's proxy, else the environment's for this URL's host (honouring NO_PROXY). Read when a
        server is first reached: its route is kept (:meth:`_route`)."""
        if self.options.proxy:
            return self.proxies
        found = requests.utils.get_environ_proxies(url) or {}
        return {k: v for k, v in found.items() if k != "no"} or None

    def request(self, method: str, url: str, *, data: Optional[bytes] = None,
                headers: Optional[Mapping[str, str]] = None, params: Optional[Mapping[str, str]] = None,
                timeout: tuple[float, float] = (10.0, 60.0), allow_redirects: bool = True) -> Response:
        """One exchange; the answer's body is left unread (read it, or close the response). Failures raise
        ``requests``' exceptions, as a ``requests`` session would:
        ``SSLError``, ``ProxyError``, ``ConnectTimeout``, ``ReadTimeout``, ``ConnectionError``,
        ``TooManyRedirects``; a URL or header value HTTP does not allow raises a ``ValueError``."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        sent = {**self._headers, **(headers or {})}
        deadline = self._timeouts.get(timeout)
        if deadline is None:  # a connection asks for the same pair every time: one object for it
            deadline = self._timeouts[timeout] = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        history: list[Response] = []
        while True:
            response = Response(self._send(method, url, data, sent, deadline), url, history)
            if self._cookies_seen or "Set-Cookie" in response.headers:
                self._keep_cookies(url, sent, response)
            location = response.headers.get("Location") if allow_redirects and response.status_code in (
                301, 302, 303, 307, 308) else None
            if not location:
                return response
            if len(history) >= MAX_REDIRECTS:
                response.close()
                raise rex.TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.", response=None)
            response.raw.drain_conn()
            response.close()
            history.append(response)
            target = urljoin(url, location.encode("latin-1", "replace").decode("utf-8", "replace"))
            if response.status_code in (302, 303) and method != "HEAD" or (response.status_code == 301
                                                                            and method == "POST"):
                method, data = "GET", None  # what browsers do, and requests with them
                sent = {k: v for k, v in sent.items() if k not in _BODY_HEADERS}
            if _leaves_origin(url, target):
                sent = {k: v for k, v in sent.items() if k.lower() not in self._credentials}
            url = target

    def _send(self, method: str, url: str, data: Optional[bytes], headers: dict,
              timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """One request on the origin's pool; ``urllib3``'s failures raised as ``requests``' (its own mapping)."""
        split = url.find("/", url.find("//") + 2) if "//" in url else -1
        origin, target = (url, "/") if split < 0 else (url[:split], url[split:])
        if "?" in origin:  # a query straight after the host
            origin, query = origin.split("?", 1)
            target = "/?" + query
        if "#" in target:
            target = target.split("#", 1)[0]
        route = self._routes.get(origin) or self._route(origin, url)
        if route.auth:
            headers = {**headers, "Authorization": route.auth}
        if self._cookies_seen:
            headers = self._with_cookies(url, headers)
        try:
            line = requests.utils.urldefragauth(url) if route.absolute else target
            return route.pool.urlopen(method, line, body=data, headers=headers, redirect=False, assert_same_host=False,
                                      preload_content=False, decode_content=False, retries=_NO_RETRY, timeout=timeout,
                                      chunked=False)
        except (ProtocolError, OSError) as exc:
            raise rex.ConnectionError(exc) from exc
        except MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
                raise rex.ConnectTimeout(exc) from exc
            if isinstance(reason, ResponseError):
                raise rex.RetryError(exc) from exc
            if isinstance(reason, Urllib3ProxyError):
                raise rex.ProxyError(exc) from exc
            if isinstance(reason, Urllib3SSLError):
                raise rex.SSLError(exc) from exc
            raise rex.ConnectionError(exc) from exc
        except ClosedPoolError as exc:
            raise rex.ConnectionError(exc) from exc
        except Urllib3ProxyError as exc:
            raise rex.ProxyError(exc) from exc
        except Urllib3SSLError as exc:
            raise rex.SSLError(exc) from exc
        except ReadTimeoutError as exc:
            raise rex.ReadTimeout(exc) from exc
        except Urllib3InvalidHeader as exc:
            raise rex.InvalidHeader(exc) from exc
        except HTTPError as exc:
            if isinstance(exc, LocationValueError):
                raise rex.InvalidURL(exc) from exc
            raise rex.ConnectionError(exc) from exc

    def _route(self, origin: str, url: str) -> _Route:
        """The pool of ``origin`` (through the preset's or the environment's proxy), made once."""
        try:
            parsed = urllib3.util.parse_url(origin)
        except LocationValueError as exc:
            raise rex.InvalidURL(exc) from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise rex.InvalidURL(f"the URL must start with http:// or https:// and name a host: {origin!r}")
        proxy = requests.utils.select_proxy(url, self.proxies_for(url) or {})
        absolute = False
        if proxy:
            manager = self._proxy_manager(requests.utils.prepend_scheme_if_needed(proxy, "http"))
            # plain HTTP through an HTTP proxy names the whole URL; HTTPS goes through a CONNECT tunnel
            absolute = parsed.scheme == "http" and not proxy.lower().startswith("socks")
        else:
            manager = self._direct
        auth = None
        if parsed.auth:
            user, password = requests.utils.get_auth_from_url(origin)
            auth = urllib3.util.make_headers(basic_auth=f"{user}:{password}")["authorization"]
        route = _Route(manager.connection_from_host(parsed.host, parsed.port, parsed.scheme), absolute, auth)
        with self._lock:
            self._routes[origin] = route
        return route

    def _proxy_manager(self, proxy: str) -> urllib3.PoolManager:
        with self._lock:
            manager = self._proxied.get(proxy)
            if manager is not None:
                return manager
            if not urllib3.util.parse_url(proxy).host:
                raise rex.InvalidProxyURL("the proxy URL names no host")
            username, password = requests.utils.get_auth_from_url(proxy)
            if proxy.lower().startswith("socks"):
                try:
                    from urllib3.contrib.socks import SOCKSProxyManager
                except ImportError:  # PySocks is not installed (requests says the same, in fewer words)
                    raise rex.InvalidSchema("a SOCKS proxy needs the PySocks package, which the code env does "
                                            "not have") from None
                manager = SOCKSProxyManager(proxy, username=username, password=password, **self.pool_options)
            else:
                proxy_headers = {}
                if username:
                    proxy_headers = urllib3.util.make_headers(proxy_basic_auth=f"{username}:{password}")
                manager = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **self.pool_options)
                manager.pool_classes_by_scheme = POOL_CLASSES
            self._proxied[proxy] = manager
            return manager

    # --- cookies: only once a provider (or a gateway before it) sets one ---------------------------

    def _keep_cookies(self, url: str, headers: dict, response: Response) -> None:
        original = getattr(response.raw, "_original_response", None)
        if original is None:
            return
        with self._lock:
            self.cookies.extract_cookies(MockResponse(original.msg),  # type: ignore[arg-type]
                                         MockRequest(_Sent(url, headers)))  # type: ignore[arg-type]
            self._cookies_seen = True

    def _with_cookies(self, url: str, headers: dict) -> dict:
        probe = MockRequest(_Sent(url, headers))
        with self._lock:
            self.cookies.add_cookie_header(probe)  # type: ignore[arg-type]
        cookie = probe.get_new_headers().get("Cookie")
        return {**headers, "Cookie": cookie} if cookie else headers

    def close(self) -> None:
        """Frees the connection pools."""
        self._direct.clear()
        with self._lock:
            for manager in self._proxied.values():
                manager.clear()
            self._routes.clear()


@dataclass
class _Sent:
    """The little of a request the cookie jar reads (through ``requests.cookies.MockRequest``)."""

    url: str
    headers: dict


def _leaves_origin(old: str, new: str) -> bool:
    """Whether a redirect from ``old`` to ``new`` goes to another host, port or scheme (an upgrade from
    ``http`` to ``https`` on the default ports stays, as in requests)."""
    before, after = urlsplit(old), urlsplit(new)
    if before.hostname != after.hostname:
        return True
    if before.scheme == "http" and after.scheme == "https" and before.port in (80, None) and after.port in (443, None):
        return False
    return (before.scheme, before.port) != (after.scheme, after.port)
