"""OAuth2 client-credentials tokens for a connection: fetched once, shared by every thread, renewed before expiry.

Two preset authentication schemes use it:

* ``oauth2_client_credentials``: any OAuth2 authorization server (corporate gateways such as Azure API
  Management, Apigee, Kong, or an identity provider such as Keycloak, Okta, Auth0), RFC 6749 section 4.4.
* ``entra_id``: Microsoft Entra ID for Azure OpenAI. Only the tenant is asked for; the token URL is
  ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` and the scope
  ``https://cognitiveservices.azure.com/.default``, with the secret sent in the request body, as Microsoft
  documents them: "Microsoft identity platform and the OAuth 2.0 client credentials flow"
  (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow) and "Configure
  Azure OpenAI with Microsoft Entra ID authentication"
  (https://learn.microsoft.com/azure/ai-services/openai/how-to/managed-identity).

The protocol work (building the token request body, parsing the answer, turning an ``error`` answer into a
typed exception, reading ``expires_in``) is done by ``oauthlib``: a small, pure-Python, dependency-free and
long-maintained implementation of RFC 6749 that runs on Python 3.9 to 3.12 and is what requests-oauthlib
and Django OAuth Toolkit build on. Only its request-body and response functions are used: the HTTP call goes
through ``requests`` with the preset's TLS and proxy settings, and oauthlib's HTTPS-only switch (an
environment variable) is replaced by this module's own rule (https, or http to this machine only).
``authlib`` was the other candidate; it pulls in ``cryptography``, too heavy for a code env that only needs
a bearer token.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote, urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from oauthlib.oauth2.rfc6749.parameters import parse_token_response

from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    OpenAICompatibleError,
    ServerError,
    SettingsError,
)
from .params import clean_secret
from .preset_fields import OAUTH2_CLIENT_AUTH
from .redact import Redactor

log = logging.getLogger("openai_compatible")

ENTRA_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a URL
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
# Renew when a quarter of the token's lifetime is left, at least 2 s (expires_in and the JWT's exp are whole
# seconds, so up to 1 s of the stated lifetime may already be gone) and at most 5 minutes, never before half
# of it: a request in flight never carries an expired token. A token without expires_in is kept until the
# service answers 401.
RENEW_SHARE = 0.25
RENEW_MIN_S = 2.0
RENEW_MAX_S = 300.0
RENEW_RETRY_MIN_S = 0.5  # after a failed renewal, while the current token is still valid
_TENANT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


@dataclass(frozen=True)
class OAuth2Settings:
    """The OAuth2 part of a connection preset (client credentials grant)."""

    scheme: str  # "oauth2_client_credentials" or "entra_id"
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""
    audience: str = ""
    client_auth: str = "basic"  # "basic": HTTP Basic (RFC 6749 2.3.1); "body": in the form body
    tenant: str = ""

    @classmethod
    def from_preset(cls, preset: Mapping[str, Any], scheme: str) -> OAuth2Settings:
        """Reads the ``oauth2_*`` / ``entra_tenant_id`` fields for ``scheme``; raises :class:`SettingsError`
        naming the field and what to do."""
        def text(name: str) -> str:
            value = preset.get(name)
            if value is None:
                return ""
            if not isinstance(value, str):
                raise SettingsError(f"Preset field '{name}' must be text, not {type(value).__name__}.")
            return value.strip()

        client_id = text("oauth2_client_id")
        # pasted with its line break, like a key; refused (never shown) with a control character inside
        secret = clean_secret(preset.get("oauth2_client_secret"), "oauth2_client_secret", in_header=True) or ""
        what = "Microsoft Entra ID" if scheme == "entra_id" else "OAuth2 client credentials"
        if not client_id:
            raise SettingsError(f"Preset field 'oauth2_client_id' is empty: with {what}, give the client ID "
                                "(application ID) registered at the identity provider.")
        if not secret:
            raise SettingsError(f"Preset field 'oauth2_client_secret' is empty: with {what}, give the client "
                                "secret issued for that client ID.")
        if scheme == "entra_id":
            tenant = text("entra_tenant_id")
            if not tenant:
                raise SettingsError("Preset field 'entra_tenant_id' is empty: give the Directory (tenant) ID "
                                    "shown on the app registration's overview page in the Azure portal, or the "
                                    "tenant's domain (e.g. contoso.onmicrosoft.com).")
            if not set(tenant) <= _TENANT_CHARS:
                raise SettingsError(f"Preset field 'entra_tenant_id' is '{tenant}': give only the tenant ID (a "
                                    "GUID) or domain, not a URL.")
            return cls(scheme=scheme, token_url=ENTRA_TOKEN_URL.format(tenant=tenant), client_id=client_id,
                       client_secret=secret, scope=ENTRA_SCOPE, client_auth="body", tenant=tenant)
        token_url = text("oauth2_token_url")
        if not token_url:
            raise SettingsError("Preset field 'oauth2_token_url' is empty: give the token endpoint of the "
                                "authorization server, e.g. https://idp.corp.example.com/oauth2/token.")
        check_token_url(token_url)
        client_auth = text("oauth2_client_auth") or "basic"
        if client_auth not in OAUTH2_CLIENT_AUTH:
            raise SettingsError(f"Preset field 'oauth2_client_auth' is '{client_auth}': use one of "
                                f"{', '.join(OAUTH2_CLIENT_AUTH)}.")
        return cls(scheme=scheme, token_url=token_url, client_id=client_id, client_secret=secret,
                   scope=" ".join(text("oauth2_scope").replace(",", " ").split()),
                   audience=text("oauth2_audience"), client_auth=client_auth)

    def secrets(self) -> list[str]:
        """The secret values to redact."""
        return [self.client_secret]

    def field_for(self, error: str) -> str:
        """The preset field(s) an OAuth2 ``error`` code points at (RFC 6749 5.2, RFC 8707 2)."""
        credentials = "'oauth2_client_id' and 'oauth2_client_secret'"
        if self.scheme != "entra_id":
            credentials += " (and 'oauth2_client_auth': basic or body)"
        return {
            "invalid_client": credentials,
            "unauthorized_client": "'oauth2_client_id' (the identity provider must allow the client credentials "
                                   "grant for this client)",
            "invalid_scope": "'oauth2_scope'" if self.scheme != "entra_id" else (
                "'auth_scheme' (entra_id serves the global Azure cloud; for another cloud use "
                "oauth2_client_credentials with that cloud's token URL and scope)"),
            "invalid_target": "'oauth2_audience'",
            "unsupported_grant_type": "'oauth2_token_url'",
            "invalid_grant": credentials,
        }.get(error, "'oauth2_token_url', 'oauth2_client_id' and 'oauth2_scope'" if self.scheme != "entra_id"
              else "'entra_tenant_id', 'oauth2_client_id' and 'oauth2_client_secret'")


def renew_margin(lifetime: float) -> float:
    """Seconds before a token's stated expiry at which it is renewed (see ``RENEW_SHARE``)."""
    return min(max(lifetime * RENEW_SHARE, RENEW_MIN_S), RENEW_MAX_S, lifetime / 2)


def check_token_url(url: str) -> None:
    """Raises :class:`SettingsError` unless ``url`` is https, or http to this machine (a client secret must
    not cross a network in clear; RFC 6749 section 2.3.1 requires TLS for it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise SettingsError(f"Preset field 'oauth2_token_url' is not an http(s) URL: '{_safe(url)}'. Give the "
                            "token endpoint, e.g. https://idp.corp.example.com/oauth2/token.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise SettingsError(f"Preset field 'oauth2_token_url' is plain http ('{_safe(url)}'): the client secret "
                            "would cross the network unencrypted. Use the https:// URL of the token endpoint.")


class TokenEndpointError(AuthenticationError):
    """The token endpoint refused to issue a token; ``field`` names the preset field(s) to check and
    ``oauth2_error`` is the RFC 6749 error code (``invalid_client``, ``invalid_scope``...)."""

    kind = "authentication"

    def __init__(self, message: str, *, field: str = "", oauth2_error: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.oauth2_error = oauth2_error


@dataclass
class Token:
    """An access token and when to renew it (on the provider's clock, seconds)."""

    value: str = field(repr=False)
    renew_at: float
    expires_in: Optional[float]
    claims: dict = field(default_factory=dict, repr=False)
    # the last moment it may still be sent (expires_in is whole seconds, so up to 1 s of it may already be gone)
    usable_until: float = float("inf")


class TokenProvider:
    """Fetches and caches one client-credentials token for every thread of a process.

    ``token()`` returns a valid access token, fetching one when there is none or the current one is near
    expiry; concurrent callers wait for the one fetch in flight. ``invalidate(token)`` drops a token the
    service refused (HTTP 401), so the next ``token()`` fetches a new one; a token already replaced is
    not dropped twice. Every token is registered with the redactors that :meth:`watch` was given, and
    with this provider's own (which the log filters consult).
    """

    def __init__(self, settings: OAuth2Settings, *, verify: Any = True, cert: Any = None,
                 proxy: str = "", timeout: tuple = (10.0, 30.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.fetches = 0  # token requests sent, refused ones included
        self._timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        if cert:
            self._session.cert = cert
        if proxy:
            self._session.proxies = {"http": proxy, "https": proxy}
            self._session.trust_env = False
        self._token: Optional[Token] = None
        self._lock = threading.Lock()
        self._redact = Redactor(settings.secrets())
        self._watchers: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<TokenProvider {self.settings.scheme} {_safe(self.settings.token_url)}>"

    def watch(self, redactor: Redactor) -> None:
        """Registers ``redactor`` to learn every token this provider fetches (past ones included)."""
        with self._lock:
            self._watchers.add(redactor)
            if self._token is not None:
                redactor.add(self._token.value)

    def token(self) -> str:
        """A valid access token; raises :class:`TokenEndpointError` or a transport error when none can be had.

        A renewal that fails (the identity provider down, or refusing the client) while the current token is
        still valid keeps that token: calls go on with it, and the renewal is tried again a little later
        (a quarter of the time left, at least ``RENEW_RETRY_MIN_S``), up to the token's expiry."""
        current = self._token
        if current is not None and self.clock() < current.renew_at:
            return current.value
        with self._lock:
            current = self._token
            now = self.clock()
            if current is not None and now < current.renew_at:
                return current.value
            try:
                current = self._token = self._fetch()
            except OpenAICompatibleError as exc:
                if current is None or now >= current.usable_until:
                    raise
                current.renew_at = min(current.usable_until,
                                       now + max(RENEW_RETRY_MIN_S, (current.usable_until - now) / 4))
                log.warning("Renewing the OAuth2 access token failed (%s); the current token stays in use for "
                            "%.0f s more, and renewal is tried again in %.1f s.", self._redact(str(exc))[:300],
                            current.usable_until - now, current.renew_at - now)
            return current.value

    def invalidate(self, token: Optional[str] = None) -> None:
        """Forgets ``token`` (or whatever token is current when None) so the next call fetches a new one."""
        with self._lock:
            if self._token is not None and (token is None or self._token.value == token):
                self._token = None

    def fetch(self) -> Token:
        """Fetches a new token now, whatever the current one, and keeps it (the connection test's own step)."""
        with self._lock:
            self._token = self._fetch()
            return self._token

    # --- the token request ----------------------------------------------------------------------------

    def _fetch(self) -> Token:
        s = self.settings
        where = f"token endpoint {_safe(s.token_url)}"
        extra: dict[str, str] = {}
        if s.audience:
            extra["audience"] = s.audience  # Auth0 and several gateways read this name
            if urlsplit(s.audience).scheme:
                extra["resource"] = s.audience  # RFC 8707 resource indicator (an absolute URI)
        client = BackendApplicationClient(s.client_id)
        if s.client_auth == "body":
            body = client.prepare_request_body(scope=s.scope or None, include_client_id=True,
                                               client_secret=s.client_secret, **extra)
            auth_header = None
        else:
            body = client.prepare_request_body(scope=s.scope or None, **extra)
            # RFC 6749 2.3.1: the id and secret are form-encoded before the Basic encoding
            pair = f"{quote(s.client_id, safe='')}:{quote(s.client_secret, safe='')}"
            auth_header = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if auth_header:
            headers["Authorization"] = auth_header
        self.fetches += 1
        started = self.clock()
        try:
            response = self._session.post(s.token_url, data=body, headers=headers, timeout=self._timeout,
                                          allow_redirects=False)
        except requests.exceptions.SSLError:
            raise _of_token_endpoint(APIConnectionError(
                f"{where}: TLS failed. If the identity provider uses a corporate certificate authority, set "
                "'ca_bundle' in the preset.")) from None
        except requests.exceptions.Timeout:
            raise _of_token_endpoint(APITimeoutError(
                f"{where}: no answer within the timeouts; check 'oauth2_token_url' and 'proxy'.")) from None
        except requests.exceptions.RequestException as exc:
            raise _of_token_endpoint(APIConnectionError(
                f"{where}: cannot reach it ({type(exc).__name__}); check '{self._url_field}' and 'proxy'.")) from None
        text = response.text
        status = response.status_code
        response.close()
        if status >= 500 or status in (408, 429):
            raise _of_token_endpoint(ServerError(
                self._redact(f"{where}: HTTP {status}; the identity provider failed, retrying."), status=status))
        if status in (301, 302, 303, 307, 308, 404, 405) or not _looks_like_json(text):
            raise TokenEndpointError(
                f"{where}: HTTP {status} and no OAuth2 answer: '{self._url_field}' is not a token endpoint.",
                field=f"'{self._url_field}'", status=status)
        try:
            answer = parse_token_response(text, scope=None)
        except OAuth2Error as exc:
            raise self._refusal(exc.error, exc.description, status, where) from None
        except (ValueError, Warning) as exc:
            raise TokenEndpointError(f"{where}: the answer is not a valid token response "
                                     f"({self._redact(exc)[:200]}).", field=f"'{self._url_field}'",
                                     status=status) from None
        value = str(answer.get("access_token") or "")
        token_type = str(answer.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise TokenEndpointError(f"{where}: issued a '{token_type}' token; only Bearer tokens can be sent.",
                                     field=f"'{self._url_field}'", status=status)
        self._learn(value)
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else None
        renew_at = started + lifetime - renew_margin(lifetime) if lifetime else float("inf")
        log.info("Fetched an OAuth2 access token from %s (valid %s).", _safe(s.token_url),
                 f"{lifetime:g}s" if lifetime else "until refused")
        usable_until = started + lifetime - 1.0 if lifetime else float("inf")
        return Token(value=value, renew_at=renew_at, expires_in=lifetime, claims=_jwt_claims(value),
                     usable_until=usable_until)

    @property
    def _url_field(self) -> str:
        return "entra_tenant_id" if self.settings.scheme == "entra_id" else "oauth2_token_url"

    def _learn(self, token: str) -> None:
        self._redact.add(token)
        for redactor in list(self._watchers):
            redactor.add(token)

    def _refusal(self, error: str, description: Optional[str], status: int, where: str) -> TokenEndpointError:
        s = self.settings
        said = self._redact(description or "")[:300].strip()
        fields = s.field_for(error)
        if s.scheme == "entra_id" and error == "invalid_request" and ("AADSTS90002" in said
                                                                     or "AADSTS900023" in said):
            fields = "'entra_tenant_id'"  # Entra's codes for an unknown or malformed tenant
        first = fields.split("'")[1] if "'" in fields else fields
        return TokenEndpointError(
            f"{where} refused to issue a token ({error}{': ' + said if said else ''}). Check {fields} in the "
            "preset.", field=first, oauth2_error=error, status=status, code=error, provider_message=said or None)


# --- one provider per credentials, shared by every client of the process ------------------------------

_providers: dict[tuple, TokenProvider] = {}
_providers_lock = threading.Lock()


def shared_provider(settings: OAuth2Settings, *, verify: Any = True, cert: Any = None, proxy: str = "",
                    timeout: tuple = (10.0, 30.0)) -> TokenProvider:
    """The process-wide provider for these credentials and network settings, created on first use, so that
    every client, thread and connection test of a process shares one token."""
    secret_hash = hashlib.sha256(settings.client_secret.encode("utf-8")).hexdigest()
    key = (settings.scheme, settings.token_url, settings.client_id, secret_hash, settings.scope,
           settings.audience, settings.client_auth, repr(verify), repr(cert), proxy)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = TokenProvider(settings, verify=verify, cert=cert, proxy=proxy,
                                                       timeout=timeout)
        return provider


def reset_shared_providers() -> None:
    """Forgets every shared provider and its token (tests; a process whose identity provider was reset)."""
    with _providers_lock:
        _providers.clear()


def httpx_auth(provider: TokenProvider) -> Any:
    """An ``httpx.Auth`` for the official SDK's HTTP client: a fresh token on every request, and on a 401 one
    renewal and one resend (httpx is imported here: the SDK brings it, the plugin does not need it)."""
    import httpx

    class _TokenAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Any:
            token = provider.token()
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code == 401:
                provider.invalidate(token)
                request.headers["Authorization"] = f"Bearer {provider.token()}"
                yield request

    return _TokenAuth()


# --- helpers -------------------------------------------------------------------------------------------

def _of_token_endpoint(error: OpenAICompatibleError) -> OpenAICompatibleError:
    """Marks a transient failure as the token endpoint's (``token_endpoint``): retried like any, but not the
    service's, so that a replica is not left out for it (http/replicas.py, ``is_replica_failure``)."""
    error.token_endpoint = True  # type: ignore[attr-defined]
    return error


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.split("?")[0]


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] == "{"


def _jwt_claims(token: str) -> dict:
    """The claims of a JWT access token, unverified (for the connection test's report); {} for opaque ones."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}
