"""The handoff to the official ``openai`` SDK: a client with this connection's URL, key, headers, query,
TLS, proxy, timeouts, retries and replicas (the same rules as :class:`openai_compatible.client.Client`)."""
from __future__ import annotations

import logging
import os
import ssl
from typing import Any, Callable, Optional

from ..errors import SettingsError
from ..oauth2 import TokenProvider, httpx_auth
from ..settings import ConnectionSettings, Endpoint, safe_url
from .auth import credentials
from .replicas import ReplicaPool
from .transport import TransportOptions, transport_options

log = logging.getLogger("openai_compatible")
_PLACEHOLDER = "openai-compatible-no-bearer"  # the SDK insists on a key; this one is never sent


def sdk_endpoint(settings: ConnectionSettings, model: Optional[str],
                 endpoint_for: Callable[[str], Endpoint]) -> Endpoint:
    """The endpoint an SDK client is bound to: the base URL in OpenAI style; in Azure style ``model``'s
    endpoint, or the only one. Raises :class:`SettingsError` when several endpoints and no ``model``."""
    if settings.style == "openai":
        return Endpoint(name=model or "", kind="openai", base=settings.base_url)
    if model:
        return endpoint_for(model)
    if len(settings.endpoints) == 1:
        return settings.endpoints[0]
    raise SettingsError("This Azure-style preset has several endpoints: pass the one to use, e.g. "
                        f"client.openai('{settings.endpoints[0].name}'). Endpoints: "
                        f"{', '.join(e.name for e in settings.endpoints)}.")


def ssl_context(options: TransportOptions) -> Any:
    """An ``ssl.SSLContext`` for :class:`TransportOptions` (``False`` when verification is off and no client
    certificate is sent): the CA bundle is loaded explicitly, so that it does not depend on the HTTP stack's
    own reading of the environment."""
    if options.verify is False and not options.cert:
        return False
    if options.verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.verify is True:
        import certifi  # the trust store requests uses, so that both stacks trust the same CAs

        context = ssl.create_default_context(cafile=certifi.where())
    elif os.path.isdir(options.verify):
        context = ssl.create_default_context(capath=options.verify)
    else:
        context = ssl.create_default_context(cafile=options.verify)
    if isinstance(options.cert, tuple):
        context.load_cert_chain(*options.cert)
    elif options.cert:
        context.load_cert_chain(options.cert)
    return context


def openai_client(settings: ConnectionSettings, endpoint: Endpoint, tokens: Optional[TokenProvider] = None,
                  replicas: Optional[ReplicaPool] = None, **kwargs: Any) -> Any:
    """An ``openai.OpenAI`` client (``openai.AzureOpenAI`` for an Azure OpenAI deployment) for ``endpoint``;
    ``kwargs`` go to the SDK client's constructor. With an OAuth2 scheme (``tokens``), every request carries a
    fresh token from the shared provider, renewed once on a 401. With ``replicas`` (the calling client's pool),
    each request goes to the replica the pool chooses and a failing replica is left out
    (:mod:`.sdk_replicas`), unless ``kwargs`` brings an ``http_client`` of its own, which then reaches the
    preset's first server only (a warning says so). Raises ImportError without the ``openai`` package."""
    try:
        import httpx
        import openai
    except ImportError:
        raise ImportError("client.openai() needs the official OpenAI Python SDK: install the 'openai' package "
                          "in this code environment (pip install openai), or use client.chat(), "
                          "client.stream() and client.embed(), which need nothing more.") from None
    s = settings
    auth_headers, auth_query = credentials(s, endpoint)
    headers = dict(s.extra_headers)
    if s.organization:
        headers["OpenAI-Organization"] = s.organization
    query: dict[str, str] = dict(s.extra_query)
    query.update(auth_query)
    sdk_key, bearer = _PLACEHOLDER, None
    if "Authorization" in auth_headers:  # the SDK sends its key as a Bearer token itself
        sdk_key = bearer = auth_headers.pop("Authorization")[len("Bearer "):]
    elif "api-key" in auth_headers and endpoint.kind == "azure_deployment":
        sdk_key = auth_headers.pop("api-key")  # AzureOpenAI sends its key as the api-key header itself
    headers.update(auth_headers)

    def drop_placeholder(request: Any) -> None:
        if request.headers.get("Authorization") == f"Bearer {_PLACEHOLDER}":
            del request.headers["Authorization"]
        if request.headers.get("api-key") == _PLACEHOLDER:
            del request.headers["api-key"]

    options = transport_options(s)
    http_options: dict[str, Any] = dict(verify=ssl_context(options), proxy=options.proxy,
                                        timeout=httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s),
                                        event_hooks={"request": [drop_placeholder]},
                                        auth=httpx_auth(tokens) if tokens is not None else None)
    if replicas is not None and replicas.serves(endpoint.base):
        if "http_client" in kwargs:
            log.warning("client.openai() was given its own http_client: its requests go to %s only, not to the "
                        "preset's %d replicas, and a replica that fails is not left out.",
                        safe_url(replicas.primary), len(replicas.replicas))
        from .sdk_replicas import ReplicaHTTPClient

        http_client = ReplicaHTTPClient(replicas, **http_options)
    else:
        http_client = httpx.Client(**http_options)
    sdk_options: dict[str, Any] = dict(default_headers=headers or None, default_query=query or None,
                                       http_client=http_client, max_retries=s.max_retries)
    sdk_options.update(kwargs)
    if endpoint.kind == "azure_deployment":
        if bearer:
            return openai.AzureOpenAI(base_url=endpoint.base, api_version=s.api_version, azure_ad_token=bearer,
                                      **sdk_options)
        return openai.AzureOpenAI(base_url=endpoint.base, api_version=s.api_version, api_key=sdk_key, **sdk_options)
    return openai.OpenAI(base_url=endpoint.base, api_key=sdk_key, **sdk_options)
