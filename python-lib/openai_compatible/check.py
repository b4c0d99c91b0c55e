"""The connection test's public names, kept where they have always been imported from
(the checks themselves live in the ``checks`` package)."""
from .checks import CHECK_STEPS, STATUSES, CheckResult, describe_settings, render_html, run_checks, summarize

__all__ = ["CHECK_STEPS", "STATUSES", "CheckResult", "describe_settings", "render_html", "run_checks", "summarize"]
