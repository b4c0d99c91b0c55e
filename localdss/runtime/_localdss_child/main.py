"""Run the job's component; on failure log the traceback and record the error for the launcher."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable

Job = dict[str, Any]


def error_name(exc: BaseException) -> str:
    """`ValueError` for builtins, `package.module.Name` otherwise (as a DSS job log shows it)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


_OWN_DIR = os.path.dirname(os.path.abspath(__file__))


def print_component_traceback(exc: BaseException) -> None:
    """The traceback as a job log shows it: from the component's first frame, not localdss's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith(_OWN_DIR) or "runpy" in filename):
            break
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _record(job: Job, outcome: dict[str, Any]) -> None:
    path = job.get("result_file")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(outcome, handle)


def _runners() -> dict[str, Callable[[Job], None]]:
    from _localdss_child import connector_runner, llm_runner, macro_runner, recipe_runner

    return {"recipe": recipe_runner.run, "connector": connector_runner.run, "macro": macro_runner.run,
            "llm": llm_runner.run}


def main() -> int:
    with open(os.environ["LOCALDSS_JOB_FILE"], encoding="utf-8") as handle:
        job: Job = json.load(handle)
    try:
        _runners()[job["kind"]](job)
    except SystemExit as exc:
        if exc.code in (None, 0):
            _record(job, {"ok": True})
            return 0
        traceback.print_exc()
        _record(job, {"ok": False, "type": "SystemExit", "message": str(exc.code)})
        return 1
    except BaseException as exc:  # the component's failure, whatever it is, fails the job
        sys.stdout.flush()
        print_component_traceback(exc)
        _record(job, {"ok": False, "type": error_name(exc), "message": str(exc)})
        return 1
    sys.stdout.flush()
    _record(job, {"ok": True})
    return 0
