"""The token endpoint, for the OAuth2 schemes (client credentials, Entra ID): does it issue a token for the
preset's client id, secret and scope? Its own step, before any call to the service needs the token."""
from __future__ import annotations

from ..http.auth import token_provider
from ..settings import safe_url
from .context import CheckContext

NAME, LABEL = "token_endpoint", "Token endpoint (OAuth2)"


def check_token_endpoint(ctx: CheckContext) -> None:
    """Fetches a token (shared with the client's later calls); a refusal names the preset field to fix."""
    oauth = ctx.settings.oauth2
    if oauth is None:
        return  # a key scheme: there is no token endpoint to check
    token, error, latency = ctx.timed(lambda: token_provider(ctx.settings).fetch())
    if error is not None:
        ctx.add(NAME, LABEL, "fail", f"No token from the token endpoint: {ctx.redact(str(error))}",
                f"check '{getattr(error, 'field', '') or 'oauth2_token_url'}'", latency_ms=latency)
        return
    lifetime = f"valid {token.expires_in:g}s" if token.expires_in else "with no stated lifetime"
    audience = token.claims.get("aud")
    ctx.add(NAME, LABEL, "ok", f"{safe_url(oauth.token_url)} issued a Bearer token ({lifetime}) for client "
            f"'{oauth.client_id}'" + (f" with scope '{oauth.scope}'" if oauth.scope else "")
            + (f", audience {audience}" if audience else "") + ".", latency_ms=latency)
