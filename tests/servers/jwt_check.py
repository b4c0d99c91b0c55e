"""Bearer-token checking for the fault server: it accepts only JWT access tokens the test OIDC server signed.

A resource server behind an OAuth2 gateway validates each access token itself: the signature against the
authorization server's published keys (JWKS), the issuer, the audience and the expiry (RFC 9068 section 4,
"Validating JWT Access Tokens"; RFC 6750 section 3 for the 401 answer and its ``WWW-Authenticate`` header).
PyJWT does the validation; this module only wires it to the fault server's rules::

    checker = JWTChecker(jwks_url, issuer=issuer, audience=resource)
    require_jwt(fault_server, checker)       # 401 invalid_token for a missing, forged or expired token
    checker.accepted, checker.rejected       # counts; checker.reasons lists why tokens were refused
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Optional

import jwt

from tests.servers.fault_server import Fault, FaultServer, RecordedRequest, Rule, oai_error


class JWTChecker:
    """Validates ``Authorization: Bearer <jwt>`` headers against an issuer's JWKS (fetched, then cached)."""

    def __init__(self, jwks_url: str, *, issuer: str, audience: str, leeway_s: float = 0.0) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=5)
        self._lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self.reasons: collections.Counter = collections.Counter()
        self.tokens_seen: set = set()

    def reason_to_refuse(self, authorization: Optional[str]) -> Optional[str]:
        """None when the header carries a valid token, else a short reason (``missing``, ``expired``...)."""
        reason = self._check(authorization)
        with self._lock:
            if reason is None:
                self.accepted += 1
            else:
                self.rejected += 1
                self.reasons[reason] += 1
        return reason

    def _check(self, authorization: Optional[str]) -> Optional[str]:
        if not authorization or not authorization.startswith("Bearer "):
            return "missing"
        token = authorization[len("Bearer "):]
        with self._lock:
            self.tokens_seen.add(token)
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            jwt.decode(token, key.key, algorithms=["RS256", "PS256", "ES256"], audience=self.audience,
                       issuer=self.issuer, leeway=self.leeway_s,
                       options={"require": ["exp", "iat", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            return "expired"
        except jwt.InvalidAudienceError:
            return "audience"
        except jwt.InvalidSignatureError:
            return "signature"
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            return "invalid"
        return None


def require_jwt(server: FaultServer, checker: JWTChecker) -> Rule:
    """Adds a rule to ``server``: a request without a valid token gets 401 ``invalid_token``."""
    fault = Fault.error(401, oai_error("The access token is missing, invalid or expired.", "invalid_request_error",
                                       code="invalid_token"),
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, label="jwt")

    def refused(req: RecordedRequest) -> Any:
        return checker.reason_to_refuse(req.header("authorization")) is not None

    return server.add_rule(fault, refused)


class Revocation:
    """A gateway that revokes one access token mid-run: the token carried by the first request numbered ``at`` or
    later is refused (401 ``invalid_token``) from that request on, as after an OAuth 2.0 token revocation
    (RFC 7009) that the resource server learns by introspection (RFC 7662). Keyed on the request number, never on
    time; ``refused`` counts the requests refused, ``token`` is the revoked token."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.token: Optional[str] = None
        self.refused = 0

    def __call__(self, req: RecordedRequest) -> bool:
        authorization = req.header("authorization")
        if self.token is None and req.route is not None and req.number >= self.at:
            self.token = authorization
        if authorization and authorization == self.token:
            self.refused += 1
            return True
        return False


def revoke_token_at(server: FaultServer, at: int) -> Revocation:
    """Adds a rule to ``server`` (after :func:`require_jwt`'s): the token of request number ``at`` is revoked."""
    revocation = Revocation(at)
    fault = Fault.error(401, oai_error("The access token has been revoked.", "invalid_request_error",
                                       code="invalid_token"),
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                     'error_description="The access token has been revoked"'},
                        label="revoked")
    server.add_rule(fault, revocation)
    return revocation
