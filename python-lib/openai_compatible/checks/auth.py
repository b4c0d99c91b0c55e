"""Authentication: did the service accept the key, and when it refused it, under which scheme it accepts it."""
from __future__ import annotations

from typing import Any, Optional

from ..client import Client
from ..errors import BadRequestError
from ..http.auth import SCHEMES
from ..oauth2 import TokenEndpointError
from .context import PING, CheckContext
from .explain import auth_setting, provider_words, scheme_setting, scheme_words

NAME, LABEL = "authentication", "Authentication"
# a header many gateways use besides the preset's own custom header name (Anthropic-style and Kong-style
# gateways: https://docs.anthropic.com/en/api/overview, https://docs.konghq.com/hub/kong-inc/key-auth/)
COMMON_HEADER = "x-api-key"


def check_authentication(ctx: CheckContext) -> None:
    """The verdict on the key from every call the checks before made; after a refusal, the other schemes
    are tried with the same key (one call each) and the one the service accepts is named."""
    s = ctx.settings
    whose = "your own key (per-user)" if s.per_user_key else "the preset's key"
    if s.oauth2 is not None:
        whose = "the token from the token endpoint"
    sent = scheme_words(s.auth_scheme, s.auth_header_name, s.auth_query_param)
    if isinstance(ctx.auth_error, TokenEndpointError):
        ctx.add(NAME, LABEL, "fail", "No token could be obtained from the token endpoint, so the service was not "
                                     "asked (see the token endpoint check).", f"check '{ctx.auth_error.field}'",
                detail=provider_words(ctx.auth_error))
    elif ctx.auth_error is not None:
        words = provider_words(ctx.auth_error)
        found = accepted_scheme(ctx) if s.oauth2 is None else None  # a token is not a key to move elsewhere
        if found is None:
            ctx.add(NAME, LABEL, "fail", f"The service refused {whose}, sent as {sent}: {words}", auth_setting(s),
                    detail=words)
        else:
            scheme, header, param = found
            ctx.add(NAME, LABEL, "fail", f"The service refused {whose} sent as {sent} ({words}), but accepts it sent "
                                         f"as {scheme_words(scheme, header, param)}.",
                    scheme_setting(scheme, header, param), detail=words)
    elif ctx.auth_ok:
        what = f"{whose}, sent as {sent}" if s.auth_scheme != "none" else "no key (the service is open)"
        ctx.add(NAME, LABEL, "ok", f"The service accepted {what}.")
    elif ctx.rejected is not None:
        ctx.add(NAME, LABEL, "warn", "Not confirmed: the service rejected every request "
                                     f"({provider_words(ctx.rejected)}). Some gateways answer a wrong or missing key "
                                     "this way.", auth_setting(s), detail=provider_words(ctx.rejected))
    else:
        ctx.add(NAME, LABEL, "skipped", "No call got far enough to tell whether the key is accepted.")


def candidate_schemes(ctx: CheckContext) -> list[tuple[str, str, str]]:
    """(scheme, header name, query parameter) to try: every scheme but the preset's; the custom header
    under the preset's name and under x-api-key."""
    s = ctx.settings
    out = []
    for scheme in SCHEMES:
        names = [s.auth_header_name, COMMON_HEADER] if scheme == "custom_header" else [s.auth_header_name]
        for header in dict.fromkeys(names):
            same = scheme == s.auth_scheme and (scheme != "custom_header" or header == s.auth_header_name)
            if scheme != "none" and not same:
                out.append((scheme, header, s.auth_query_param))
    return out


def accepted_scheme(ctx: CheckContext) -> Optional[tuple[str, str, str]]:
    """The first other scheme under which the service answers a one-token chat (or lists its models, when
    there is no model to chat with); None when none does or there is no key to try. The key is sent only
    to the preset's own URL, as the preset would send it."""
    s = ctx.settings
    if not s.api_key and not any(e.api_key for e in s.endpoints):
        return None
    models = ctx.chat_models()
    for scheme, header, param in candidate_schemes(ctx):
        overrides = {"auth_scheme": scheme, "auth_header_name": header, "auth_query_param": param}
        with ctx.probe(**overrides) as client:
            if _answers(client, models[0] if models else None):
                return scheme, header, param
    return None


def _answers(client: Client, model: Optional[str]) -> bool:
    """True when the service answers this client (not through ``ctx.timed``: these calls must not count as
    the preset's own)."""
    attempts: list[Any] = []
    if model is not None:
        attempts = [lambda: client.chat(PING, model=model, max_tokens=1), lambda: client.chat(PING, model=model)]
    elif client.settings.style == "openai":
        attempts = [lambda: client.discover_models(refresh=True)]
    for attempt in attempts:
        try:
            attempt()
            return True
        except BadRequestError:  # perhaps the output limit: try the minimal request
            continue
        except Exception:  # refused, or unreachable: this scheme is not the one
            return False
    return False
