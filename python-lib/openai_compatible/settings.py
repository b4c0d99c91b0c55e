"""Connection settings: the preset dict DSS hands over, validated into one typed object.

Every problem is reported with the preset field's name and what to do, before any request is sent.
The parameter names are the public contract of the ``connection`` parameter set.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from .errors import SettingsError
from .pricing import read_prices

STYLES = ("openai", "azure")
AUTH_SCHEMES = ("bearer", "api_key_header", "custom_header", "query_param", "none")
ENDPOINT_KINDS = ("azure_deployment", "openai_v1")
STREAMING = ("auto", "yes", "no")
MAX_TOKENS_FIELDS = ("auto", "max_tokens", "max_completion_tokens")
SYSTEM_ROLES = ("system", "developer", "user")
JSON_MODES = ("auto", "json_schema", "json_object", "none")
DEFAULT_API_VERSION = "2024-10-21"


@dataclass(frozen=True)
class Endpoint:
    """Where one model is served, and how to address it."""

    name: str
    kind: str  # "openai" (one base URL, model in the body), "azure_deployment" or "openai_v1"
    base: str  # the URL the API paths are appended to
    deployment: str = ""
    api_key: Optional[str] = field(default=None, repr=False)

    @property
    def model_in_body(self) -> Optional[str]:
        """The ``model`` sent in request bodies (Azure deployments take it from the path)."""
        if self.kind == "azure_deployment":
            return None
        return self.deployment or self.name


@dataclass(frozen=True)
class ConnectionSettings:
    """A validated connection preset. Build it with :meth:`from_preset`."""

    style: str = "openai"
    base_url: str = ""
    models: tuple = ()
    discover_models: bool = False
    organization: str = ""
    target_uri: str = ""
    api_version: str = DEFAULT_API_VERSION
    endpoints: tuple = ()
    auth_scheme: str = "bearer"
    auth_header_name: str = ""
    auth_query_param: str = ""
    api_key: Optional[str] = field(default=None, repr=False)
    extra_headers: tuple = field(default=(), repr=False)
    extra_query: tuple = field(default=(), repr=False)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    verify_tls: bool = True
    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""
    proxy: str = field(default="", repr=False)
    max_concurrency: int = 8
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_retries: int = 5
    streaming: str = "auto"
    stream_usage: bool = True
    max_tokens_field: str = "auto"
    system_role: str = "system"
    json_mode: str = "auto"
    per_user_key: bool = False
    prices: tuple = ()  # ModelPrice per model (pricing.py)

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]]) -> ConnectionSettings:
        """Validates a preset dict (as DSS resolves a PRESET parameter) into settings.

        Raises :class:`SettingsError` naming the field and what to do.
        """
        if not preset:
            raise SettingsError(
                "No connection preset: choose an 'OpenAI-compatible connection' preset in the 'connection' "
                "parameter (an admin defines presets in the plugin's settings)."
            )
        if not isinstance(preset, Mapping):
            raise SettingsError(f"The connection preset must be a dict of settings, not {type(preset).__name__}.")
        p = _Reader(preset)
        style = p.choice("style", STYLES, "openai")
        auth_scheme = p.choice("auth_scheme", AUTH_SCHEMES, "bearer")
        api_key = p.secret_key()
        values: dict[str, Any] = dict(
            style=style,
            organization=p.text("organization"),
            api_version=p.text("api_version") or DEFAULT_API_VERSION,
            auth_scheme=auth_scheme,
            auth_header_name=p.text("auth_header_name"),
            auth_query_param=p.text("auth_query_param"),
            api_key=api_key,
            extra_headers=p.key_values("extra_headers"),
            extra_query=p.key_values("extra_query"),
            connect_timeout_s=p.number("connect_timeout_s", 10.0, minimum=0.1),
            read_timeout_s=p.number("read_timeout_s", 120.0, minimum=0.1),
            verify_tls=p.boolean("verify_tls", True),
            ca_bundle=p.text("ca_bundle"),
            client_cert=p.text("client_cert"),
            client_key=p.text("client_key"),
            proxy=p.text("proxy"),
            max_concurrency=p.integer("max_concurrency", 8, minimum=1, maximum=1024),
            requests_per_minute=p.integer("requests_per_minute", 0, minimum=0),
            tokens_per_minute=p.integer("tokens_per_minute", 0, minimum=0),
            max_retries=p.integer("max_retries", 5, minimum=0, maximum=50),
            streaming=p.choice("streaming", STREAMING, "auto"),
            stream_usage=p.boolean("stream_usage", True),
            max_tokens_field=p.choice("max_tokens_field", MAX_TOKENS_FIELDS, "auto"),
            system_role=p.choice("system_role", SYSTEM_ROLES, "system"),
            json_mode=p.choice("json_mode", JSON_MODES, "auto"),
            per_user_key=p.boolean("use_per_user_key", False),
            prices=read_prices(preset.get("prices")),
        )
        if auth_scheme == "custom_header" and not values["auth_header_name"]:
            raise SettingsError("Preset field 'auth_header_name' is empty: with the 'custom_header' "
                                "authentication scheme, give the header's name (e.g. Ocp-Apim-Subscription-Key).")
        if auth_scheme == "query_param" and not values["auth_query_param"]:
            raise SettingsError("Preset field 'auth_query_param' is empty: with the 'query_param' "
                                "authentication scheme, give the query parameter's name (e.g. key).")
        if values["proxy"]:
            _check_url("proxy", values["proxy"], "the proxy URL, e.g. http://proxy.corp:3128")
        if bool(values["client_cert"]) != bool(values["client_key"]) and values["client_key"]:
            raise SettingsError("Preset field 'client_key' is set without 'client_cert': give the client "
                                "certificate path too (or put certificate and key in one PEM in 'client_cert').")
        if style == "openai":
            base_url = p.text("base_url").rstrip("/")
            if not base_url and (preset.get("target_uri") or preset.get("endpoints")):
                raise SettingsError("Preset field 'base_url' is empty, but the Azure-style fields 'target_uri' and "
                                    "'endpoints' are filled in: set 'style' to azure (one endpoint per model), or "
                                    "give the Custom URL that exposes the API.")
            if not base_url:
                raise SettingsError("Preset field 'base_url' is empty: give the Custom URL that exposes the API, "
                                    "typically ending in /v1 (e.g. http://ollama.corp:11434/v1).")
            _check_url("base_url", base_url, "the URL that exposes the API, typically ending in /v1")
            for suffix in ("/chat/completions", "/completions", "/embeddings"):
                if base_url.endswith(suffix):
                    raise SettingsError(
                        f"Preset field 'base_url' ends in '{suffix}': give the URL the API paths are appended "
                        f"to, i.e. '{base_url[: -len(suffix)]}'."
                    )
            models = p.strings("models")
            discover = p.boolean("discover_models", False)
            if not models and not discover:
                raise SettingsError("Preset field 'models' is empty: list the model IDs as the provider names "
                                    "them, or turn on 'discover_models' to read them from GET /models.")
            values.update(base_url=base_url, models=tuple(models), discover_models=discover)
        else:
            target = p.text("target_uri").rstrip("/")
            if not preset.get("endpoints") and preset.get("base_url"):
                raise SettingsError("Preset field 'endpoints' is empty, but the OpenAI-style field 'base_url' is "
                                    "filled in: set 'style' to openai (one URL serving many models), or add one "
                                    "endpoint per model.")
            if target:
                _check_target("target_uri", target)
            endpoints = _read_endpoints(preset.get("endpoints"), target)
            values.update(target_uri=target, endpoints=tuple(endpoints))
        return cls(**values)

    # --- derived -----------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (for redaction)."""
        out = [self.api_key or ""] + [e.api_key or "" for e in self.endpoints]
        out += [v for _, v in self.extra_headers] + [v for _, v in self.extra_query]
        if self.proxy and "@" in self.proxy:
            out.append(urlsplit(self.proxy).password or "")
        return [s for s in out if s]

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

    def listed_models(self) -> list[str]:
        """Model names declared in the preset (not discovered)."""
        if self.style == "azure":
            return [e.name for e in self.endpoints]
        return list(self.models)

    def with_overrides(self, **changes: Any) -> ConnectionSettings:
        """A copy with some fields changed (e.g. a recipe's lower concurrency)."""
        return dataclasses.replace(self, **changes)


# --- helpers ----------------------------------------------------------------------------------------

def _check_url(name: str, url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"Preset field '{name}' is not an http(s) URL: '{_safe_url(url)}'. Give {what}.")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number
        port_ok = False
    if not parts.hostname or any(c.isspace() for c in url) or not port_ok:
        raise SettingsError(f"Preset field '{name}' is not a valid URL: '{_safe_url(url)}' (check the host name and "
                            f"port, and remove any spaces). Give {what}.")


def _check_target(name: str, url: str) -> None:
    _check_url(name, url, "the Target URI without /v1, e.g. https://my-resource.openai.azure.com")
    if url.endswith("/v1") or "/v1/" in urlsplit(url).path + "/":
        raise SettingsError(f"Preset field '{name}' ends in /v1: in Azure style, give the Target URI *without* "
                            f"/v1 ('{_safe_url(url)[:-3]}'); the plugin adds the API paths itself.")
    if url.endswith("/chat/completions") or url.endswith("/embeddings"):
        raise SettingsError(f"Preset field '{name}' includes an API path: give only the Target URI "
                            "(scheme and host, plus any gateway prefix).")


def _safe_url(url: str) -> str:
    """A URL without its query string or credentials, safe to show in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url.split("?")[0]


def _read_endpoints(raw: Any, default_target: str) -> list[Endpoint]:
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
        name = str(item.get("name") or "").strip()
        if not name:
            raise SettingsError(f"Preset field '{where}.name' is empty: give the model name recipes will show.")
        if name in seen:
            raise SettingsError(f"Preset field '{where}.name': '{name}' is used twice; names must be unique.")
        seen.add(name)
        kind = str(item.get("kind") or "azure_deployment")
        if kind not in ENDPOINT_KINDS:
            raise SettingsError(f"Preset field '{where}.kind' is '{kind}': use one of {', '.join(ENDPOINT_KINDS)}.")
        deployment = str(item.get("deployment") or "").strip()
        if kind == "azure_deployment" and not deployment:
            deployment = name
        target = str(item.get("target_uri") or "").strip().rstrip("/") or default_target
        if not target:
            raise SettingsError(f"Preset field '{where}.target_uri' is empty and the preset has no 'target_uri': "
                                "give the Target URI of this endpoint or of the whole preset.")
        _check_target(f"{where}.target_uri" if item.get("target_uri") else "target_uri", target)
        base = f"{target}/openai/deployments/{deployment}" if kind == "azure_deployment" else f"{target}/v1"
        key = item.get("api_key") or None
        endpoints.append(Endpoint(name=name, kind=kind, base=base, deployment=deployment, api_key=key))
    return endpoints


class _Reader:
    """Reads preset fields leniently (DSS hands INTs as floats, unset fields as None or '')."""

    def __init__(self, preset: Mapping[str, Any]) -> None:
        self.preset = preset

    def _get(self, name: str) -> Any:
        value = self.preset.get(name)
        return None if value == "" else value

    def text(self, name: str) -> str:
        value = self._get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise SettingsError(f"Preset field '{name}' must be text, not {type(value).__name__}.")
        return value.strip()

    def choice(self, name: str, choices: tuple, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if value not in choices:
            raise SettingsError(f"Preset field '{name}' is '{value}': use one of {', '.join(choices)}.")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(f"Preset field '{name}' must be true or false, not {value!r}.")

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self._get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"Preset field '{name}' must be a number, not {value!r}.") from None
        if math.isnan(number) or number < minimum:
            raise SettingsError(f"Preset field '{name}' must be at least {minimum}, not {value!r}.")
        return number

    def integer(self, name: str, default: int, minimum: int = 0, maximum: Optional[int] = None) -> int:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise SettingsError(f"Preset field '{name}' must be a whole number, not {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"Preset field '{name}' must be a whole number, not {value!r}.") from None
        if math.isnan(number) or number != int(number):
            raise SettingsError(f"Preset field '{name}' must be a whole number, not {value!r}.")
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise SettingsError(f"Preset field '{name}' must be {bound}, not {int(number)}.")
        return int(number)

    def strings(self, name: str) -> list[str]:
        value = self._get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [v for v in value.replace(",", "\n").splitlines()]
        if not isinstance(value, list):
            raise SettingsError(f"Preset field '{name}' must be a list of texts.")
        out: list[str] = []
        for item in value:
            text = str(item).strip() if item is not None else ""
            if text and text not in out:
                out.append(text)
        return out

    def key_values(self, name: str) -> tuple:
        value = self._get(name)
        if value is None:
            return ()
        if isinstance(value, Mapping):  # a MAP-style dict is accepted too
            value = [{"from": k, "to": v} for k, v in value.items()]
        if not isinstance(value, list):
            raise SettingsError(f"Preset field '{name}' must be a key/value list.")
        pairs = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, Mapping):
                raise SettingsError(f"Preset field '{name}' entry {index} must have 'from' and 'to'.")
            key = str(item.get("from") or "").strip()
            if not key:
                if item.get("to"):
                    raise SettingsError(f"Preset field '{name}' entry {index} has a value but no name.")
                continue
            pairs.append((key, "" if item.get("to") is None else str(item.get("to"))))
        return tuple(pairs)

    def secret_key(self) -> Optional[str]:
        if self.boolean("use_per_user_key", False):
            value = self.preset.get("per_user_key")
            if isinstance(value, Mapping):  # BASIC-style credential: take the password
                value = value.get("password") or value.get("access_token")
            if not value:
                raise SettingsError(
                    "This preset uses per-user keys ('use_per_user_key') but you have not entered yours: "
                    "add it in Profile & Settings > Credentials, under this preset."
                )
            return str(value)
        value = self.preset.get("api_key")
        if value is not None and not isinstance(value, str):
            raise SettingsError("Preset field 'api_key' must be text.")
        return value or None
