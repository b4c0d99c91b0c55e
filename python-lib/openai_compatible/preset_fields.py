"""The connection preset's fields, declared once: each field's default, bounds and choices, and which
parameter set holds which of them.

The reader (:mod:`openai_compatible.settings`) takes its defaults and limits from here, and a unit test
holds both parameter sets (what DSS shows and fills in) against this table, so a default changed in one
place and not the other fails the tests instead of drifting. ``parameter-sets/connection`` is written by
hand; ``parameter-sets/connection-per-user`` is generated from it by ``tools/parameter_sets.py`` using
:data:`PARAMETER_SETS` (and a test fails when the committed file is not what the tool writes).
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

# The two parameter sets. DSS asks every user for a CREDENTIAL_REQUEST's value "once a preset of the parameter
# set is instantiated" (DSS docs, plugins/reference/params.rst, "Credential requests"), whatever the form shows,
# so the per-user key lives in a set of its own and a shared-key preset asks nobody for anything.
SHARED_KEY_SET = "connection"
PER_USER_KEY_SET = "connection-per-user"
# The PRESET parameter of each set in every component, and the SELECT that chooses between them (the pattern
# of Dataiku's api-connect plugin: one PRESET param per parameter set, shown by the value of a SELECT).
PRESET_PARAMS = {SHARED_KEY_SET: "connection", PER_USER_KEY_SET: "connection_per_user"}
KEY_CHOICE_PARAM = "connection_keys"
KEY_CHOICES = ("shared", "per_user")
# a per-user key is sent where the scheme puts a key: never with 'none' or an OAuth2 token
PER_USER_AUTH_SCHEMES = tuple(s for s in AUTH_SCHEMES if s != "none" and s not in OAUTH2_SCHEMES)


@dataclass(frozen=True)
class ParameterSetFields:
    """Which of :data:`FIELDS` a parameter set holds: all but ``leaves_out``, with the auth schemes it offers."""

    set_id: str
    leaves_out: tuple = ()
    auth_schemes: tuple = AUTH_SCHEMES
    endpoint_leaves_out: tuple = ()

    def fields(self) -> dict[str, PresetField]:
        """The set's fields, in declaration order (``auth_scheme`` restricted to :attr:`auth_schemes`)."""
        out = {name: spec for name, spec in FIELDS.items() if name not in self.leaves_out}
        out["auth_scheme"] = PresetField(FIELDS["auth_scheme"].default, choices=self.auth_schemes)
        return out

    def endpoint_fields(self) -> dict[str, PresetField]:
        """The subParams of the set's ``endpoints`` entries."""
        return {name: spec for name, spec in ENDPOINT_FIELDS.items() if name not in self.endpoint_leaves_out}


OAUTH2_FIELDS = ("entra_tenant_id", "oauth2_token_url", "oauth2_client_id", "oauth2_client_secret", "oauth2_scope",
                 "oauth2_audience", "oauth2_client_auth")
PARAMETER_SETS: dict[str, ParameterSetFields] = {
    # use_per_user_key stays, shown only while on, so that a preset saved before the split keeps saying so and
    # fails with the way out instead of silently sending the shared key (dss/config.py)
    SHARED_KEY_SET: ParameterSetFields(SHARED_KEY_SET, leaves_out=("per_user_key",)),
    # every key is the user's own: no shared key, no OAuth2 client secret, no per-endpoint key
    PER_USER_KEY_SET: ParameterSetFields(PER_USER_KEY_SET, leaves_out=("api_key", "use_per_user_key") + OAUTH2_FIELDS,
                                         auth_schemes=PER_USER_AUTH_SCHEMES, endpoint_leaves_out=("api_key",)),
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
