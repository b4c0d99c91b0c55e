"""Connection settings: the preset dict DSS hands over, validated into one typed object.

Every problem is reported with the preset field's name and what to do, before any request is sent.
The parameter names are the public contract of the ``connection`` parameter set.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from .errors import SettingsError
from .oauth2 import OAuth2Settings
from .params import HEADER_NAME, PresetReader, clean_secret
from .preset_fields import (
    AUTH_SCHEMES,
    ENDPOINT_FIELDS,
    ENDPOINT_KINDS,
    JSON_MODES,
    MAX_TOKENS_FIELDS,
    OAUTH2_SCHEMES,
    STREAMING,
    STYLES,
    SYSTEM_ROLES,
    default,
    describe_unknown,
    unknown_keys,
)
from .pricing import read_prices

__all__ = ["AUTH_SCHEMES", "ENDPOINT_KINDS", "JSON_MODES", "MAX_TOKENS_FIELDS", "STREAMING", "STYLES",
           "SYSTEM_ROLES", "ConnectionSettings", "Endpoint", "clean_secret"]
DEFAULT_API_VERSION = default("api_version")


@dataclass(frozen=True)
class Endpoint:
    """Where one model is served, and how to address it."""

    name: str
    kind: str  # "openai" (one base URL, model in the body), "azure_deployment" or "openai_v1"
    base: str  # the URL the API paths are appended to
    deployment: str = ""
    api_key: Optional[str] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # every way of building one (the reader, a notebook's own code, dataclasses.replace) is normalised
        object.__setattr__(self, "api_key", clean_secret(self.api_key, "endpoints.api_key", entry=self.name))

    @property
    def model_in_body(self) -> Optional[str]:
        """The ``model`` sent in request bodies (Azure deployments take it from the path)."""
        if self.kind == "azure_deployment":
            return None
        return self.deployment or self.name


@dataclass(frozen=True)
class ConnectionSettings:
    """A validated connection preset. Build it with :meth:`from_preset`."""

    style: str = default("style")
    base_url: str = ""
    replica_urls: tuple = ()  # OpenAI style: more base URLs serving the same models
    models: tuple = ()
    discover_models: bool = default("discover_models")
    organization: str = default("organization")
    target_uri: str = ""
    replica_target_uris: tuple = ()  # Azure style: more Target URIs serving the endpoints that use target_uri
    api_version: str = default("api_version")
    endpoints: tuple = ()
    auth_scheme: str = default("auth_scheme")
    auth_header_name: str = default("auth_header_name")
    auth_query_param: str = default("auth_query_param")
    api_key: Optional[str] = field(default=None, repr=False)
    extra_headers: tuple = field(default=(), repr=False)
    extra_query: tuple = field(default=(), repr=False)
    connect_timeout_s: float = default("connect_timeout_s")
    read_timeout_s: float = default("read_timeout_s")
    verify_tls: bool = default("verify_tls")
    ca_bundle: str = default("ca_bundle")
    client_cert: str = default("client_cert")
    client_key: str = default("client_key")
    proxy: str = field(default=default("proxy"), repr=False)
    max_concurrency: int = default("max_concurrency")  # 0: automatic (concurrency.py)
    concurrency_upper_bound: int = default("concurrency_upper_bound")
    requests_per_minute: int = default("requests_per_minute")
    tokens_per_minute: int = default("tokens_per_minute")
    max_retries: int = default("max_retries")
    streaming: str = default("streaming")
    stream_usage: bool = default("stream_usage")
    max_tokens_field: str = default("max_tokens_field")
    system_role: str = default("system_role")
    json_mode: str = default("json_mode")
    per_user_key: bool = default("use_per_user_key")
    oauth2: Optional[OAuth2Settings] = None  # set for the OAuth2 schemes (oauth2_client_credentials, entra_id)
    prices: tuple = ()  # ModelPrice per model (pricing.py)

    def __post_init__(self) -> None:
        # Secrets are normalised here, so that settings built without the reader (a notebook's own code,
        # Client.from_preset overrides, dataclasses.replace) can't carry a key pasted with its line break
        # to the HTTP library, whose error would print the whole header.
        in_header = self.auth_scheme != "query_param"
        object.__setattr__(self, "api_key", clean_secret(self.api_key, "api_key", in_header=in_header))
        object.__setattr__(self, "extra_headers", tuple(
            (name, clean_secret(value, "extra_headers", entry=name, in_header=True) or "")
            for name, value in self.extra_headers))
        object.__setattr__(self, "extra_query", tuple(
            (name, clean_secret(value, "extra_query", entry=name) or "") for name, value in self.extra_query))
        for endpoint in self.endpoints:
            clean_secret(endpoint.api_key, "endpoints.api_key", entry=endpoint.name, in_header=in_header)

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]], **overrides: Any) -> ConnectionSettings:
        """Validates a preset dict (as DSS resolves a PRESET parameter) into settings. ``overrides`` are preset
        fields that replace the preset's (``max_retries=0``), validated as the preset's own.

        Raises :class:`SettingsError` naming the field and what to do.
        """
        if overrides and isinstance(preset, Mapping):
            preset = {**preset, **overrides}
        if not preset:
            raise SettingsError(
                "No connection preset: choose an 'OpenAI-compatible connection' preset in the 'connection' "
                "parameter (an admin defines presets in the plugin's settings)."
            )
        if not isinstance(preset, Mapping):
            raise SettingsError(f"The connection preset must be a dict of settings, not {type(preset).__name__}.")
        unknown = unknown_keys(preset)
        if unknown:
            raise SettingsError(f"The connection preset has unknown field(s): {describe_unknown(unknown)}. Known "
                                "fields are those of the 'OpenAI-compatible connection' parameter set (README).")
        p = PresetReader(preset)
        auth_scheme = p.choice("auth_scheme")
        oauth2 = OAuth2Settings.from_preset(preset, auth_scheme) if auth_scheme in OAUTH2_SCHEMES else None
        values: dict[str, Any] = dict(
            style=p.choice("style"),
            organization=p.header_value("organization"),
            api_version=p.text("api_version") or DEFAULT_API_VERSION,
            auth_scheme=auth_scheme,
            auth_header_name=p.name("auth_header_name"),
            auth_query_param=p.name("auth_query_param"),
            # OAuth2 schemes send a token, never a key
            api_key=None if oauth2 else p.secret_key(in_header=auth_scheme != "query_param"),
            extra_headers=p.key_values("extra_headers", header=True),
            extra_query=p.key_values("extra_query"),
            connect_timeout_s=p.number("connect_timeout_s"),
            read_timeout_s=p.number("read_timeout_s"),
            verify_tls=p.boolean("verify_tls"),
            ca_bundle=p.text("ca_bundle"),
            client_cert=p.text("client_cert"),
            client_key=p.text("client_key"),
            proxy=p.text("proxy"),
            max_concurrency=p.integer("max_concurrency"),
            concurrency_upper_bound=p.integer("concurrency_upper_bound"),
            requests_per_minute=p.integer("requests_per_minute"),
            tokens_per_minute=p.integer("tokens_per_minute"),
            max_retries=p.integer("max_retries"),
            streaming=p.choice("streaming"),
            stream_usage=p.boolean("stream_usage"),
            max_tokens_field=p.choice("max_tokens_field"),
            system_role=p.choice("system_role"),
            json_mode=p.choice("json_mode"),
            per_user_key=p.boolean("use_per_user_key") and oauth2 is None,
            oauth2=oauth2,
            prices=read_prices(preset.get("prices")),
        )
        _check_auth_and_network(values)
        values.update(_style_fields(p, preset, values["style"], auth_scheme))
        return cls(**values)

    # --- derived -----------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (for redaction)."""
        out = [self.api_key or ""] + [e.api_key or "" for e in self.endpoints]
        out += [v for _, v in self.extra_headers] + [v for _, v in self.extra_query]
        if self.proxy and "@" in self.proxy:
            out.append(urlsplit(self.proxy).password or "")
        if self.oauth2 is not None:
            out += self.oauth2.secrets()
        return [s for s in out if s]

    def auth_description(self, key_sent: bool) -> str:
        """How a request was authenticated, for an error message: the scheme and the header or query parameter
        that carried the key, never the key. ``key_sent`` is False when the request carried no key."""
        scheme = f"auth_scheme '{self.auth_scheme}'"
        if self.oauth2 is not None:
            return (f"A bearer token from the token endpoint of client '{self.oauth2.client_id}' was sent in the "
                    f"'Authorization' header ({scheme}).")
        if self.auth_scheme == "none":
            return f"No key was sent ({scheme})."
        whose = "your per-user key" if self.per_user_key else "the preset's 'api_key'"
        if not key_sent:
            return f"No key was sent: {whose} is empty ({scheme})."
        carrier = {"bearer": "the 'Authorization: Bearer ...' header", "api_key_header": "the 'api-key' header",
                   "custom_header": f"the '{self.auth_header_name}' header",
                   "query_param": f"the '{self.auth_query_param}' query parameter"}[self.auth_scheme]
        return f"The key ({whose}) was sent in {carrier} ({scheme})."

    def endpoint_for(self, model: str, discovered: tuple = ()) -> Endpoint:
        """The endpoint serving ``model``; :class:`UnknownModelError` when the preset doesn't offer it."""
        from .errors import UnknownModelError

        if not isinstance(model, str) or not model.strip():
            raise SettingsError("No model given: pass model='<id>' (one of: "
                                f"{', '.join(self.listed_models()) or 'see client.models()'}).")
        if self.style == "azure":
            for endpoint in self.endpoints:
                if endpoint.name == model:
                    return endpoint
            raise UnknownModelError(f"Model '{model}' is not an endpoint of this preset. "
                                    f"Endpoints: {', '.join(e.name for e in self.endpoints)}.")
        if model in self.models or model in discovered:
            return Endpoint(name=model, kind="openai", base=self.base_url)
        offered = list(self.models) + [m for m in discovered if m not in self.models]
        raise UnknownModelError(
            f"Model '{model}' is not offered by this preset. Offered: {', '.join(offered) or 'none'}. "
            "Add it to the preset's 'models' list"
            + ("" if self.discover_models else " or turn on 'discover_models'") + "."
        )

    def replica_roots(self) -> tuple:
        """The URLs of the replicas serving the same models, the preset's own first: ``(base_url, *replica_urls)``
        in OpenAI style, ``(target_uri, *replica_target_uris)`` in Azure style; ``()`` without replicas."""
        if self.style == "openai":
            return (self.base_url, *self.replica_urls) if self.replica_urls else ()
        return (self.target_uri, *self.replica_target_uris) if self.replica_target_uris else ()

    def listed_models(self) -> list[str]:
        """Model names declared in the preset (not discovered)."""
        if self.style == "azure":
            return [e.name for e in self.endpoints]
        return list(self.models)

    def with_overrides(self, **changes: Any) -> ConnectionSettings:
        """A copy with some fields changed to values already valid (a user's go through :meth:`from_preset`)."""
        return dataclasses.replace(self, **changes)

    def capped(self, concurrency: Optional[int]) -> ConnectionSettings:
        """These settings with at most ``concurrency`` requests in flight (None: as they are): a job may only
        lower the preset's limit, the fixed one or the automatic one's upper bound, never raise it."""
        if concurrency and concurrency < self.concurrency_ceiling:
            return self.with_overrides(**{self.concurrency_field: concurrency})
        return self

    @property
    def concurrency_field(self) -> str:
        """The preset field that bounds the requests in flight: ``max_concurrency`` when it is fixed, else the
        automatic limit's ``concurrency_upper_bound``."""
        return "max_concurrency" if self.max_concurrency else "concurrency_upper_bound"

    @property
    def concurrency_ceiling(self) -> int:
        """The most requests in flight: the value of :attr:`concurrency_field`."""
        return getattr(self, self.concurrency_field)


# --- helpers ----------------------------------------------------------------------------------------

def _check_url(name: str, url: str, what: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:  # urlsplit refuses an IPv6 host without its closing bracket
        raise SettingsError(f"Preset field '{name}' is not a valid URL: '{safe_url(url)}' (check the host name; an "
                            f"IPv6 address goes in brackets, e.g. http://[::1]:8000/v1). Give {what}.") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"Preset field '{name}' is not an http(s) URL: '{safe_url(url)}'. Give {what}.")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number
        port_ok = False
    if not parts.hostname or any(c.isspace() for c in url) or not port_ok:
        raise SettingsError(f"Preset field '{name}' is not a valid URL: '{safe_url(url)}' (check the host name and "
                            f"port, and remove any spaces). Give {what}.")


def _check_base_url(name: str, url: str) -> None:
    _check_url(name, url, "the URL that exposes the API, typically ending in /v1")
    for suffix in ("/chat/completions", "/completions", "/embeddings"):
        if url.endswith(suffix):
            raise SettingsError(f"Preset field '{name}' ends in '{suffix}': give the URL the API paths are appended "
                                f"to, i.e. '{safe_url(url[: -len(suffix)])}'.")


def _read_replicas(p: PresetReader, name: str, first: str, check: Callable[[str, str], None]) -> tuple:
    """The other replicas' URLs of preset field ``name`` (each checked like the first one, ``first``), without a
    trailing slash; a URL given twice, or equal to the first one, is an error (it would get twice the load)."""
    replicas: list[str] = []
    for index, url in enumerate(p.strings(name), start=1):
        url = url.rstrip("/")
        check(f"{name}[{index}]", url)
        if url == first or url in replicas:
            raise SettingsError(f"Preset field '{name}[{index}]' repeats '{safe_url(url)}'"
                                + (" (the first replica's URL)" if url == first else "")
                                + ": list each replica once.")
        replicas.append(url)
    return tuple(replicas)


def _check_target(name: str, url: str) -> None:
    _check_url(name, url, "the Target URI without /v1, e.g. https://my-resource.openai.azure.com")
    if "/v1/" in urlsplit(url).path + "/":
        without = re.sub(r"/v1(?=/|$)", "", safe_url(url), count=1)
        where = "ends in" if url.endswith("/v1") else "holds"
        raise SettingsError(f"Preset field '{name}' {where} /v1: in Azure style, give the Target URI *without* "
                            f"/v1 ('{without}'); the plugin adds the API paths itself.")
    if url.endswith("/chat/completions") or url.endswith("/embeddings"):
        raise SettingsError(f"Preset field '{name}' includes an API path: give only the Target URI "
                            "(scheme and host, plus any gateway prefix).")


def safe_url(url: str) -> str:
    """A URL without its credentials, query string or fragment, safe to show in a message: the scheme, the host
    and port as typed (an IPv6 address keeps its brackets) and the path. Text that does not read as a URL with a
    host keeps what follows its last ``@`` (``alice:pw@host/v1`` reads as scheme ``alice``, and ``pw`` would show),
    or reads ``(unreadable URL)`` when nothing does.

    A password holding ``/``, ``?`` or ``#`` (not percent-encoded) ends a parser's host early, so that
    ``http://u:pa/ss@host`` reads as host ``u`` and port ``pa``: whatever precedes the last ``@`` is never shown.
    When it holds a ``/``, it may as well be a host and a path holding an ``@`` (``https://host/path@b``), so the
    part after the ``@`` is not surely the host: ``***@`` stands for the hidden part (``https://***@b``). When a
    ``?`` or ``#`` precedes the last ``@``, that ``@`` may be in the query (``?user=a@b&key=...``) or in the
    password, and no part of the URL is shown safely."""
    text = url.strip()
    head, at, tail = text.rpartition("@")
    if at:
        if "?" in head or "#" in head:
            return "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"
        shown = tail.split("#")[0].split("?")[0]
        if not shown:
            return "(unreadable URL)"
        scheme, sep, before = head.partition("://")
        if not (sep and scheme and "/" not in scheme):
            scheme, before = "", head[2:] if head.startswith("//") else head
        hidden = "***@" if "/" in before else ""  # credentials alone hide nothing of the host: no mark
        return f"{scheme.lower()}://{hidden}{shown}" if scheme else f"{hidden}{shown}"
    try:
        parts = urlsplit(text)
    except ValueError:  # an IPv6 host without its closing bracket
        parts = None
    if parts is not None and parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}{parts.path}"
    return text.split("#")[0].split("?")[0] or "(unreadable URL)"


def _read_endpoints(raw: Any, default_target: str, in_header: bool = True) -> list[Endpoint]:
    if not raw:
        raise SettingsError("Preset field 'endpoints' is empty: in Azure style, add one endpoint per model "
                            "(name, kind, deployment, and its Target URI or API key when they differ).")
    if not isinstance(raw, list):
        raise SettingsError("Preset field 'endpoints' must be a list of endpoints.")
    endpoints: list[Endpoint] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        where = f"endpoints[{index}]"
        if not isinstance(item, Mapping):
            raise SettingsError(f"Preset field '{where}' must be an object with name, kind and deployment.")
        unknown = unknown_keys(item, ENDPOINT_FIELDS)
        if unknown:
            raise SettingsError(f"Preset field '{where}' has unknown field(s): {describe_unknown(unknown)}. An "
                                f"endpoint has {', '.join(ENDPOINT_FIELDS)}.")
        name = str(item.get("name") or "").strip()
        if not name:
            raise SettingsError(f"Preset field '{where}.name' is empty: give the model name recipes will show.")
        if name in seen:
            raise SettingsError(f"Preset field '{where}.name': '{name}' is used twice; names must be unique.")
        seen.add(name)
        kind = str(item.get("kind") or ENDPOINT_FIELDS["kind"].default)
        if kind not in ENDPOINT_KINDS:
            raise SettingsError(f"Preset field '{where}.kind' is '{kind}': use one of {', '.join(ENDPOINT_KINDS)}.")
        deployment = str(item.get("deployment") or "").strip()
        if kind == "azure_deployment" and not deployment:
            deployment = name
        own_target = str(item.get("target_uri") or "").strip().rstrip("/")
        target = own_target or default_target  # the preset's own target_uri is checked by the caller
        if not target:
            raise SettingsError(f"Preset field '{where}.target_uri' is empty and the preset has no 'target_uri': "
                                "give the Target URI of this endpoint or of the whole preset.")
        if own_target:
            _check_target(f"{where}.target_uri", own_target)
        base = f"{target}/openai/deployments/{deployment}" if kind == "azure_deployment" else f"{target}/v1"
        key = item.get("api_key")
        if key is not None and not isinstance(key, str):
            raise SettingsError(f"Preset field '{where}.api_key' must be text.")
        key = clean_secret(key, f"{where}.api_key", in_header=in_header)
        endpoints.append(Endpoint(name=name, kind=kind, base=base, deployment=deployment, api_key=key))
    return endpoints


def _check_auth_and_network(values: Mapping[str, Any]) -> None:
    """The authentication and network fields that only make sense together; raises :class:`SettingsError`."""
    auth_scheme = values["auth_scheme"]
    if auth_scheme == "custom_header" and not values["auth_header_name"]:
        raise SettingsError("Preset field 'auth_header_name' is empty: with the 'custom_header' "
                            "authentication scheme, give the header's name (e.g. Ocp-Apim-Subscription-Key).")
    if auth_scheme == "custom_header" and not HEADER_NAME.match(values["auth_header_name"]):
        raise SettingsError(f"Preset field 'auth_header_name' is '{values['auth_header_name']}', which is not a "
                            "valid HTTP header name: use letters, digits and - only (e.g. X-API-Key).")
    if auth_scheme == "query_param" and not values["auth_query_param"]:
        raise SettingsError("Preset field 'auth_query_param' is empty: with the 'query_param' "
                            "authentication scheme, give the query parameter's name (e.g. key).")
    if values["proxy"]:
        _check_url("proxy", values["proxy"], "the proxy URL, e.g. http://proxy.corp:3128")
    if bool(values["client_cert"]) != bool(values["client_key"]) and values["client_key"]:
        raise SettingsError("Preset field 'client_key' is set without 'client_cert': give the client "
                            "certificate path too (or put certificate and key in one PEM in 'client_cert').")


def _style_fields(p: PresetReader, preset: Mapping[str, Any], style: str, auth_scheme: str) -> dict[str, Any]:
    """The fields of the preset's style: the URL and models (OpenAI style) or the target URI and endpoints
    (Azure style); raises :class:`SettingsError` naming the field."""
    if style == "openai":
        base_url = p.text("base_url").rstrip("/")
        if not base_url and (preset.get("target_uri") or preset.get("endpoints")):
            raise SettingsError("Preset field 'base_url' is empty, but the Azure-style fields 'target_uri' and "
                                "'endpoints' are filled in: set 'style' to azure (one endpoint per model), or "
                                "give the Custom URL that exposes the API.")
        if not base_url:
            raise SettingsError("Preset field 'base_url' is empty: give the Custom URL that exposes the API, "
                                "typically ending in /v1 (e.g. http://ollama.corp:11434/v1).")
        _check_base_url("base_url", base_url)
        models = p.strings("models")
        discover = p.boolean("discover_models")
        if not models and not discover:
            raise SettingsError("Preset field 'models' is empty: list the model IDs as the provider names "
                                "them, or turn on 'discover_models' to read them from GET /models.")
        replicas = _read_replicas(p, "replica_urls", base_url, _check_base_url)
        return dict(base_url=base_url, replica_urls=replicas, models=tuple(models), discover_models=discover)
    target = p.text("target_uri").rstrip("/")
    if not preset.get("endpoints") and preset.get("base_url"):
        raise SettingsError("Preset field 'endpoints' is empty, but the OpenAI-style field 'base_url' is "
                            "filled in: set 'style' to openai (one URL serving many models), or add one "
                            "endpoint per model.")
    if target:
        _check_target("target_uri", target)
    endpoints = _read_endpoints(preset.get("endpoints"), target, in_header=auth_scheme != "query_param")
    replicas = _read_replicas(p, "replica_target_uris", target, _check_target)
    if replicas and not target:
        raise SettingsError("Preset field 'replica_target_uris' is set but 'target_uri' is empty: give the first "
                            "replica's Target URI in 'target_uri', and the others in 'replica_target_uris'.")
    if replicas and not any(e.base.startswith(target + "/") for e in endpoints):
        raise SettingsError("Preset field 'replica_target_uris' is set but every endpoint has its own 'target_uri': "
                            "replicas serve the endpoints that use the preset's 'target_uri'. Clear the endpoints' own "
                            "Target URI, or empty 'replica_target_uris'.")
    return dict(target_uri=target, endpoints=tuple(endpoints), replica_target_uris=replicas)
