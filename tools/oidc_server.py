"""Start and stop the real OAuth2 / OpenID Connect server of the tests (npm ``oidc-provider`` under Node).

``make oidc`` installs it (``npm ci`` in ``tests/servers/oidc``). ``start_oidc_server()`` writes the
clients to a config file, runs ``tests/servers/oidc/server.mjs`` on 127.0.0.1 and returns an
:class:`OIDCServer` once it printed READY and its discovery document answers. Its access tokens are RS256
JWTs for the resource :data:`RESOURCE`, valid ``ttl`` seconds. Stop it with ``stop_process(server.process)``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from typing import Dict, List, Optional, Sequence, Tuple

from tools.servers import REPO_ROOT, ServerStartError, _log_path, _read_ready_line, _spawn, _wait_http, stop_process

OIDC_DIR = os.path.join(REPO_ROOT, "tests", "servers", "oidc")
RESOURCE = "https://llm-gateway.test/v1"
SCOPE = "llm:invoke"
FORBIDDEN_SCOPE = "llm:admin"  # known to the server, not granted to the test clients: invalid_scope


@dataclasses.dataclass(frozen=True)
class OIDCClient:
    """A registered client: its id, secret and how it authenticates at the token endpoint."""

    client_id: str
    client_secret: str
    client_auth: str  # "basic" (client_secret_basic) or "body" (client_secret_post)
    ttl: Optional[int] = None  # token lifetime in seconds; None: the server's default
    scopes: Tuple[str, ...] = (SCOPE,)  # the scopes this client may ask for

    def metadata(self) -> dict:
        method = "client_secret_basic" if self.client_auth == "basic" else "client_secret_post"
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "grant_types": ["client_credentials"], "redirect_uris": [], "response_types": [],
                "scope": " ".join(self.scopes), "token_endpoint_auth_method": method}


DEFAULT_CLIENTS = (
    OIDCClient("gateway-basic", "basic-secret-7f3a9c1e5b", "basic"),
    OIDCClient("gateway-body", "body-secret-2d8e4b6a0c", "body"),
    # a secret with the characters RFC 6749 2.3.1 says must be form-encoded inside the Basic header
    OIDCClient("gateway-symbols", "s3cr:t+with/sym%bols= and space", "basic"),
    # long-lived tokens, for tests that count fetches and must not see a renewal by expiry
    OIDCClient("gateway-long", "long-secret-9b1d3f5e7a", "body", ttl=600),
)


@dataclasses.dataclass
class OIDCServer:
    """A running oidc-provider: ``issuer`` (``http://127.0.0.1:PORT``), its token and JWKS URLs, clients."""

    process: subprocess.Popen[bytes]
    issuer: str
    clients: Dict[str, OIDCClient]
    ttl: int
    log_path: Optional[str] = None
    token_path: str = "/token"  # noqa: S105 - a URL path

    @property
    def token_url(self) -> str:
        return self.issuer + self.token_path

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    def stats(self) -> Dict[str, int]:
        """Token requests seen, tokens issued and refusals, counted by the server since it started."""
        with urllib.request.urlopen(self.issuer + "/test/stats", timeout=5) as resp:  # noqa: S310 - local URL
            return json.loads(resp.read())

    def issued_tokens(self) -> List[str]:
        """Every access token the server has issued since it started, oldest first."""
        with urllib.request.urlopen(self.issuer + "/test/tokens", timeout=5) as resp:  # noqa: S310 - local URL
            return list(json.loads(resp.read())["tokens"])

    def fail_token_requests(self, after: int, count: int, mode: str = "reset") -> None:
        """Token requests numbered ``after + 1`` to ``after + count`` (counted since the server started) fail:
        ``reset`` (the connection drops, no answer), ``503`` (an HTML 503 page) or ``invalid_client`` (RFC 6749
        5.2's 401, as for a rotated secret). Keyed on request numbers, never on time."""
        query = urllib.parse.urlencode({"after": after, "count": count, "mode": mode})
        request = urllib.request.Request(f"{self.issuer}/test/fail?{query}", data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - local URL
            resp.read()

    def preset_fields(self, client_id: str = "gateway-basic", **changes: str) -> dict:
        """The preset fields of an ``oauth2_client_credentials`` connection through this server."""
        client = self.clients[client_id]
        fields = {"auth_scheme": "oauth2_client_credentials", "oauth2_token_url": self.token_url,
                  "oauth2_client_id": client.client_id, "oauth2_client_secret": client.client_secret,
                  "oauth2_scope": SCOPE, "oauth2_audience": RESOURCE, "oauth2_client_auth": client.client_auth}
        fields.update(changes)
        return fields


def node_modules_ready() -> bool:
    return os.path.isdir(os.path.join(OIDC_DIR, "node_modules", "oidc-provider"))


def start_oidc_server(*, ttl: int = 4, clients: Sequence[OIDCClient] = DEFAULT_CLIENTS,
                      scopes: Sequence[str] = (SCOPE,), token_path: str = "/token",  # noqa: S107
                      log_dir: Optional[str] = None, timeout: float = 30.0) -> OIDCServer:
    """Start oidc-provider with the client credentials grant, JWT access tokens valid ``ttl`` seconds.

    ``scopes`` are those the resource server grants; ``token_path`` moves the token endpoint (e.g. to
    Microsoft Entra ID's ``/{tenant}/oauth2/v2.0/token``)."""
    node = shutil.which("node")
    if node is None:
        raise ServerStartError("node is not installed (Node.js 20 or later is needed for the OAuth2 tests)")
    if not node_modules_ready():
        raise ServerStartError(f"oidc-provider is not installed in {OIDC_DIR} (run `make oidc`)")
    log_path = _log_path(log_dir, "oidc.log")
    config_path = os.path.join(os.path.dirname(log_path), "oidc-clients.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump({"clients": [c.metadata() for c in clients], "resource": RESOURCE, "scopes": list(scopes),
                   "token_path": token_path,
                   "extra_scopes": [FORBIDDEN_SCOPE],
                   "client_ttls": {c.client_id: c.ttl for c in clients if c.ttl}}, handle)
    cmd = [node, os.path.join(OIDC_DIR, "server.mjs"), "--config", config_path, "--ttl", str(ttl)]
    proc = _spawn(cmd, log_path, stdout=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    issuer = _read_ready_line(proc, deadline, "OIDC server")
    _wait_http(proc, issuer + "/.well-known/openid-configuration", deadline, "OIDC server")
    return OIDCServer(process=proc, issuer=issuer, clients={c.client_id: c for c in clients}, ttl=ttl,
                      log_path=log_path, token_path=token_path)


def stop_oidc_server(server: OIDCServer) -> None:
    stop_process(server.process)
