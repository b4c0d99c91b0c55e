"""The list of connection checks, and the run that goes through it.

A new check is one function ``check(ctx: CheckContext) -> None`` and one :class:`Step` in :data:`CHECKS`.
The list is in the order of the report; ``stage`` says when a check runs, since some use what others
observed (the authentication verdict comes from every call before it; the capability checks need a model
that answered).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..client import Client
from . import apipath, auth, chat, embeddings, jsonmode, models, network, replicas, streaming, token
from .context import CheckContext
from .result import CheckResult

NETWORK, CALLS, VERDICTS, CAPABILITIES = range(4)


@dataclass(frozen=True)
class Step:
    """One check: ``run`` reports results named ``names[i]`` or ``names[i]:<detail>``, labelled ``labels[i]``.
    A capability (``needs_model``) is reported as skipped when no model answered a chat."""

    names: tuple
    labels: tuple
    run: Callable[[CheckContext], None]
    stage: int
    needs_model: bool = False


CHECKS: list[Step] = [
    Step(("reachable", "tls"), ("Service reachable", "TLS"), network.check_reachable, NETWORK),
    Step(("token_endpoint",), ("Token endpoint (OAuth2)",), token.check_token_endpoint, NETWORK),
    Step(("replicas",), ("Replicas",), replicas.check_replicas, NETWORK),
    Step(("api_path",), ("API path (/v1)",), apipath.check_api_path, NETWORK),
    Step(("authentication",), ("Authentication",), auth.check_authentication, VERDICTS),
    Step(("models_endpoint",), ("Model list (GET /models)",), models.check_models_endpoint, CALLS),
    Step(("in_preset",), ("Model in the preset",), models.check_in_preset, CALLS),
    Step(("chat",), ("Chat",), chat.check_chat, CALLS),
    Step(("token_field",), ("Output token limit field",), chat.check_token_field, CAPABILITIES, True),
    Step(("system_role",), ("System role",), chat.check_system_role, CAPABILITIES, True),
    Step(("developer_role",), ("Developer role",), chat.check_developer_role, CAPABILITIES, True),
    Step(("streaming",), ("Streaming",), streaming.check_streaming, CAPABILITIES, True),
    Step(("stream_usage",), ("Usage in streams",), streaming.check_stream_usage, CAPABILITIES, True),
    Step(("json_object", "json_schema"), ("JSON output (json_object)", "JSON output (json_schema)"),
         jsonmode.check_json, CAPABILITIES, True),
    Step(("embeddings",), ("Embeddings",), embeddings.check_embeddings, CAPABILITIES),
]


CHECK_STEPS = len(CHECKS)  # what a macro's progress bar counts to


def run_checks(client: Client, models: Optional[Sequence[str]] = None,
               progress: Optional[Callable[[int], None]] = None) -> list[CheckResult]:
    """Checks what the provider behind ``client`` (or what ``connect()`` returned) supports; returns one
    :class:`CheckResult` per check.

    ``models`` restricts the per-model checks to these models (default: the preset's models, or the
    discovered ones). ``progress(done)`` is called after each step (a macro's progress callback, out of
    :data:`CHECK_STEPS`). Never raises for a provider problem: every problem is a result.
    """
    if not isinstance(client, Client) and isinstance(getattr(client, "client", None), Client):
        client = client.client  # a notebook's connect() result wraps the client it checks
    steps = list(CHECKS)  # read at call time, so that a test may replace a step
    ctx = CheckContext(client, models)
    for done, step in enumerate(sorted(steps, key=lambda s: s.stage), start=1):
        _run_step(ctx, step)
        if progress is not None:
            progress(done)
    rank = {name: index for index, step in enumerate(steps) for name in step.names}
    ctx.results.sort(key=lambda r: rank.get(r.name.split(":")[0], len(rank)))
    return ctx.results


def _run_step(ctx: CheckContext, step: Step) -> None:
    """Runs one check; a bug in it becomes a 'fail' row instead of stopping the others."""
    if step.needs_model and ctx.probe_model is None:
        for name, label in zip(step.names, step.labels):
            ctx.add(name, label, "skipped", ctx.skip_reason)
        return
    try:
        step.run(ctx)
    except Exception as exc:
        ctx.add(step.names[0], step.labels[0], "fail", f"The check itself failed unexpectedly "
                                                      f"({type(exc).__name__}: {exc}). The other checks still ran.")
