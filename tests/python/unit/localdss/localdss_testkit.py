"""Shared helpers of the localdss tests: the fixture plugin location, JSON files, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[4]
FIXTURE = Path(__file__).resolve().parent / "fixture_plugin"
SECRET = "sk-fixture-SECRET-123"
USER_SECRET = "user-SECRET-456"


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m localdss ARGS --plugin-root FIXTURE`, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "localdss", *args, "--plugin-root", str(FIXTURE)],
        cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def big_csv(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for i in range(rows):
            handle.write(f"{i},row number {i} with some text to make it longer than a few bytes\n")
    return path
