"""The TLS, CA bundle and proxy setup of a connection: one rule, used by the client, the connection
checks and the official SDK handoff alike.

The rule: the preset's ``ca_bundle`` wins, else ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the
environment (as ``requests`` reads them), else the default trust store; ``verify_tls`` off turns
verification off. The preset's ``proxy`` wins, else the environment's proxy for the URL's host
(``HTTPS_PROXY``, ``HTTP_PROXY``, honouring ``NO_PROXY``).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import requests
from requests.adapters import HTTPAdapter

from ..settings import ConnectionSettings
from ..version import __version__

USER_AGENT = f"dss-plugin-openai-compatible/{__version__}"


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


class Transport:
    """A ``requests`` session set up by :func:`transport_options`, with a pool sized for the connection.

    The environment is read once here, not by ``requests`` on every call (that lookup was a third of
    the client's CPU per request): the session does not trust the environment, and each request gets
    the verification and the proxies explicitly.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.options = transport_options(settings)
        session = requests.Session()
        in_flight = settings.max_concurrency or settings.concurrency_upper_bound  # 0: automatic, up to the bound
        hosts = 4 + len(settings.replica_roots())  # a pool per replica, so that none evicts another's connections
        adapter = HTTPAdapter(pool_connections=hosts, pool_maxsize=max(10, in_flight * 2), max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = False
        session.verify = self.options.verify
        if self.options.cert:
            session.cert = self.options.cert
        if self.options.proxy:
            session.proxies = {"http": self.options.proxy, "https": self.options.proxy}
        session.headers.update({"User-Agent": USER_AGENT})
        self.session = session
        self._env_proxies: dict[str, dict] = {}
        self._lock = threading.Lock()

    def proxies_for(self, url: str) -> Optional[dict]:
        """The preset's proxy, else the environment's for this URL's host (honouring NO_PROXY), cached by origin."""
        if self.session.proxies:
            return self.session.proxies
        key = "/".join(url.split("/", 3)[:3])
        proxies = self._env_proxies.get(key)
        if proxies is None:
            found = requests.utils.get_environ_proxies(url) or {}
            proxies = {k: v for k, v in found.items() if k != "no"}
            with self._lock:
                self._env_proxies[key] = proxies
        return proxies or None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``requests.Session.request`` with this connection's verification and proxies."""
        # verify and proxies per request: requests would otherwise let the environment override the session's
        return self.session.request(method, url, verify=self.session.verify, proxies=self.proxies_for(url), **kwargs)

    def close(self) -> None:
        """Frees the connection pool."""
        self.session.close()
