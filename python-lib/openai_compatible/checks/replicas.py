"""The connection test's replica check: each replica of the preset answers a small chat on its own, so that the
report names the one that is down (the pool would otherwise hide it by sending its requests elsewhere)."""
from __future__ import annotations

from typing import Any, Optional

from ..http.replicas import is_replica_failure, pinned_overrides
from ..settings import ConnectionSettings, safe_url

PING = [{"role": "user", "content": "Reply with the single word: OK"}]
PING_TOKENS = 8


def replica_model(settings: ConnectionSettings, requested: list) -> Optional[str]:
    """The model each replica is asked to serve: the first one asked for, else the preset's first model (in
    Azure style, the first endpoint under the replicated Target URI); None when the preset lists none."""
    if requested:
        return requested[0]
    if settings.style == "openai":
        return settings.models[0] if settings.models else None
    root = settings.target_uri
    return next((e.name for e in settings.endpoints if e.base.startswith(root + "/")), None)


def check_replicas(checker: Any) -> None:
    """One result per replica; nothing for a preset without replicas (see :func:`check_each_replica`)."""
    if checker.settings.replica_roots():
        check_each_replica(checker)


def check_each_replica(checker: Any) -> None:
    """Adds one result per replica (``replicas:1``, ``replicas:2``...) to ``checker`` (the connection test's
    runner: its ``settings``, ``requested`` models, ``probe()``, ``timed()`` and ``add()``): ``ok`` when the
    replica answers, ``fail`` naming it when it is down (refused, timed out, 5xx) or refuses the model."""
    settings: ConnectionSettings = checker.settings
    roots = settings.replica_roots()
    model = replica_model(settings, list(checker.requested))
    field = "replica_urls" if settings.style == "openai" else "replica_target_uris"
    first = "base_url" if settings.style == "openai" else "target_uri"
    for index, root in enumerate(roots, start=1):
        where = safe_url(root)
        name, label = f"replicas:{index}", f"Replica {index} of {len(roots)} ({where})"
        setting = f"'{first}'" if index == 1 else f"'{field}' line {index - 1}"
        client = checker.probe(**pinned_overrides(settings, root))
        try:
            if model is None:
                _, error, latency = checker.timed(client.discover_models)
                asked = "GET /models"
            else:
                _, error, latency = checker.timed(
                    lambda client=client: client.chat(PING, model, max_output_tokens=PING_TOKENS))
                asked = f"chat with '{model}'"
        finally:
            client.close()
        if error is None:
            checker.add(name, label, "ok", f"{where} answers ({asked}).", latency_ms=latency, model=model)
        elif is_replica_failure(error):
            checker.add(name, label, "fail", f"Replica {where} is down: {error} Until it is back, its requests go "
                        "to the other replicas.", f"start the server at {where}, or fix or remove it ({setting})",
                        latency_ms=latency, model=model)
        else:
            checker.add(name, label, "fail", f"Replica {where} answered, but {asked} failed: {error}",
                        f"every replica must serve the same models with the same key ({setting})",
                        latency_ms=latency, model=model)
