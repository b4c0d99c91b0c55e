"""JSON output: does the service accept ``response_format`` json_object and json_schema, and obey them."""
from __future__ import annotations

import json
from typing import Any

from ..errors import BadRequestError
from ..jsonout import strip_code_fence
from .context import CheckContext, Outcome
from .explain import provider_words

_PING = [{"role": "user", "content": 'Reply with this JSON object and nothing else: {"ok": true}'}]
_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
           "additionalProperties": False}
_TOKENS = 24
# which response_format types a preset sends: auto and json_schema send both as asked, json_object turns
# schema requests into json_object, none sends neither
_SENDS = {"auto": {"json_object", "json_schema"}, "json_schema": {"json_object", "json_schema"},
          "json_object": {"json_object"}, "none": set()}


def _probe(ctx: CheckContext, mode: str, response_format: dict) -> Outcome:
    return ctx.call(lambda c: c.chat(_PING, model=ctx.probe_model, max_tokens=_TOKENS,
                                     response_format=response_format), json_mode=mode)


def best_mode(refused: set[str]) -> str:
    """The ``json_mode`` to set, given the response_format types the service refuses."""
    if refused == {"json_object", "json_schema"}:
        return "none"
    if "json_schema" in refused:
        return "json_object"
    return "json_schema" if "json_object" in refused else "auto"


def check_json(ctx: CheckContext) -> None:
    """Both JSON modes, probed first, reported together (the right setting depends on both)."""
    model, configured = ctx.probe_model, ctx.settings.json_mode
    schema_format = {"type": "json_schema", "json_schema": {"name": "check", "schema": _SCHEMA, "strict": True}}
    outcomes = {"json_object": _probe(ctx, "json_object", {"type": "json_object"}),
                "json_schema": _probe(ctx, "json_schema", schema_format)}
    best = best_mode({mode for mode, outcome in outcomes.items() if isinstance(outcome.error, BadRequestError)})
    sends = _SENDS[configured]
    for mode, (result, error, latency) in outcomes.items():
        name, label = mode, f"JSON output ({mode})"
        if error is None:
            _accepted(ctx, name, label, mode, result, latency)
            continue
        if not isinstance(error, BadRequestError):
            ctx.could_not_test(name, label, mode, error, latency, model)
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
        ctx.add(name, label, status, meaning, setting, latency_ms=latency, model=model,
                detail=provider_words(error))


def _accepted(ctx: CheckContext, name: str, label: str, mode: str, result: Any, latency: float) -> None:
    model = ctx.probe_model
    text = (result.text or "").strip()
    try:
        parsed = json.loads(strip_code_fence(text))
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        ctx.add(name, label, "ok", f"The service accepts response_format {mode} and answered valid JSON.",
                latency_ms=latency, model=model)
    elif result.finish_reason == "length" and text.startswith("{"):
        ctx.add(name, label, "ok", f"The service accepts response_format {mode} (the JSON answer was cut by this "
                                   "check's small token limit).", latency_ms=latency, model=model)
    else:
        ctx.add(name, label, "warn", f"The service accepts response_format {mode} but answered text that is not a "
                                     f"JSON object ({text[:60]!r}): it may ignore the field.",
                "set 'json_mode' to 'none' and ask for JSON in the prompt, if JSON output fails",
                latency_ms=latency, model=model)
