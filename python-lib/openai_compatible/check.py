"""The connection test's public names, kept where they have always been imported from
(the checks themselves live in the ``checks`` package)."""
from .checks import STATUSES, CheckResult, describe_settings, render_html, run_checks, summarize

__all__ = ["STATUSES", "CheckResult", "describe_settings", "render_html", "run_checks", "summarize"]
