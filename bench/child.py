"""Runs one bench workload in a fresh Python process and reads back its ``RESULT {json}`` line.

Every workload runs in a process of its own, so that its CPU, memory and threads are its alone; the process
finds python-lib, the repository root and bench/ on its path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_script(args: list[str], what: str, timeout_s: float) -> dict[str, Any]:
    """Runs ``python *args`` and returns the JSON of its last ``RESULT `` line; raises RuntimeError naming
    ``what`` (and quoting the end of its output) when it fails or prints no result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(ROOT, "python-lib"), ROOT, HERE,
                                                    env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env, timeout=timeout_s,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {done.stdout[-2000:]}")
    return dict(json.loads(lines[-1][len("RESULT "):]))
