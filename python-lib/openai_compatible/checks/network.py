"""Reachability and TLS: can the DSS server open a connection to the service, and is it the right one."""
from __future__ import annotations

import time
from typing import Optional
from urllib.parse import urlsplit

import requests

from ..http.failures import transport_reason
from ..http.transport import Transport
from ..settings import safe_url
from .context import CheckContext

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def origins(ctx: CheckContext) -> list[str]:
    """The distinct ``scheme://host:port`` the preset sends requests to."""
    s = ctx.settings
    bases = [s.base_url] if s.style == "openai" else [e.base for e in s.endpoints]
    out: list[str] = []
    for base in bases:
        parts = urlsplit(base)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in out:
            out.append(origin)
    return out


def check_reachable(ctx: CheckContext) -> None:
    """One GET / per origin: the network path (proxy, firewall, DNS), then the TLS verdict."""
    s = ctx.settings
    found = origins(ctx)
    transport = Transport(s)
    try:
        for origin in found:
            host = urlsplit(origin).hostname or origin
            suffix = f":{host}" if len(found) > 1 else ""
            started = time.perf_counter()
            error: Optional[BaseException] = None
            try:
                transport.request("GET", origin + "/", timeout=(s.connect_timeout_s, min(s.read_timeout_s, 15.0)),
                                  allow_redirects=False).close()
            except Exception as exc:
                error = exc
            latency = (time.perf_counter() - started) * 1000.0
            tls_name, tls_label = "tls" + suffix, "TLS" + (f" ({host})" if suffix else "")
            if _report_reach(ctx, "reachable" + suffix, origin, error, latency):
                _report_tls(ctx, tls_name, tls_label, origin, error, latency)
            else:
                ctx.add(tls_name, tls_label, "skipped", "The service could not be reached.")
    finally:
        transport.close()


def _report_reach(ctx: CheckContext, name: str, origin: str, error: Optional[BaseException],
                  latency: float) -> bool:
    """Adds the reachability result; True when TLS can be judged (a connection was opened)."""
    s, where, label = ctx.settings, safe_url(origin), "Service reachable"
    if error is None:
        ctx.add(name, label, "ok", f"{where} answers.", latency_ms=latency)
    elif isinstance(error, requests.exceptions.SSLError):
        ctx.add(name, label, "ok", f"{where} answers on the network (the TLS check below failed).",
                latency_ms=latency)
    elif isinstance(error, requests.exceptions.ProxyError):
        ctx.add(name, label, "fail", f"The proxy refused or could not forward the connection to {where}.",
                "check 'proxy' (or the DSS server's HTTPS_PROXY / NO_PROXY environment)",
                latency_ms=latency, detail=transport_reason(error))
    elif isinstance(error, requests.exceptions.ConnectTimeout):
        ctx.add(name, label, "fail", f"No connection to {where} within {s.connect_timeout_s:g}s: a firewall, a "
                                     "wrong host or port, or a proxy is needed.",
                "check 'base_url' / 'target_uri' and 'proxy'; raise 'connect_timeout_s' if the network is slow",
                latency_ms=latency)
    elif isinstance(error, requests.exceptions.Timeout):
        ctx.add(name, label, "warn", f"{where} accepted the connection but sent nothing back within the time "
                                     "allowed.", "raise 'read_timeout_s' if the service is slow", latency_ms=latency)
    else:
        ctx.add(name, label, "fail", f"Cannot reach {where} ({transport_reason(error)}). The host or port is "
                                     "wrong, the service is down, or the DSS server cannot route to it.",
                "check 'base_url' / 'target_uri' (scheme, host and port) and 'proxy'", latency_ms=latency)
        return False
    return True


def _report_tls(ctx: CheckContext, name: str, label: str, origin: str, error: Optional[BaseException],
                latency: float) -> None:
    if isinstance(error, requests.exceptions.SSLError):
        meaning, setting = _tls_failure(error)
        ctx.add(name, label, "fail", meaning, setting, latency_ms=latency, detail=transport_reason(error))
        return
    s = ctx.settings
    parts = urlsplit(origin)
    if parts.scheme != "https":
        if (parts.hostname or "") in _LOCAL_HOSTS:
            ctx.add(name, label, "skipped", "Plain HTTP to this machine: no TLS involved.")
        else:
            ctx.add(name, label, "warn", "Plain HTTP: requests, answers and the API key cross the network "
                                         "unencrypted.", "use an https:// URL if the service offers one")
    elif not s.verify_tls:
        ctx.add(name, label, "warn", "The connection is encrypted but the service's certificate is not checked, "
                                     "so an impostor could read the traffic and the key.",
                "turn 'verify_tls' on and give 'ca_bundle' if the certificate comes from a private CA",
                latency_ms=latency)
    else:
        where = "the CA bundle in 'ca_bundle'" if s.ca_bundle else "the system's trusted CAs"
        ctx.add(name, label, "ok", f"The certificate is valid and trusted by {where}.", latency_ms=latency)


def _tls_failure(error: BaseException) -> tuple[str, str]:
    """(meaning, setting) of a failed TLS handshake."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        if "hostname" in text.lower() or "doesn't match" in text or "IP address mismatch" in text:
            return ("The certificate does not match the host name in the URL.",
                    "use the host name the certificate was issued for in 'base_url' / 'target_uri'")
        return ("The service's certificate is not trusted: it is self-signed, issued by a private (corporate) CA, "
                "or a TLS-inspecting proxy replaces it.", "set 'ca_bundle' to the PEM file of the CA that issued it")
    if "certificate required" in text.lower() or "handshake failure" in text.lower():
        return ("The service asks for a client certificate (mutual TLS) and none, or the wrong one, was sent.",
                "set 'client_cert' (and 'client_key')")
    return (f"The TLS handshake failed ({transport_reason(error)}).",
            "check 'ca_bundle', 'client_cert' and 'client_key', or whether the URL should be http://")
