"""Chat: does each model answer a one-token chat, which output-token field and which system roles the
service accepts."""
from __future__ import annotations

from typing import Optional

from ..compat import default_token_field
from ..errors import BadRequestError
from ..models import looks_like_embedding_model
from .context import MAX_MODELS, PING, CheckContext, Outcome
from .embeddings import embed_probe
from .explain import provider_words


def check_chat(ctx: CheckContext) -> None:
    """A one-token chat per model; the first model that answers is used by the capability checks."""
    models = ctx.chat_models()
    if not models:
        ctx.add("chat", "Chat", "fail", "No model to test: the preset lists none and none was discovered.",
                "list the model IDs in 'models'")
        return
    fallback: Optional[str] = None
    for index, model in enumerate(models):
        name, label = f"chat:{model}", f"Chat with '{model}'"
        if index >= MAX_MODELS:
            ctx.add(name, label, "skipped", f"Only the first {MAX_MODELS} models are tested; pass this model "
                                            "explicitly to test it.", model=model)
            continue
        if looks_like_embedding_model(model) and not ctx.requested:
            embedded = embed_probe(ctx, model)
            if embedded.dimensions is not None:  # the name suggested it, one embeddings call confirmed it
                ctx.add(name, label, "skipped", f"'{model}' answers embeddings ({embedded.dimensions} dimensions), "
                                                "so it is tested under Embeddings rather than chat.", model=model)
                continue
        result, error, latency = ctx.call(lambda c, m=model: c.chat(PING, model=m, max_tokens=1))
        if error is None:
            ctx.chat_ok.add(model)
            ctx.add(name, label, "ok", f"'{model}' answers (a one-token reply: {(result.text or '').strip()[:40]!r}).",
                    latency_ms=latency, model=model)
            if ctx.probe_model is None:
                ctx.probe_model = model
            continue
        if isinstance(error, BadRequestError) and fallback is None:
            fallback = model
        meaning, setting, status = ctx.explain(error, model)
        ctx.add(name, label, status, meaning, setting, latency_ms=latency, model=model, detail=provider_words(error))
    if ctx.probe_model is None and fallback is not None:
        # the service answers for this model but refuses something in the request. If a minimal request
        # (no output limit, no system message) works, the capability checks find out what it is.
        error = ctx.call(lambda c: c.chat(PING, model=fallback)).error
        if error is None:
            ctx.probe_model = fallback
        else:
            ctx.skip_reason = (f"The service rejects even a minimal chat request with '{fallback}' "
                               f"({provider_words(error)}), so no capability can be tested.")


def check_token_field(ctx: CheckContext) -> None:
    """``max_tokens`` and ``max_completion_tokens``, each on its own."""
    name, label, model = "token_field", "Output token limit field", ctx.probe_model
    outcomes = {field: ctx.call(lambda c: c.chat(PING, model=model, max_tokens=1), max_tokens_field=field)
                for field in ("max_tokens", "max_completion_tokens")}
    errors = {field: outcome.error for field, outcome in outcomes.items()}
    latency = sum(outcome.latency_ms for outcome in outcomes.values())
    configured = ctx.settings.max_tokens_field
    used = configured if configured != "auto" else default_token_field(ctx.settings)
    accepted = [f for f, e in errors.items() if e is None]
    if accepted:
        ctx.good_token_field = used if used in accepted else accepted[0]
    refused = [f for f, e in errors.items() if isinstance(e, BadRequestError)]
    other = [e for e in errors.values() if e is not None and not isinstance(e, BadRequestError)]
    if not accepted and other:
        ctx.could_not_test(name, label, "the field", other[0], latency, model)
    elif len(accepted) == 2:
        ctx.add(name, label, "ok", "The service accepts both max_tokens and max_completion_tokens.",
                latency_ms=latency, model=model)
    elif not accepted:
        ctx.add(name, label, "fail", "The service refused an output token limit under both names; calls that set "
                                     "max output tokens will fail.", "leave the max output tokens of recipes empty",
                latency_ms=latency, model=model,
                detail=" | ".join(provider_words(e) for e in errors.values() if e is not None))
    else:
        good, bad = accepted[0], refused[0] if refused else None
        detail = provider_words(errors[bad]) if bad else ""
        if used == good:
            ctx.add(name, label, "ok", f"The service accepts {good} (the field this preset sends) and refuses {bad}.",
                    latency_ms=latency, model=model, detail=detail)
        elif configured == "auto":
            ctx.add(name, label, "warn", f"The service refuses {bad} and accepts {good}. The client switches by "
                                         "itself after the first refusal, at the cost of one failed call per job.",
                    f"set 'max_tokens_field' to '{good}'", latency_ms=latency, model=model, detail=detail)
        else:
            ctx.add(name, label, "fail", f"The service refuses {bad}, which this preset forces; every call that sets "
                                         "max output tokens fails.",
                    f"set 'max_tokens_field' to '{good}'", latency_ms=latency, model=model, detail=detail)


def _role_probe(ctx: CheckContext, role: str) -> Outcome:
    messages = [{"role": "system", "content": "You are terse."}] + PING
    return ctx.call(lambda c: c.chat(messages, model=ctx.probe_model, max_tokens=1), system_role=role)


def check_system_role(ctx: CheckContext) -> None:
    """A system message sent with the 'system' role."""
    name, label, model = "system_role", "System role", ctx.probe_model
    _, error, latency = _role_probe(ctx, "system")
    if error is None:
        ctx.add(name, label, "ok", "The service accepts system messages.", latency_ms=latency, model=model)
        return
    if not isinstance(error, BadRequestError):
        ctx.could_not_test(name, label, "the role", error, latency, model)
        return
    configured = ctx.settings.system_role
    if configured == "user":
        status, meaning = "ok", ("The service (or the model's chat template) refuses the 'system' role; this "
                                 "preset already merges system instructions into the first user message.")
    else:
        status = "fail" if configured == "system" else "warn"
        meaning = "The service (or the model's chat template) refuses the 'system' role."
    ctx.add(name, label, status, meaning,
            "" if configured == "user" else
            "set 'system_role' to 'user' (system instructions merged into the first user message)",
            latency_ms=latency, model=model, detail=provider_words(error))


def check_developer_role(ctx: CheckContext) -> None:
    """A system message sent with the 'developer' role (OpenAI's reasoning models)."""
    name, label, model = "developer_role", "Developer role", ctx.probe_model
    _, error, latency = _role_probe(ctx, "developer")
    uses = ctx.settings.system_role == "developer"
    if error is None:
        ctx.add(name, label, "ok", "The service accepts the 'developer' role (used by OpenAI reasoning models; "
                                   "'system' works as well on most services).", latency_ms=latency, model=model)
        return
    if not isinstance(error, BadRequestError):
        ctx.could_not_test(name, label, "the role", error, latency, model)
        return
    consequence = (", which this preset sends: every call with a system prompt fails." if uses
                   else " (most non-OpenAI services do).")
    ctx.add(name, label, "fail" if uses else "warn", "The service refuses the 'developer' role" + consequence,
            "set 'system_role' to 'system'" if uses else "keep 'system_role' at 'system' (do not use 'developer')",
            latency_ms=latency, model=model, detail=provider_words(error))
