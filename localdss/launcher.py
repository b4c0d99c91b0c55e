"""Run a prepared job in its own Python process, with the environment DSS gives a component.

The child is the same interpreter running runtime/localdss_boot.py, so the stand-in `dataiku`
comes first on sys.path, then the plugin's python-lib (PYTHONPATH is replaced, so the repo root and
localdss itself are not importable by plugin code). The child's stdout/stderr are the job log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from localdss.errors import EXIT_COMPONENT_FAILED, EXIT_OK
from localdss.plugin import Component, Plugin
from localdss.roles import PROJECT_KEY, Flow

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
BOOT_SCRIPT = RUNTIME_DIR / "localdss_boot.py"
# Set per job; never inherited from the caller's environment.
_JOB_VARS = ("DKUFLOW_SPEC", "DKUFLOW_VARIABLES", "LOCALDSS_CONTAINER", "DKU_CUSTOM_RECIPE_CONFIG",
             "DKU_CUSTOM_RECIPE_PLUGIN_CONFIG", "LOCALDSS_LOCATIONS", "LOCALDSS_JOB_FILE", "DKU_CUSTOM_RESOURCE_FOLDER",
             "DKU_CURRENT_PROJECT_KEY")


@dataclass
class Job:
    """Everything a component run needs, already validated."""

    plugin: Plugin
    component: Component
    config: dict[str, Any]
    plugin_config: dict[str, Any]
    flow: Optional[Flow] = None
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    container: Optional[str] = None  # containerized execution: "no-path" or "missing-path" (see README)

    @property
    def kind(self) -> str:
        return self.component.kind.name


def child_env(job: Job, workdir: Path, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The child's environment: the caller's, minus job variables, plus what DSS sets.

    The job description (component, options such as an LLM query) goes to a file in the private
    work directory rather than the environment, whose variables are limited to 128 KiB each.
    """
    env = {k: v for k, v in os.environ.items() if k not in _JOB_VARS}
    env.update(extra or {})
    if job.container:
        env["LOCALDSS_CONTAINER"] = job.container
    env["PYTHONPATH"] = str(job.plugin.python_lib)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["DKU_CURRENT_PROJECT_KEY"] = PROJECT_KEY
    env["DKU_CUSTOM_RESOURCE_FOLDER"] = str(job.plugin.resource_folder)
    env["LOCALDSS_LOCATIONS"] = json.dumps(job.locations)
    spec: dict[str, Any] = {
        "kind": job.kind,
        "code_path": str(job.component.code_path),
        "module_name": "plugin_" + re.sub(r"\W", "_", f"{job.kind}_{job.component.component_id}"),
        "project_key": PROJECT_KEY,
        "options": job.options,
        "result_file": str(workdir / "result.json"),
        "plugin_config": job.plugin_config,
    }
    if job.kind == "recipe":
        env["DKU_CUSTOM_RECIPE_CONFIG"] = json.dumps(job.config)
        env["DKU_CUSTOM_RECIPE_PLUGIN_CONFIG"] = json.dumps(job.plugin_config)
        env["DKUFLOW_SPEC"] = json.dumps(job.flow.spec if job.flow else {"in": [], "out": []})
        # The flow variables (partition values) of the activity; Dataiku.jl's get_flow_variable
        # reads them from this variable (src/flow.jl).
        env["DKUFLOW_VARIABLES"] = json.dumps(job.flow.variables if job.flow else {})
    else:
        spec["config"] = job.config
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps(spec), encoding="utf-8")
    env["LOCALDSS_JOB_FILE"] = str(job_file)
    return env


def _failure(outcome: Optional[dict[str, Any]], returncode: Optional[int], timeout: Optional[float]) -> str:
    if returncode is None:
        return f"Job failed: timed out after {timeout} s; the component process was killed"
    if outcome and not outcome.get("ok"):
        return f"Job failed: {outcome.get('type')}: {outcome.get('message')}"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"Job failed: the component process was killed by signal {name}"
    return f"Job failed: the component process exited with status {returncode}"


def launch(
    job: Job, *, capture: bool = True, timeout: Optional[float] = None, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """Run the job; return code 0 on success, 1 when the component failed (message on stderr)."""
    command = [sys.executable, str(BOOT_SCRIPT)]
    head = "".join(f"[localdss] {note}\n" for note in job.notes)
    if not capture:
        sys.stderr.write(head)
        sys.stderr.flush()
    with tempfile.TemporaryDirectory(prefix="localdss-job-") as workdir:
        result_file = Path(workdir) / "result.json"
        child = child_env(job, Path(workdir), env)
        returncode: Optional[int]
        try:
            done = subprocess.run(command, env=child, cwd=workdir, capture_output=capture, text=True,
                                  encoding="utf-8", errors="replace", timeout=timeout, check=False)
            returncode, out, err = done.returncode, done.stdout, done.stderr
        except OSError as exc:  # e.g. E2BIG: a config too large for DSS's environment variables too
            message = f"[localdss] Job failed: cannot start the component process: {exc}\n"
            if not capture:
                sys.stderr.write(message)
            return subprocess.CompletedProcess(command, EXIT_COMPONENT_FAILED, stdout="", stderr=head + message)
        except subprocess.TimeoutExpired as exc:
            returncode = None
            out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else exc.stdout
            err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr
        outcome = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    tail = ""
    if returncode != 0 or (outcome is not None and not outcome.get("ok")):
        tail = f"[localdss] {_failure(outcome, returncode, timeout)}\n"
        if not capture:
            sys.stderr.write(tail)
    code = EXIT_OK if not tail else EXIT_COMPONENT_FAILED
    if not capture:
        return subprocess.CompletedProcess(command, code)
    return subprocess.CompletedProcess(command, code, stdout=out or "", stderr=head + (err or "") + tail)
