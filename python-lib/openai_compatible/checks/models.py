"""Models: the service's model list (GET /models), and whether the models tested are offered by the preset."""
from __future__ import annotations

from ..errors import (
    APIConnectionError,
    AuthenticationError,
    PermissionDeniedError,
    SettingsError,
    UnknownModelError,
)
from .context import CheckContext
from .explain import auth_setting, provider_words, quoted

NAME, LABEL = "models_endpoint", "Model list (GET /models)"


def check_models_endpoint(ctx: CheckContext) -> None:
    """GET /models: every configured model listed, discovered models added to those tested."""
    s = ctx.settings
    if s.style != "openai":
        ctx.add(NAME, LABEL, "skipped", "Azure-style presets declare one endpoint per model; there is no model list "
                                        "to read.")
        return
    found, error, latency = ctx.call(lambda client: client.discover_models(refresh=True))
    if error is None:
        ids = [m["id"] for m in found]
        ctx.service_models = ids
        _report_list(ctx, ids, latency)
        if not s.models:
            ctx.known_models.extend(m for m in ids if m not in ctx.known_models)
        return
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        ctx.add(NAME, LABEL, "fail", "The service refused the credentials when listing models.",
                auth_setting(s), latency_ms=latency, detail=provider_words(error))
        return
    if isinstance(error, APIConnectionError):  # timeouts included
        ctx.add(NAME, LABEL, "fail", f"The model list could not be fetched ({provider_words(error)}).",
                "check 'base_url'", latency_ms=latency)
        return
    status = getattr(error, "status", None)
    if ctx.versioned_base:
        setting = f"set 'base_url' to '{ctx.versioned_base}'"
    elif s.models:
        setting = "keep 'discover_models' off"
    else:
        setting = "turn 'discover_models' off and list the model IDs in 'models'"
    verdict = "fail" if s.discover_models and not s.models else ("warn" if s.discover_models else "skipped")
    ctx.add(NAME, LABEL, verdict,
            "The service has no usable GET /models"
            + (f" (HTTP {status})" if status else f" ({provider_words(error)})")
            + ". Many gateways and Azure-style services don't offer it; models must then be listed by hand.",
            setting, latency_ms=latency, detail=provider_words(error))


def _report_list(ctx: CheckContext, ids: list[str], latency: float) -> None:
    s = ctx.settings
    detail = "listed: " + ", ".join(ids[:30])
    missing = [m for m in s.models if m not in ids]
    if missing:
        ctx.add(NAME, LABEL, "warn", f"The service lists {len(ids)} models, but not {quoted(missing)}: the ID may be "
                                     "misspelled (IDs are case-sensitive) or the model not deployed. Some gateways "
                                     "list only part of their models; the chat checks below tell for sure.",
                "check the IDs in 'models' against the list", latency_ms=latency, detail=detail)
        return
    ctx.add(NAME, LABEL, "ok", f"The service lists {len(ids)} model(s)."
            + (" Every configured model is among them." if s.models else ""),
            "" if s.discover_models or not ids else "turn 'discover_models' on to offer all of them in recipes "
                                                    "(optional)", latency_ms=latency, detail=detail)


def check_in_preset(ctx: CheckContext) -> None:
    """A model tested on request but not offered by the preset works here and nowhere else: every recipe,
    connector and LLM of the preset refuses it. Decided by the client's own rule, without a call."""
    s = ctx.settings
    discovered = tuple(ctx.service_models or ()) if s.discover_models else ()
    for model in ctx.requested:
        try:
            s.endpoint_for(model, discovered)
        except (UnknownModelError, SettingsError):
            pass
        else:
            continue
        if s.style == "azure":
            field, setting = "endpoints", f"add an endpoint named '{model}' to 'endpoints'"
        else:
            field, setting = "models", f"add '{model}' to 'models'"
            if ctx.service_models and model in ctx.service_models and not s.discover_models:
                setting += " (or turn 'discover_models' on: the service lists it)"
        ctx.add(f"in_preset:{model}", f"'{model}' in the preset", "warn",
                f"'{model}' was tested here, but the preset's '{field}' does not offer it: every recipe, connector "
                "and LLM using this preset refuses it.", setting, model=model)
