"""The sentences of the connection checks: what an error means, and which preset setting to change."""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    OpenAICompatibleError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SettingsError,
    UnknownModelError,
)
from ..oauth2 import TokenEndpointError
from ..settings import ConnectionSettings


def quoted(items: Sequence[str]) -> str:
    """``'a', 'b'``: names as they appear in a sentence."""
    return ", ".join(f"'{i}'" for i in items)


def provider_words(error: BaseException) -> str:
    """The provider's words for an error (no final period: it is embedded in sentences)."""
    if isinstance(error, OpenAICompatibleError):
        text = error.provider_message or error.message
    else:
        text = f"{type(error).__name__}: {error}"
    return text.strip().rstrip(".")


def scheme_words(scheme: str, header_name: str, query_param: str) -> str:
    """How a scheme carries the key, in words (``"the 'api-key' header"``); never the key."""
    return {"bearer": "a Bearer token", "api_key_header": "the api-key header",
            "custom_header": f"the '{header_name}' header", "query_param": f"the '{query_param}' query parameter",
            "none": "no key", "oauth2_client_credentials": "a Bearer token from the token endpoint",
            "entra_id": "a Bearer token from Microsoft Entra ID"}[scheme]


def scheme_setting(scheme: str, header_name: str, query_param: str) -> str:
    """The preset settings that select ``scheme`` (with the header or parameter name it needs)."""
    if scheme == "custom_header":
        return f"set 'auth_scheme' to 'custom_header' and 'auth_header_name' to '{header_name}'"
    if scheme == "query_param":
        return f"set 'auth_scheme' to 'query_param' and 'auth_query_param' to '{query_param}'"
    return f"set 'auth_scheme' to '{scheme}'"


def auth_setting(settings: ConnectionSettings) -> str:
    """The setting to check when the service refuses the credentials."""
    if settings.per_user_key:
        return "update your key in Profile & Settings > Credentials (per-user key of this preset)"
    if settings.auth_scheme == "none":
        return "set 'auth_scheme' (Bearer for most services) and 'api_key'"
    if settings.auth_scheme == "entra_id":
        return ("give the app registration the 'Cognitive Services OpenAI User' role on the Azure OpenAI resource, "
                "and check 'entra_tenant_id'")
    if settings.oauth2 is not None:
        return "check 'oauth2_scope' and 'oauth2_audience': the service refused the token the endpoint issued"
    return "check 'api_key' and 'auth_scheme' (and 'auth_header_name' for a custom header)"


def url_setting(settings: ConnectionSettings, url_fix: str = "") -> str:
    """The setting to change when the URL leads somewhere else than the API."""
    if url_fix:
        return url_fix
    if settings.style == "openai":
        return "check that 'base_url' is the URL that exposes the API (usually ending in /v1)"
    return "check the endpoint's 'kind' and 'target_uri'"


def explain_error(error: BaseException, settings: ConnectionSettings, model: Optional[str],
                  url_fix: str = "") -> tuple[str, str, str]:
    """(meaning, setting, status) for an error of a check's call. ``url_fix`` is the setting to give when
    the base URL is known to be wrong (the service answers under /v1)."""
    where = f"'{model}'" if model else "the service"
    if isinstance(error, TokenEndpointError):
        return "No token: the token endpoint refused to issue one.", f"check '{error.field}'", "fail"
    if isinstance(error, AuthenticationError):
        return "The service refused the credentials.", auth_setting(settings), "fail"
    if isinstance(error, PermissionDeniedError):
        return (f"The key is valid but not allowed to use {where}.",
                "ask the provider to grant the key access, or use another key", "fail")
    if isinstance(error, UnknownModelError):
        if url_fix:
            return f"The URL was not found when calling {where}: the base URL lacks /v1.", url_fix, "fail"
        if settings.style == "azure":
            return (f"The service doesn't know {where}: the deployment name or the endpoint URL is wrong.",
                    "check the endpoint's 'deployment', 'kind' and 'target_uri'", "fail")
        return (f"The service doesn't know {where} (IDs are case-sensitive and must match the provider's).",
                "fix the ID in 'models' (see the model list check)", "fail")
    if isinstance(error, QuotaExceededError):
        return "The account's quota or credit is exhausted.", "top up or raise the quota with the provider", "fail"
    if isinstance(error, RateLimitError):
        return ("The service is rate limiting (HTTP 429) even these few calls.",
                "set 'requests_per_minute' / 'tokens_per_minute' to the provider's quota", "warn")
    if isinstance(error, APITimeoutError):
        return (f"No answer within the timeouts ({provider_words(error)}).",
                "raise 'read_timeout_s' (self-hosted models can be slow to start)", "fail")
    if isinstance(error, APIConnectionError):
        return (f"The connection failed ({provider_words(error)}).", "check 'base_url' / 'target_uri' and 'proxy'",
                "fail")
    if isinstance(error, ServerError):
        return (f"The service failed (HTTP {getattr(error, 'status', '5xx')}): {provider_words(error)}. It may be "
                "overloaded or the model not loaded; retry later.", "", "fail")
    if isinstance(error, InvalidResponseError):
        return (f"The answer is not what the OpenAI API specifies ({provider_words(error)}): the URL may point to "
                "something else than the API.", url_setting(settings, url_fix), "fail")
    if isinstance(error, SettingsError):
        return f"The preset is invalid: {provider_words(error)}", "", "fail"
    if isinstance(error, BadRequestError):
        param = getattr(error, "param", None)
        hint = f" (it blames '{param}')" if param else ""
        return (f"The service rejected the request{hint}: {provider_words(error)}. The capability checks tell "
                "which setting to change.", "", "fail")
    if isinstance(error, OpenAICompatibleError):
        return provider_words(error), "", "fail"
    return f"Unexpected error: {type(error).__name__}: {error}", "", "fail"
