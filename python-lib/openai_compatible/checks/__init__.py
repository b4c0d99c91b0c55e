"""Test a connection: what the provider really supports, and which preset setting to change.

    from openai_compatible import Client, run_checks
    for result in run_checks(Client.from_preset(preset)):
        print(result.status, result.label, result.meaning, result.setting)

Each check is a small, real request sent by a fresh client that does *not* adapt: when the provider
refuses a field, the check sees the refusal instead of the fallback hiding it. Retries are kept to one,
a failed check never stops the others, and no secret ever appears in a result.

- ``registry``: the list of checks and the run; ``context``: what the checks share;
- the probes, one job a module: ``network`` (reachability, TLS), ``apipath`` (a base URL without /v1),
  ``auth``, ``models`` (GET /models, models the preset offers), ``chat`` (chat, token field, roles),
  ``streaming``, ``jsonmode``, ``embeddings``;
- the words: ``explain`` (what an error means, which setting to change), ``report`` (HTML), ``result``.
"""
from .registry import CHECK_STEPS, run_checks
from .report import describe_settings, render_html
from .result import STATUSES, CheckResult, summarize

__all__ = ["CHECK_STEPS", "STATUSES", "CheckResult", "describe_settings", "render_html", "run_checks", "summarize"]
