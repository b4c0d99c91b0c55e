"""Run a macro as DSS does: Runnable(project_key, config, plugin_config).run(progress_callback)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

from _localdss_child.loading import find_subclass, load_module


def render(result: Any, output: Optional[str]) -> bytes:
    """The bytes saved for a macro result: HTML/text as is, a ResultTable as HTML (JSON for .json)."""
    from dataiku.runnables import ResultTable

    as_json = bool(output and output.lower().endswith(".json"))
    if isinstance(result, ResultTable):
        return (json.dumps(result.to_json(), indent=2) if as_json else result.to_html()).encode("utf-8")
    if result is None:
        return b""
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode("utf-8")
    return json.dumps(result, indent=2, default=str).encode("utf-8")


def _check_type(result: Any, result_type: str) -> None:
    from dataiku.runnables import ResultTable

    expected = {"HTML": str, "URL": str, "RESULT_TABLE": ResultTable}.get(result_type)
    if expected is not None and not isinstance(result, expected):
        print(f"[localdss] warning: runnable.json says resultType {result_type} but run() returned "
              f"{type(result).__name__}", file=sys.stderr)


def run(job: dict[str, Any]) -> None:
    from dataiku.runnables import Runnable

    module = load_module(job["code_path"], job["module_name"])
    cls = find_subclass(module, (Runnable,), "runnable.py")
    runnable = cls(job["project_key"], job["config"], job["plugin_config"])
    target = runnable.get_progress_target()

    def progress_callback(progress: Any) -> None:
        of = f" / {target[0]} {target[1]}" if target else ""
        print(f"[localdss] progress: {progress}{of}", file=sys.stderr, flush=True)

    result = runnable.run(progress_callback)
    _check_type(result, job["options"].get("result_type", "HTML"))
    output = job["options"].get("output")
    data = render(result, output)
    if output:
        with open(output, "wb") as handle:
            handle.write(data)
        print(f"[localdss] macro result written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8", errors="replace") + "\n")
