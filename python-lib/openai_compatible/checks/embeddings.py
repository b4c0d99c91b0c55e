"""Embeddings: one small embeddings call per candidate model, reported as what was observed (the model's
name only chooses which models to try first, never the verdict)."""
from __future__ import annotations

from typing import NamedTuple, Optional

from ..errors import BadRequestError, InvalidResponseError, ServerError, UnknownModelError
from ..models import looks_like_embedding_model
from .context import MAX_MODELS, CheckContext, Outcome
from .explain import provider_words

# answers that say "no embeddings for this model here" (vLLM's 400, a gateway's 404, llama.cpp's 501 when
# started without --embeddings), as opposed to an answer in the wrong shape
_REFUSALS = (BadRequestError, UnknownModelError, ServerError)


class EmbedProbe(NamedTuple):
    """Two texts embedded in one call, and, when that answer was malformed, one text alone."""

    batch: Outcome
    single: Optional[Outcome]

    @property
    def dimensions(self) -> Optional[int]:
        """The vector size when either call returned embeddings, else None."""
        for outcome in (self.batch, self.single):
            if outcome is not None and outcome.error is None:
                vectors = outcome.value.vectors
                return len(vectors[0]) if vectors else 0
        return None


def embed_probe(ctx: CheckContext, model: str) -> EmbedProbe:
    """The embeddings calls with ``model``, made once per run (the chat check may need them first)."""
    if model not in ctx.embedded:
        with ctx.probe() as client:
            batch = ctx.timed(lambda: client.embed_result(["ping", "pong"], model))
            single = None
            if isinstance(batch.error, InvalidResponseError):  # some services embed one text per request only
                single = ctx.timed(lambda: client.embed_result(["ping"], model))
        ctx.embedded[model] = EmbedProbe(batch, single)
    return ctx.embedded[model]


def check_embeddings(ctx: CheckContext) -> None:
    """The models whose names suggest embeddings, else the first model, each tried with one small call."""
    models = ctx.chat_models()[:MAX_MODELS]
    candidates = [m for m in models if looks_like_embedding_model(m)] or models[:1]
    if not candidates:
        ctx.add("embeddings", "Embeddings", "skipped", "No model to test.")
        return
    for model in candidates:
        _report(ctx, model, embed_probe(ctx, model))


def _report(ctx: CheckContext, model: str, probe: EmbedProbe) -> None:
    name, label = f"embeddings:{model}", f"Embeddings with '{model}'"
    (_, error, latency), dims = probe.batch, probe.dimensions
    if error is None:
        ctx.add(name, label, "ok", f"'{model}' returns embeddings ({dims} dimensions).", latency_ms=latency,
                model=model)
    elif dims is not None:
        ctx.add(name, label, "warn", f"'{model}' returns embeddings ({dims} dimensions), but only for one text per "
                                     "request: a list of texts gets a wrong answer.",
                "set the embed recipe's batch size to 1", latency_ms=latency, model=model,
                detail=provider_words(error))
    elif isinstance(error, InvalidResponseError):
        ctx.add(name, label, "fail", f"The service answered the embeddings call with '{model}', but not with "
                                     f"embeddings in the OpenAI format ({provider_words(error)}): the embed recipe "
                                     "fails with this model at this URL.",
                ctx.explain(error, model)[1], latency_ms=latency, model=model, detail=provider_words(error))
    elif isinstance(error, _REFUSALS) and model in ctx.chat_ok:
        ctx.add(name, label, "skipped", f"The service refused embeddings with '{model}' (it said: "
                                        f"{provider_words(error)}), and '{model}' answers chat: a chat model. That is "
                                        "fine for chat; list an embedding model to use the embed recipe.",
                latency_ms=latency, model=model, detail=provider_words(error))
    else:
        meaning, setting, status = ctx.explain(error, model)
        ctx.add(name, label, status, meaning, setting, latency_ms=latency, model=model, detail=provider_words(error))
