"""The connection preset's fields, declared once: each field's default, bounds and choices.

The reader (:mod:`openai_compatible.settings`) takes its defaults and limits from here, and a unit test
holds ``parameter-sets/connection/parameter-set.json`` (what DSS shows and fills in) against this table,
so a default changed in one place and not the other fails the tests instead of drifting.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Optional

STYLES = ("openai", "azure")
OAUTH2_SCHEMES = ("oauth2_client_credentials", "entra_id")  # a token from a token endpoint (oauth2.py)
AUTH_SCHEMES = ("bearer", "api_key_header", "custom_header", "query_param", "none") + OAUTH2_SCHEMES
OAUTH2_CLIENT_AUTH = ("basic", "body")
ENDPOINT_KINDS = ("azure_deployment", "openai_v1")
STREAMING = ("auto", "yes", "no")
MAX_TOKENS_FIELDS = ("auto", "max_tokens", "max_completion_tokens")
SYSTEM_ROLES = ("system", "developer", "user")
JSON_MODES = ("auto", "json_schema", "json_object", "none")

NO_DEFAULT = object()  # the descriptor gives no defaultValue: the field is empty until someone fills it in


@dataclass(frozen=True)
class PresetField:
    """One field of the preset: the value used when the preset leaves it out, and what it accepts."""

    default: Any = NO_DEFAULT
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: tuple = ()


FIELDS: dict[str, PresetField] = {
    "style": PresetField("openai", choices=STYLES),
    "base_url": PresetField(),
    "replica_urls": PresetField([]),  # more base URLs serving the same models (http/replicas.py)
    "models": PresetField([]),
    "discover_models": PresetField(False),
    "organization": PresetField(""),
    "target_uri": PresetField(),
    "replica_target_uris": PresetField([]),  # more Target URIs serving the same endpoints (http/replicas.py)
    "api_version": PresetField("2024-10-21"),
    "endpoints": PresetField([]),
    "auth_scheme": PresetField("bearer", choices=AUTH_SCHEMES),
    "auth_header_name": PresetField("Ocp-Apim-Subscription-Key"),
    "auth_query_param": PresetField("key"),
    "oauth2_token_url": PresetField(),
    "oauth2_client_id": PresetField(),
    "oauth2_client_secret": PresetField(),
    "oauth2_scope": PresetField(""),
    "oauth2_audience": PresetField(""),
    "oauth2_client_auth": PresetField("basic", choices=OAUTH2_CLIENT_AUTH),
    "entra_tenant_id": PresetField(),
    "use_per_user_key": PresetField(False),
    "api_key": PresetField(),
    "per_user_key": PresetField(),
    "extra_headers": PresetField([]),
    "extra_query": PresetField([]),
    "connect_timeout_s": PresetField(10.0, minimum=0.1),
    "read_timeout_s": PresetField(120.0, minimum=0.1),
    "verify_tls": PresetField(True),
    "ca_bundle": PresetField(""),
    "client_cert": PresetField(""),
    "client_key": PresetField(""),
    "proxy": PresetField(""),
    "max_concurrency": PresetField(0, minimum=0, maximum=1024),  # 0: automatic (concurrency.py)
    "concurrency_upper_bound": PresetField(256, minimum=1, maximum=1024),
    "requests_per_minute": PresetField(0, minimum=0),
    "tokens_per_minute": PresetField(0, minimum=0),
    "prices": PresetField([]),  # per model: input and output price per million tokens (pricing.py)
    "max_retries": PresetField(5, minimum=0, maximum=50),
    "streaming": PresetField("auto", choices=STREAMING),
    "stream_usage": PresetField(True),
    "max_tokens_field": PresetField("auto", choices=MAX_TOKENS_FIELDS),
    "system_role": PresetField("system", choices=SYSTEM_ROLES),
    "json_mode": PresetField("auto", choices=JSON_MODES),
}

ENDPOINT_FIELDS: dict[str, PresetField] = {
    "name": PresetField(),
    "kind": PresetField("azure_deployment", choices=ENDPOINT_KINDS),
    "deployment": PresetField(),
    "target_uri": PresetField(),
    "api_key": PresetField(),
}


def default(name: str) -> Any:
    """The default of preset field ``name`` (a fresh copy for lists); ``KeyError`` for an unknown field."""
    value = FIELDS[name].default
    if value is NO_DEFAULT:
        return None
    return list(value) if isinstance(value, list) else value


def unknown_keys(keys: Iterable[str], known: Iterable[str] = FIELDS) -> list[tuple[str, Optional[str]]]:
    """The keys that are not preset fields, each with the closest known name (None when nothing is close).

    Keys starting with ``_`` are left alone: DSS adds its own (``__credentials`` from DSS 14.5, see
    reference/dss-platform.md section 3.6).
    """
    known = list(known)
    out = []
    for key in keys:
        if not isinstance(key, str) or key.startswith("_") or key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not close:  # a case or separator slip that difflib scores low ("BaseURL", "base-url")
            plain = key.lower().replace("-", "").replace("_", "").replace(" ", "")
            close = [k for k in known if k.replace("_", "") == plain]
        out.append((key, close[0] if close else None))
    return out


def describe_unknown(unknown: list[tuple[str, Optional[str]]]) -> str:
    """``'baseurl' (did you mean 'base_url'?); 'zz'`` for the pairs :func:`unknown_keys` returns."""
    return "; ".join(f"'{key}'" + (f" (did you mean '{close}'?)" if close else "") for key, close in unknown)
