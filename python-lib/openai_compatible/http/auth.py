"""Where the API key goes: the headers and query parameters of each authentication scheme."""
from __future__ import annotations

from typing import Optional

from ..oauth2 import TokenProvider, shared_provider
from ..preset_fields import AUTH_SCHEMES, OAUTH2_SCHEMES
from ..settings import ConnectionSettings, Endpoint
from .transport import transport_options

# the schemes that carry the preset's key (the OAuth2 ones carry a token from the token endpoint instead)
SCHEMES = tuple(scheme for scheme in AUTH_SCHEMES if scheme not in OAUTH2_SCHEMES)


def scheme_credentials(scheme: str, key: Optional[str], *, header_name: str = "",
                       query_param: str = "") -> tuple[dict[str, str], dict[str, str]]:
    """``(headers, query)`` that carry ``key`` under ``scheme``: ``bearer`` (``Authorization: Bearer``),
    ``api_key_header`` (Azure's ``api-key`` header), ``custom_header`` (``header_name``), ``query_param``
    (``query_param``) or ``none``. Both are empty without a key."""
    if not key:
        return {}, {}
    if scheme == "bearer":
        return {"Authorization": f"Bearer {key}"}, {}
    if scheme == "api_key_header":
        return {"api-key": key}, {}
    if scheme == "custom_header":
        return {header_name: key}, {}
    if scheme == "query_param":
        return {}, {query_param: key}
    return {}, {}


def endpoint_key(settings: ConnectionSettings, endpoint: Endpoint) -> Optional[str]:
    """The key for ``endpoint``: a per-user key wins, then the endpoint's own key, then the preset's."""
    if endpoint.api_key and not settings.per_user_key:
        return endpoint.api_key
    return settings.api_key


def credentials(settings: ConnectionSettings, endpoint: Endpoint) -> tuple[dict[str, str], dict[str, str]]:
    """``(headers, query)`` that carry the key of ``endpoint`` under the preset's scheme."""
    return scheme_credentials(settings.auth_scheme, endpoint_key(settings, endpoint),
                              header_name=settings.auth_header_name, query_param=settings.auth_query_param)


def request_headers(settings: ConnectionSettings, endpoint: Endpoint, accept: str = "application/json", *,
                    token: Optional[str] = None) -> dict:
    """Every header of a request to ``endpoint``: Accept, organisation, the preset's extra headers, then the key
    where its scheme puts it, or, for the OAuth2 schemes, ``token`` as a bearer token."""
    headers = {"Accept": accept}
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    headers.update(dict(settings.extra_headers))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers.update(credentials(settings, endpoint)[0])
    return headers


def request_query(settings: ConnectionSettings, endpoint: Endpoint) -> dict[str, str]:
    """The query parameters of a request: the preset's extras, Azure's ``api-version``, a key sent in the query."""
    params = dict(settings.extra_query)
    if endpoint.kind == "azure_deployment" and settings.api_version:
        params["api-version"] = settings.api_version
    params.update(credentials(settings, endpoint)[1])
    return params


def token_provider(settings: ConnectionSettings) -> Optional[TokenProvider]:
    """For the OAuth2 schemes, the process-wide token provider of these credentials, reaching the token endpoint
    with the connection's TLS and proxy rules (:func:`~openai_compatible.http.transport.transport_options`);
    None for the other schemes."""
    if settings.oauth2 is None:
        return None
    options = transport_options(settings)
    return shared_provider(settings.oauth2, verify=options.verify, cert=options.cert, proxy=options.proxy or "",
                           timeout=(settings.connect_timeout_s, min(settings.read_timeout_s, 60.0)))
