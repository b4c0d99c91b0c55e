"""Test a connection: what the provider really supports, and which preset setting to change.

    from openai_compatible import Client, run_checks
    for result in run_checks(Client.from_preset(preset)):
        print(result.status, result.label, result.meaning, result.setting)

Each check is a small, real request sent by a fresh client that does *not* adapt: when the provider
refuses a field, the check sees the refusal instead of the fallback hiding it. Retries are kept to one,
a failed check never stops the others, and no secret ever appears in a result.

Statuses: ``ok`` (works as configured), ``warn`` (works, but a setting would avoid a fallback or a
missing feature), ``fail`` (calls with the preset as it is will break), ``skipped`` (not applicable,
or an earlier check makes it pointless).
"""
from __future__ import annotations

import html
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Sequence
from urllib.parse import urlsplit

import requests

from .check_replicas import check_replicas
from .client import Client
from .compat import Compatibility, default_token_field
from .errors import (
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
from .http.auth import token_provider
from .http.failures import transport_reason
from .http.transport import Transport
from .oauth2 import TokenEndpointError
from .ratelimit import RateLimiter
from .redact import Redactor
from .retry import RetryPolicy
from .settings import ConnectionSettings, safe_url

STATUSES = ("ok", "warn", "fail", "skipped")
MAX_MODELS = 20
_EMBEDDING_NAME = re.compile(r"embed|bge|\be5\b|e5-|gte|minilm|mpnet|nomic|mxbai|arctic|sentence|jina|rerank",
                             re.IGNORECASE)
_PING = [{"role": "user", "content": "Reply with the single word: OK"}]
_JSON_PING = [{"role": "user", "content": 'Reply with this JSON object and nothing else: {"ok": true}'}]
_JSON_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                "additionalProperties": False}
_JSON_TOKENS = 24


@dataclass
class CheckResult:
    """The outcome of one check.

    ``name`` is a stable identifier (``chat:<model>``, ``streaming``...), ``label`` its title,
    ``meaning`` what the outcome means in plain words, ``setting`` the preset setting to use (empty
    when nothing needs to change), ``latency_ms`` the time of the check's call(s).
    """

    name: str
    label: str
    status: str
    meaning: str
    setting: str = ""
    latency_ms: Optional[float] = None
    model: Optional[str] = None
    detail: str = ""

    def to_dict(self) -> dict:
        """A JSON-able dict of the result."""
        return asdict(self)

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}, {self.status!r})"


class _FixedCompat(Compatibility):
    """The preset's compatibility switches, with adaptation turned off: a refusal stays an error."""

    def adapt(self, error: BadRequestError, payload: dict[str, Any]) -> bool:
        return False


class _Checker:
    """Runs the checks of one connection; every probe uses a fresh, non-adapting client."""

    def __init__(self, client: Client, models: Optional[Sequence[str]]) -> None:
        self.base = client
        self.settings: ConnectionSettings = client.settings
        self.redact = Redactor(self.settings.secrets())
        self.limiter = RateLimiter(self.settings.requests_per_minute, self.settings.tokens_per_minute)
        self.retry = RetryPolicy(max_retries=min(self.settings.max_retries, 1), max_delay_s=2.0, max_hint_s=5.0)
        self.results: list[CheckResult] = []
        self.requested = [m for m in (models or []) if m]
        self.known_models: list[str] = list(self.settings.listed_models())
        self.auth_seen: Optional[OpenAICompatibleError] = None
        self.auth_ok = False
        self.probe_model: Optional[str] = None
        self.good_token_field: Optional[str] = None
        self.skip_reason = "No model answered a basic chat, so this capability could not be tested. Fix the " \
                           "failures above first."
        self.rejected: Optional[BaseException] = None
        self.streaming_refused = False

    # --- plumbing -----------------------------------------------------------------------------------

    def probe(self, **overrides: Any) -> Client:
        """A fresh client on the preset's settings (plus ``overrides``) that never adapts."""
        changes: dict[str, Any] = {"max_retries": self.retry.max_retries}
        if self.settings.style == "openai":
            changes.update(models=tuple(dict.fromkeys(self.known_models + self.requested)), discover_models=False)
        changes.update(overrides)
        settings = self.settings.with_overrides(**changes)
        compat = _FixedCompat(settings, default_token_field=default_token_field(settings))
        return Client(settings, compat=compat, limiter=self.limiter, retry=self.retry)

    def add(self, name: str, label: str, status: str, meaning: str, setting: str = "", *,
            latency_ms: Optional[float] = None, model: Optional[str] = None, detail: str = "") -> CheckResult:
        result = CheckResult(name=name, label=label, status=status, meaning=self.redact(meaning),
                             setting=self.redact(setting),
                             latency_ms=None if latency_ms is None else round(latency_ms, 1),
                             model=model, detail=self.redact(detail)[:500])
        self.results.append(result)
        return result

    def timed(self, call: Callable[[], Any]) -> tuple[Any, Optional[BaseException], float]:
        """Runs ``call``; returns (value, error, milliseconds). Never raises (except KeyboardInterrupt)."""
        started = time.perf_counter()
        try:
            value, error = call(), None
        except Exception as exc:  # a check reports whatever happened, it never stops the run
            value, error = None, exc
        if isinstance(error, (AuthenticationError, PermissionDeniedError)) and self.auth_seen is None:
            self.auth_seen = error
        elif error is None:
            self.auth_ok = True
        elif isinstance(error, BadRequestError) and self.rejected is None:
            self.rejected = error
        return value, error, (time.perf_counter() - started) * 1000.0

    def guarded(self, name: str, label: str, run: Callable[[], None]) -> None:
        """Runs one check; a bug in it becomes a 'fail' row instead of stopping the others."""
        try:
            run()
        except Exception as exc:
            self.add(name, label, "fail", f"The check itself failed unexpectedly ({type(exc).__name__}: "
                                          f"{exc}). The other checks still ran.")

    # --- the checks ---------------------------------------------------------------------------------

    def run(self) -> list[CheckResult]:
        self.guarded("reachable", "Service reachable", self.check_reachable)
        if self.settings.replica_roots():  # each replica on its own: which one is down (check_replicas.py)
            self.guarded("replicas", "Replicas", lambda: check_replicas(self))
        if self.settings.oauth2 is not None:
            self.guarded("token_endpoint", "Token endpoint (OAuth2)", self.check_token_endpoint)
        self.guarded("models_endpoint", "Model list (GET /models)", self.check_models_endpoint)
        self.guarded("chat", "Chat", self.check_chat_models)
        self.guarded("authentication", "Authentication", self.check_authentication)
        capabilities = (
            ("token_field", ["Output token limit field"], self.check_token_field),
            ("system_role", ["System role"], self.check_system_role),
            ("developer_role", ["Developer role"], self.check_developer_role),
            ("streaming", ["Streaming"], self.check_streaming),
            ("stream_usage", ["Usage in streams"], self.check_stream_usage),
            ("json_object|json_schema", ["JSON output (json_object)", "JSON output (json_schema)"], self.check_json))
        for names, labels, check in capabilities:
            if self.probe_model is None:
                for name, label in zip(names.split("|"), labels):
                    self.add(name, label, "skipped", self.skip_reason)
            else:
                self.guarded(names.split("|")[0], labels[0], check)
        self.guarded("embeddings", "Embeddings", self.check_embeddings)
        self.results.sort(key=lambda r: _ORDER.get(r.name.split(":")[0], 99))
        return self.results

    def origins(self) -> list[str]:
        if self.settings.style == "openai":
            bases = [self.settings.base_url]
        else:
            bases = [e.base for e in self.settings.endpoints]
        out: list[str] = []
        for base in bases:
            parts = urlsplit(base)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in out:
                out.append(origin)
        return out

    def check_reachable(self) -> None:
        s = self.settings
        transport = Transport(s)
        for origin in self.origins():
            host = urlsplit(origin).hostname or origin
            suffix = f":{host}" if len(self.origins()) > 1 else ""
            started = time.perf_counter()
            error: Optional[BaseException] = None
            try:
                transport.request("GET", origin + "/", timeout=(s.connect_timeout_s, min(s.read_timeout_s, 15.0)),
                                  allow_redirects=False, stream=True).close()
            except Exception as exc:
                error = exc
            latency = (time.perf_counter() - started) * 1000.0
            where = safe_url(origin)
            tls_name, tls_label = "tls" + suffix, "TLS" + (f" ({host})" if suffix else "")
            if isinstance(error, requests.exceptions.SSLError):
                self.add("reachable" + suffix, "Service reachable", "ok",
                         f"{where} answers on the network (the TLS check below failed).", latency_ms=latency)
                self.tls_failure(tls_name, tls_label, error, latency)
                continue
            if isinstance(error, requests.exceptions.ProxyError):
                self.add("reachable" + suffix, "Service reachable", "fail",
                         f"The proxy refused or could not forward the connection to {where}.",
                         "check 'proxy' (or the DSS server's HTTPS_PROXY / NO_PROXY environment)",
                         latency_ms=latency, detail=transport_reason(error))
            elif isinstance(error, requests.exceptions.ConnectTimeout):
                self.add("reachable" + suffix, "Service reachable", "fail",
                         f"No connection to {where} within {s.connect_timeout_s:g}s: a firewall, a wrong host or "
                         "port, or a proxy is needed.",
                         "check 'base_url' / 'target_uri' and 'proxy'; raise 'connect_timeout_s' if the network is "
                         "slow", latency_ms=latency)
            elif isinstance(error, requests.exceptions.Timeout):
                self.add("reachable" + suffix, "Service reachable", "warn",
                         f"{where} accepted the connection but sent nothing back within the time allowed.",
                         "raise 'read_timeout_s' if the service is slow", latency_ms=latency)
            elif error is not None:
                self.add("reachable" + suffix, "Service reachable", "fail",
                         f"Cannot reach {where} ({transport_reason(error)}). The host or port is wrong, the service is "
                         "down, or the DSS server cannot route to it.",
                         "check 'base_url' / 'target_uri' (scheme, host and port) and 'proxy'", latency_ms=latency)
                self.add(tls_name, tls_label, "skipped", "The service could not be reached.")
                continue
            else:
                self.add("reachable" + suffix, "Service reachable", "ok", f"{where} answers.", latency_ms=latency)
            self.tls_success(tls_name, tls_label, origin, latency)
        transport.close()

    def tls_success(self, name: str, label: str, origin: str, latency: float) -> None:
        s = self.settings
        parts = urlsplit(origin)
        if parts.scheme != "https":
            if (parts.hostname or "") in ("127.0.0.1", "localhost", "::1"):
                self.add(name, label, "skipped", "Plain HTTP to this machine: no TLS involved.")
            else:
                self.add(name, label, "warn", "Plain HTTP: requests, answers and the API key cross the network "
                                              "unencrypted.", "use an https:// URL if the service offers one")
            return
        if not s.verify_tls:
            self.add(name, label, "warn", "The connection is encrypted but the service's certificate is not "
                                          "checked, so an impostor could read the traffic and the key.",
                     "turn 'verify_tls' on and give 'ca_bundle' if the certificate comes from a private CA",
                     latency_ms=latency)
            return
        where = "the CA bundle in 'ca_bundle'" if s.ca_bundle else "the system's trusted CAs"
        self.add(name, label, "ok", f"The certificate is valid and trusted by {where}.", latency_ms=latency)

    def tls_failure(self, name: str, label: str, error: BaseException, latency: float) -> None:
        text = str(error)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            if "hostname" in text.lower() or "doesn't match" in text or "IP address mismatch" in text:
                meaning = ("The certificate does not match the host name in the URL.")
                setting = "use the host name the certificate was issued for in 'base_url' / 'target_uri'"
            else:
                meaning = ("The service's certificate is not trusted: it is self-signed, issued by a private "
                           "(corporate) CA, or a TLS-inspecting proxy replaces it.")
                setting = "set 'ca_bundle' to the PEM file of the CA that issued it"
        elif "certificate required" in text.lower() or "handshake failure" in text.lower():
            meaning = "The service asks for a client certificate (mutual TLS) and none, or the wrong one, was sent."
            setting = "set 'client_cert' (and 'client_key')"
        else:
            meaning = f"The TLS handshake failed ({transport_reason(error)})."
            setting = "check 'ca_bundle', 'client_cert' and 'client_key', or whether the URL should be http://"
        self.add(name, label, "fail", meaning, setting, latency_ms=latency, detail=transport_reason(error))

    def check_token_endpoint(self) -> None:
        """OAuth2 schemes: the token endpoint issues a token for the preset's client id, secret and scope."""

        name, label, oauth = "token_endpoint", "Token endpoint (OAuth2)", self.settings.oauth2
        token, error, latency = self.timed(lambda: token_provider(self.settings).fetch())
        if error is not None:
            self.add(name, label, "fail", f"No token from the token endpoint: {error}",
                     f"check {getattr(error, 'field', '') or 'oauth2_token_url'}", latency_ms=latency)
            return
        lifetime = f"valid {token.expires_in:g}s" if token.expires_in else "with no stated lifetime"
        audience = token.claims.get("aud")
        self.add(name, label, "ok", f"{safe_url(oauth.token_url)} issued a Bearer token ({lifetime}) for client "
                 f"'{oauth.client_id}'" + (f" with scope '{oauth.scope}'" if oauth.scope else "")
                 + (f", audience {audience}" if audience else "") + ".", latency_ms=latency)

    def check_models_endpoint(self) -> None:
        name, label = "models_endpoint", "Model list (GET /models)"
        s = self.settings
        if s.style != "openai":
            self.add(name, label, "skipped", "Azure-style presets declare one endpoint per model; there is no "
                                             "model list to read.")
            return
        client = self.probe()
        with client:
            found, error, latency = self.timed(lambda: client.discover_models(refresh=True))
        if error is None:
            ids = [m["id"] for m in found]
            missing = [m for m in s.models if m not in ids]
            if missing:
                self.add(name, label, "warn",
                         f"The service lists {len(ids)} models, but not {_quoted(missing)}: the ID may be "
                         "misspelled (IDs are case-sensitive) or the model not deployed. Some gateways list only "
                         "part of their models; the chat checks below tell for sure.",
                         "check the IDs in 'models' against the list", latency_ms=latency,
                         detail="listed: " + ", ".join(ids[:30]))
            else:
                self.add(name, label, "ok", f"The service lists {len(ids)} model(s)."
                         + (" Every configured model is among them." if s.models else ""),
                         "" if s.discover_models or not ids else "turn 'discover_models' on to offer all of them "
                                                                 "in recipes (optional)",
                         latency_ms=latency, detail="listed: " + ", ".join(ids[:30]))
            for model_id in ids:
                if model_id not in self.known_models and not s.models:
                    self.known_models.append(model_id)
            return
        if isinstance(error, (AuthenticationError, PermissionDeniedError)):
            self.add(name, label, "fail", "The service refused the credentials when listing models.",
                     _auth_setting(s), latency_ms=latency, detail=_message(error))
            return
        if isinstance(error, (APIConnectionError, APITimeoutError)):
            self.add(name, label, "fail", f"The model list could not be fetched ({_message(error)}).",
                     "check 'base_url'", latency_ms=latency)
            return
        status = getattr(error, "status", None)
        setting = "keep 'discover_models' off" if s.models else (
            "turn 'discover_models' off and list the model IDs in 'models'")
        verdict = "fail" if s.discover_models and not s.models else ("warn" if s.discover_models else "skipped")
        self.add(name, label, verdict,
                 "The service has no usable GET /models" + (f" (HTTP {status})" if status else f" ({_message(error)})")
                 + ". Many gateways and Azure-style services don't offer it; models must then be listed by hand.",
                 setting, latency_ms=latency, detail=_message(error))

    def chat_models(self) -> list[str]:
        if self.requested:
            return self.requested
        return self.known_models

    def check_chat_models(self) -> None:
        models = self.chat_models()
        if not models:
            self.add("chat", "Chat", "fail", "No model to test: the preset lists none and none was discovered.",
                     "list the model IDs in 'models'")
            return
        fallback: Optional[str] = None
        for index, model in enumerate(models):
            name, label = f"chat:{model}", f"Chat with '{model}'"
            if index >= MAX_MODELS:
                self.add(name, label, "skipped", f"Only the first {MAX_MODELS} models are tested; pass this model "
                                                 "explicitly to test it.", model=model)
                continue
            if _looks_like_embedding(model) and not self.requested:
                self.add(name, label, "skipped", "The name looks like an embedding model; see the embeddings "
                                                 "check instead.", model=model)
                continue
            client = self.probe()
            with client:
                result, error, latency = self.timed(lambda c=client, m=model: c.chat(_PING, model=m, max_tokens=1))
            if error is None:
                answer = (result.text or "").strip()
                self.add(name, label, "ok", f"'{model}' answers (a one-token reply: {answer[:40]!r}).",
                         latency_ms=latency, model=model)
                if self.probe_model is None:
                    self.probe_model = model
                continue
            if isinstance(error, BadRequestError) and fallback is None:
                fallback = model
            meaning, setting, status = _explain_error(error, self.settings, model)
            self.add(name, label, status, meaning, setting, latency_ms=latency, model=model, detail=_message(error))
        if self.probe_model is None and fallback is not None:
            # the service answers for this model but refuses something in the request. If a minimal request
            # (no output limit, no system message) works, the capability checks below find out what it is.
            client = self.probe()
            with client:
                _, error, _ = self.timed(lambda: client.chat(_PING, model=fallback))
            if error is None:
                self.probe_model = fallback
            else:
                self.skip_reason = (f"The service rejects even a minimal chat request with '{fallback}' "
                                    f"({_message(error)}), so no capability can be tested.")

    def check_authentication(self) -> None:
        name, label = "authentication", "Authentication"
        s = self.settings
        scheme = {"bearer": "a Bearer token", "api_key_header": "the api-key header",
                  "custom_header": f"the '{s.auth_header_name}' header",
                  "query_param": f"the '{s.auth_query_param}' query parameter", "none": "no key",
                  "oauth2_client_credentials": "a Bearer token", "entra_id": "a Bearer token"}[s.auth_scheme]
        whose = "your own key (per-user)" if s.per_user_key else "the preset's key"
        if s.oauth2 is not None:
            whose = "the token from the token endpoint"
        if isinstance(self.auth_seen, TokenEndpointError):
            self.add(name, label, "fail", "No token could be obtained from the token endpoint, so the service was "
                                          "not asked (see the token endpoint check).",
                     f"check '{self.auth_seen.field}'", detail=_message(self.auth_seen))
        elif self.auth_seen is not None:
            self.add(name, label, "fail", f"The service refused {whose}, sent as {scheme}: "
                                          f"{_message(self.auth_seen)}", _auth_setting(s),
                     detail=_message(self.auth_seen))
        elif self.auth_ok:
            sent = f"{whose}, sent as {scheme}" if s.auth_scheme != "none" else "no key (the service is open)"
            self.add(name, label, "ok", f"The service accepted {sent}.")
        elif self.rejected is not None:
            self.add(name, label, "warn", "Not confirmed: the service rejected every request "
                                          f"({_message(self.rejected)}). Some gateways answer a wrong or missing key "
                                          "this way.",
                     _auth_setting(s), detail=_message(self.rejected))
        else:
            self.add(name, label, "skipped", "No call got far enough to tell whether the key is accepted.")

    # --- capabilities (all on the first model that answered) ------------------------------------------

    def _capability(self, name: str, label: str, overrides: dict, call: Callable[[Client], Any]) -> tuple:
        if self.good_token_field and "max_tokens_field" not in overrides:
            # the other checks must not fail because of the token field: use one the service accepts
            overrides = dict(overrides, max_tokens_field=self.good_token_field)
        client = self.probe(**overrides)
        with client:
            return self.timed(lambda: call(client))

    def check_token_field(self) -> None:
        name, label, model = "token_field", "Output token limit field", self.probe_model
        outcomes = {}
        latency_total = 0.0
        for field_name in ("max_tokens", "max_completion_tokens"):
            _, error, latency = self._capability(
                name, label, {"max_tokens_field": field_name},
                lambda c, m=model: c.chat(_PING, model=m, max_tokens=1))
            latency_total += latency
            outcomes[field_name] = error
        configured = self.settings.max_tokens_field
        used = configured if configured != "auto" else self.base.compat.token_field
        accepted = [f for f, e in outcomes.items() if e is None]
        if accepted:
            self.good_token_field = used if used in accepted else accepted[0]
        refused = [f for f, e in outcomes.items() if isinstance(e, BadRequestError)]
        other = [e for e in outcomes.values() if e is not None and not isinstance(e, BadRequestError)]
        if not accepted and other:
            meaning, setting, status = _explain_error(other[0], self.settings, model)
            self.add(name, label, status, "Could not test the field: " + meaning, setting, latency_ms=latency_total,
                     model=model)
            return
        if len(accepted) == 2:
            self.add(name, label, "ok", "The service accepts both max_tokens and max_completion_tokens.",
                     latency_ms=latency_total, model=model)
            return
        if not accepted:
            self.add(name, label, "fail", "The service refused an output token limit under both names; calls that "
                                          "set max output tokens will fail.",
                     "leave the max output tokens of recipes empty", latency_ms=latency_total, model=model,
                     detail=" | ".join(_message(e) for e in outcomes.values() if e is not None))
            return
        good, bad = accepted[0], refused[0] if refused else None
        detail = _message(outcomes[bad]) if bad else ""
        if used == good:
            self.add(name, label, "ok", f"The service accepts {good} (the field this preset sends) and refuses "
                                        f"{bad}.", latency_ms=latency_total, model=model, detail=detail)
        elif configured == "auto":
            self.add(name, label, "warn", f"The service refuses {bad} and accepts {good}. The client switches by "
                                          "itself after the first refusal, at the cost of one failed call per job.",
                     f"set 'max_tokens_field' to '{good}'", latency_ms=latency_total, model=model, detail=detail)
        else:
            self.add(name, label, "fail", f"The service refuses {bad}, which this preset forces; every call that "
                                          "sets max output tokens fails.",
                     f"set 'max_tokens_field' to '{good}'", latency_ms=latency_total, model=model, detail=detail)

    def _role_probe(self, role: str) -> tuple:
        messages = [{"role": "system", "content": "You are terse."}] + _PING
        return self._capability("", "", {"system_role": role},
                                lambda c: c.chat(messages, model=self.probe_model, max_tokens=1))

    def check_system_role(self) -> None:
        name, label, model = "system_role", "System role", self.probe_model
        _, error, latency = self._role_probe("system")
        if error is None:
            self.add(name, label, "ok", "The service accepts system messages.", latency_ms=latency, model=model)
            return
        if not isinstance(error, BadRequestError):
            meaning, setting, status = _explain_error(error, self.settings, model)
            self.add(name, label, status, "Could not test the role: " + meaning, setting, latency_ms=latency,
                     model=model)
            return
        configured = self.settings.system_role
        if configured == "user":
            status, meaning = "ok", ("The service (or the model's chat template) refuses the 'system' role; this "
                                     "preset already merges system instructions into the first user message.")
        else:
            status = "fail" if configured == "system" else "warn"
            meaning = "The service (or the model's chat template) refuses the 'system' role."
        self.add(name, label, status, meaning,
                 "" if configured == "user" else
                 "set 'system_role' to 'user' (system instructions merged into the first user message)",
                 latency_ms=latency, model=model, detail=_message(error))

    def check_developer_role(self) -> None:
        name, label, model = "developer_role", "Developer role", self.probe_model
        _, error, latency = self._role_probe("developer")
        uses = self.settings.system_role == "developer"
        if error is None:
            self.add(name, label, "ok", "The service accepts the 'developer' role (used by OpenAI reasoning "
                                        "models; 'system' works as well on most services).",
                     latency_ms=latency, model=model)
            return
        if not isinstance(error, BadRequestError):
            meaning, setting, status = _explain_error(error, self.settings, model)
            self.add(name, label, status, "Could not test the role: " + meaning, setting, latency_ms=latency,
                     model=model)
            return
        self.add(name, label, "fail" if uses else "warn",
                 "The service refuses the 'developer' role" + (", which this preset sends: every call with a "
                                                              "system prompt fails." if uses else
                                                              " (most non-OpenAI services do)."),
                 "set 'system_role' to 'system'" if uses else "keep 'system_role' at 'system' (do not use "
                                                              "'developer')",
                 latency_ms=latency, model=model, detail=_message(error))

    def check_streaming(self) -> None:
        name, label, model = "streaming", "Streaming", self.probe_model
        configured = self.settings.streaming

        def consume(client: Client) -> Any:
            stream = client.stream(_PING, model=model, max_tokens=3)
            pieces = list(stream)
            return pieces, stream.result

        value, error, latency = self._capability(name, label, {"streaming": "yes", "stream_usage": False}, consume)
        self.streaming_refused = error is not None
        if error is None:
            pieces, result = value
            if result is not None and result.raw is not None:
                self.add(name, label, "warn", "The service ignores streaming requests and answers in one piece; "
                                              "streamed calls still work, token by token display doesn't.",
                         "set 'streaming' to 'no'" if configured != "no" else "",
                         latency_ms=latency, model=model)
                return
            note = "" if configured != "no" else "set 'streaming' to 'auto' to stream (optional)"
            self.add(name, label, "ok", f"The service streams answers token by token ({len(pieces)} piece(s) "
                                        "received, ended with [DONE]).", note, latency_ms=latency, model=model)
            return
        if isinstance(error, BadRequestError):
            status = "fail" if configured == "yes" else ("warn" if configured == "auto" else "ok")
            meaning = "The service refuses streaming requests."
            if configured == "auto":
                meaning += " The client falls back to one-piece answers after the first refusal."
            elif configured == "no":
                meaning += " The preset already doesn't stream."
            self.add(name, label, status, meaning, "set 'streaming' to 'no'" if configured != "no" else "",
                     latency_ms=latency, model=model, detail=_message(error))
            return
        if isinstance(error, (InvalidResponseError, APIConnectionError, APITimeoutError)):
            self.add(name, label, "fail" if configured != "no" else "warn",
                     "Streams break on the way (no proper end, a cut connection or a stall): a proxy or gateway "
                     f"probably buffers or cuts server-sent events ({_message(error)}).",
                     "set 'streaming' to 'no'" if configured != "no" else "",
                     latency_ms=latency, model=model, detail=_message(error))
            return
        meaning, setting, status = _explain_error(error, self.settings, model)
        self.add(name, label, status, "Could not test streaming: " + meaning, setting, latency_ms=latency,
                 model=model)

    def check_stream_usage(self) -> None:
        name, label, model = "stream_usage", "Usage in streams", self.probe_model
        if self.streaming_refused:
            self.add(name, label, "skipped", "Streaming doesn't work, so usage in streams doesn't matter.",
                     model=model)
            return

        def consume(client: Client) -> Any:
            stream = client.stream(_PING, model=model, max_tokens=3)
            list(stream)
            return stream.result

        result, error, latency = self._capability(name, label, {"streaming": "yes", "stream_usage": True}, consume)
        configured = self.settings.stream_usage and self.settings.streaming != "no"
        if error is None:
            if result is not None and result.usage.total_tokens is not None:
                self.add(name, label, "ok", "The service reports token usage at the end of streams.",
                         "" if self.settings.stream_usage else "turn 'stream_usage' on (optional)",
                         latency_ms=latency, model=model)
            else:
                self.add(name, label, "warn", "The service accepts stream_options but reports no usage at the end "
                                              "of streams: token counts of streamed calls will be empty.",
                         "turn 'stream_usage' off (nothing is lost)" if self.settings.stream_usage else "",
                         latency_ms=latency, model=model)
            return
        if isinstance(error, BadRequestError):
            self.add(name, label, "fail" if configured else "ok",
                     "The service refuses stream_options (include_usage)"
                     + (": every streamed call fails until it is turned off." if configured
                        else "; the preset doesn't ask for it."),
                     "turn 'stream_usage' off" if configured else "",
                     latency_ms=latency, model=model, detail=_message(error))
            return
        meaning, setting, status = _explain_error(error, self.settings, model)
        self.add(name, label, status, "Could not test usage in streams: " + meaning, setting, latency_ms=latency,
                 model=model)

    def _json_probe(self, mode: str, response_format: dict) -> tuple:
        model = self.probe_model
        return self._capability("", "", {"json_mode": mode}, lambda c: c.chat(
            _JSON_PING, model=model, max_tokens=_JSON_TOKENS, response_format=response_format))

    def check_json(self) -> None:
        """Both JSON modes, probed first, reported together (the right setting depends on both)."""
        model, configured = self.probe_model, self.settings.json_mode
        schema_format = {"type": "json_schema", "json_schema": {"name": "check", "schema": _JSON_SCHEMA,
                                                                "strict": True}}
        outcomes = {"json_object": self._json_probe("json_object", {"type": "json_object"}),
                    "json_schema": self._json_probe("json_schema", schema_format)}
        refused = {mode for mode, (_, error, _) in outcomes.items() if isinstance(error, BadRequestError)}
        if refused == {"json_object", "json_schema"}:
            best = "none"
        elif "json_schema" in refused:
            best = "json_object"
        else:
            best = "json_schema" if "json_object" in refused else "auto"
        # which modes a preset sends: auto and json_schema send both types as asked, json_object turns
        # schema requests into json_object, none sends neither
        sends = {"auto": {"json_object", "json_schema"}, "json_schema": {"json_object", "json_schema"},
                 "json_object": {"json_object"}, "none": set()}[configured]
        for mode, (result, error, latency) in outcomes.items():
            name, label = mode, f"JSON output ({mode})"
            if error is None:
                self._json_accepted(name, label, mode, result, latency)
                continue
            if not isinstance(error, BadRequestError):
                meaning, setting, status = _explain_error(error, self.settings, model)
                self.add(name, label, status, f"Could not test {mode}: " + meaning, setting, latency_ms=latency,
                         model=model)
                continue
            if mode not in sends:
                status, meaning = "ok", f"The service refuses response_format {mode}; this preset doesn't send it."
            elif configured == "auto":
                status, meaning = "warn", (f"The service refuses response_format {mode}. The client falls back by "
                                           "itself after the first refusal, at the cost of one failed call per job.")
            else:
                status, meaning = "fail", (f"The service refuses response_format {mode}, which this preset sends: "
                                           "recipes asking for that JSON output fail.")
            if best == "json_schema":  # only json_object refused: schema output works, object output can't
                setting = ("use JSON-schema output rather than JSON-object output in recipes; keep 'json_mode' at "
                           "'auto' or 'json_schema'") if mode in sends else ""
            else:
                setting = f"set 'json_mode' to '{best}'" if configured != best else ""
            self.add(name, label, status, meaning, setting, latency_ms=latency, model=model, detail=_message(error))

    def _json_accepted(self, name: str, label: str, mode: str, result: Any, latency: float) -> None:
        model = self.probe_model
        text = (result.text or "").strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            self.add(name, label, "ok", f"The service accepts response_format {mode} and answered valid JSON.",
                     latency_ms=latency, model=model)
        elif result.finish_reason == "length" and text.startswith("{"):
            self.add(name, label, "ok", f"The service accepts response_format {mode} (the JSON answer was cut by "
                                        "this check's small token limit).", latency_ms=latency, model=model)
        else:
            self.add(name, label, "warn", f"The service accepts response_format {mode} but answered text that is "
                                          f"not a JSON object ({text[:60]!r}): it may ignore the field.",
                     "set 'json_mode' to 'none' and ask for JSON in the prompt, if JSON output fails",
                     latency_ms=latency, model=model)

    def check_embeddings(self) -> None:
        models = self.chat_models()[:MAX_MODELS]
        candidates = [m for m in models if _looks_like_embedding(m)]
        explicit = bool(self.requested)
        if not candidates:
            # no model looks like an embedding model: try the first one, without failing if it isn't one
            candidates = models[:1]
        if not candidates:
            self.add("embeddings", "Embeddings", "skipped", "No model to test.")
            return
        for model in candidates:
            name, label = f"embeddings:{model}", f"Embeddings with '{model}'"
            looks = _looks_like_embedding(model)
            client = self.probe()
            with client:
                result, error, latency = self.timed(lambda c=client, m=model: c.embed_result(["ping", "pong"], m))
                if isinstance(error, InvalidResponseError):  # some services embed one text per request only
                    single, single_error, _ = self.timed(lambda c=client, m=model: c.embed_result(["ping"], m))
                    if single_error is None:
                        dims = len(single.vectors[0]) if single.vectors else 0
                        self.add(name, label, "warn", f"'{model}' returns embeddings ({dims} dimensions), but only "
                                                      "for one text per request: a list of texts gets a wrong "
                                                      "answer.", "set the embed recipe's batch size to 1",
                                 latency_ms=latency, model=model, detail=_message(error))
                        continue
            if error is None:
                dims = len(result.vectors[0]) if result.vectors else 0
                self.add(name, label, "ok", f"'{model}' returns embeddings ({dims} dimensions).",
                         latency_ms=latency, model=model)
                continue
            if not looks and not explicit and isinstance(error, (BadRequestError, UnknownModelError,
                                                                 InvalidResponseError, ServerError)):
                self.add(name, label, "skipped", f"'{model}' is not an embedding model (the service refused "
                                                 "embeddings with it). That is fine for chat; list an embedding "
                                                 "model to use the embed recipe.",
                         latency_ms=latency, model=model, detail=_message(error))
                continue
            if not looks and not isinstance(error, (AuthenticationError, PermissionDeniedError,
                                                    APIConnectionError, APITimeoutError)):
                status = "warn"
            else:
                status = "fail"
            meaning, setting, _ = _explain_error(error, self.settings, model)
            self.add(name, label, status, meaning, setting, latency_ms=latency, model=model,
                     detail=_message(error))


_ORDER = {name: index for index, name in enumerate((
    "reachable", "tls", "replicas", "token_endpoint", "authentication", "models_endpoint", "chat", "token_field",
    "system_role", "developer_role", "streaming", "stream_usage", "json_object", "json_schema", "embeddings"))}


def run_checks(client: Client, models: Optional[Sequence[str]] = None) -> list[CheckResult]:
    """Checks what the provider behind ``client`` supports; returns one :class:`CheckResult` per check.

    ``models`` restricts the per-model checks to these models (default: the preset's models, or the
    discovered ones). Never raises for a provider problem: every problem is a result.
    """
    return _Checker(client, models).run()


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many results have each status."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def describe_settings(settings: ConnectionSettings) -> list[tuple[str, str]]:
    """A secret-free summary of a connection, for reports."""
    rows = [("Style", "OpenAI style (one URL, many models)" if settings.style == "openai"
             else "Azure style (one endpoint per model)")]
    if settings.style == "openai":
        rows.append(("URL", safe_url(settings.base_url)))
        rows.append(("Models", ", ".join(settings.models) or "(discovered)"))
    else:
        rows.append(("Endpoints", ", ".join(f"{e.name} ({e.kind}: {safe_url(e.base)})" for e in settings.endpoints)))
    auth = settings.auth_scheme + (" (per-user keys)" if settings.per_user_key else "")
    rows.append(("Authentication", auth))
    rows.append(("Compatibility", f"streaming={settings.streaming}, stream_usage={settings.stream_usage}, "
                                  f"max_tokens_field={settings.max_tokens_field}, system_role={settings.system_role}, "
                                  f"json_mode={settings.json_mode}"))
    return rows


_STATUS_STYLE = {"ok": ("#1e7e34", "#e6f4ea", "OK"), "warn": ("#8a6d00", "#fff6d6", "Warning"),
                 "fail": ("#b00020", "#fde7e9", "Failed"), "skipped": ("#555", "#f0f0f0", "Skipped")}


def render_html(results: Sequence[CheckResult], settings: Optional[ConnectionSettings] = None,
                title: str = "OpenAI-compatible connection test") -> str:
    """An HTML report (every value escaped) with one row per check."""
    esc = html.escape
    counts = summarize(results)
    parts = [f"<div class='oc-report'><h2>{esc(title)}</h2>"]
    verdict = ("Some checks failed: calls with this preset will break until the settings below are changed."
               if counts["fail"] else "Everything this preset needs works."
               + (" Some settings could be improved." if counts["warn"] else ""))
    parts.append(f"<p><b>{esc(verdict)}</b> {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} "
                 f"failed, {counts['skipped']} skipped.</p>")
    if settings is not None:
        parts.append("<table class='oc-preset' style='border-collapse:collapse;margin-bottom:1em'>")
        for key, value in describe_settings(settings):
            parts.append(f"<tr><th style='text-align:left;padding:2px 8px'>{esc(key)}</th>"
                         f"<td style='padding:2px 8px'>{esc(value)}</td></tr>")
        parts.append("</table>")
    parts.append("<table class='oc-checks' style='border-collapse:collapse;width:100%'><thead><tr>"
                 + "".join(f"<th style='text-align:left;border-bottom:2px solid #ccc;padding:4px 8px'>{h}</th>"
                           for h in ("Check", "Result", "What it means", "Preset setting to use", "Latency"))
                 + "</tr></thead><tbody>")
    for result in results:
        color, background, word = _STATUS_STYLE.get(result.status, ("#000", "#fff", result.status))
        latency = "" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"
        detail = (f"<div style='color:#666;font-size:90%;margin-top:2px'>Service said: {esc(result.detail)}</div>"
                  if result.detail and result.status in ("fail", "warn") else "")
        parts.append(
            f"<tr class='oc-{esc(result.status)}' data-check='{esc(result.name, quote=True)}'>"
            f"<td style='padding:4px 8px;border-bottom:1px solid #eee'>{esc(result.label)}</td>"
            f"<td style='padding:4px 8px;border-bottom:1px solid #eee'><span style='color:{color};"
            f"background:{background};padding:1px 6px;border-radius:3px'>{word}</span></td>"
            f"<td style='padding:4px 8px;border-bottom:1px solid #eee'>{esc(result.meaning)}{detail}</td>"
            f"<td style='padding:4px 8px;border-bottom:1px solid #eee'>{esc(result.setting)}</td>"
            f"<td style='padding:4px 8px;border-bottom:1px solid #eee;white-space:nowrap'>{latency}</td></tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


# --- helpers ----------------------------------------------------------------------------------------

def _looks_like_embedding(model: str) -> bool:
    return bool(_EMBEDDING_NAME.search(model))


def _quoted(items: Sequence[str]) -> str:
    return ", ".join(f"'{i}'" for i in items)


def _message(error: BaseException) -> str:
    """The provider's words for an error (no final period: it is embedded in sentences)."""
    if isinstance(error, OpenAICompatibleError):
        text = error.provider_message or error.message
    else:
        text = f"{type(error).__name__}: {error}"
    return text.strip().rstrip(".")


def _auth_setting(settings: ConnectionSettings) -> str:
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


def _explain_error(error: BaseException, settings: ConnectionSettings, model: Optional[str]) -> tuple[str, str, str]:
    """(meaning, setting, status) for an error of a check's call."""
    where = f"'{model}'" if model else "the service"
    if isinstance(error, TokenEndpointError):
        return "No token: the token endpoint refused to issue one.", f"check '{error.field}'", "fail"
    if isinstance(error, AuthenticationError):
        return "The service refused the credentials.", _auth_setting(settings), "fail"
    if isinstance(error, PermissionDeniedError):
        return (f"The key is valid but not allowed to use {where}.",
                "ask the provider to grant the key access, or use another key", "fail")
    if isinstance(error, UnknownModelError):
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
        return (f"No answer within the timeouts ({_message(error)}).",
                "raise 'read_timeout_s' (self-hosted models can be slow to start)", "fail")
    if isinstance(error, APIConnectionError):
        return f"The connection failed ({_message(error)}).", "check 'base_url' / 'target_uri' and 'proxy'", "fail"
    if isinstance(error, ServerError):
        return (f"The service failed (HTTP {getattr(error, 'status', '5xx')}): {_message(error)}. It may be "
                "overloaded or the model not loaded; retry later.", "", "fail")
    if isinstance(error, InvalidResponseError):
        return (f"The answer is not what the OpenAI API specifies ({_message(error)}): the URL may point to "
                "something else than the API.",
                "check that 'base_url' is the URL that exposes the API (usually ending in /v1)"
                if settings.style == "openai" else "check the endpoint's 'kind' and 'target_uri'", "fail")
    if isinstance(error, SettingsError):
        return f"The preset is invalid: {_message(error)}", "", "fail"
    if isinstance(error, BadRequestError):
        param = getattr(error, "param", None)
        hint = f" (it blames '{param}')" if param else ""
        return (f"The service rejected the request{hint}: {_message(error)}. The capability checks tell which "
                "setting to change.", "", "fail")
    if isinstance(error, OpenAICompatibleError):
        return _message(error), "", "fail"
    return f"Unexpected error: {type(error).__name__}: {error}", "", "fail"
