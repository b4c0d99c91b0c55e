"""The test-connection macro: the connection checks on a preset, as an HTML report."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ..client import Client
from ..errors import SettingsError
from .config import preset_from_config
from .logs import setup_logging


def connection_test_report(config: Mapping[str, Any], progress: Optional[Callable[[int], None]] = None) -> str:
    """Runs the checks on the config's preset (and optional ``model``) and returns the HTML report.
    A preset that doesn't validate gives a one-row report saying why. ``progress(done)`` is the macro's
    progress callback (out of ``checks.CHECK_STEPS``)."""
    from ..checks import CheckResult, render_html, run_checks

    setup_logging()
    try:
        client = Client.from_preset(preset_from_config(config))
    except SettingsError as exc:
        return render_html([CheckResult("preset", "Preset", "fail", f"The preset is invalid: {exc}",
                                        "fix the preset field named above")])
    model = str(config.get("model") or "").strip()
    with client:
        results = run_checks(client, [model] if model else None, progress)
    return render_html(results, client.settings)
