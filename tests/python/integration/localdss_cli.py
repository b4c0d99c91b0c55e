"""Run plugin components the way a user does: ``python -m localdss recipe|connector ...`` in a subprocess.

Shared by the classify, embed, models and generate integration tests.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[3]


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def write_rows(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_schema(path: Path) -> dict[str, dict]:
    """The ``OUT.schema.json`` beside an output, by column name."""
    schema = json.loads(path.with_name(path.stem + ".schema.json").read_text(encoding="utf-8"))
    return {column["name"]: column for column in schema}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "python-lib")]))
    return subprocess.run([sys.executable, "-m", "localdss", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_recipe(tmp: Path, recipe: str, config: dict, preset: dict, rows: list[dict], *,
               cache: Optional[Path] = None, timeout: float = 600) -> tuple[subprocess.CompletedProcess, Path]:
    """Runs ``recipe`` on ``rows``; returns the finished process and the output CSV's path."""
    source = write_rows(tmp / "in.csv", rows)
    out = tmp / "out.csv"
    args = ["recipe", recipe, "--config", str(write_json(tmp / "config.json", config)),
            "--preset", f"connection={write_json(tmp / 'preset.json', preset)}",
            "--input", f"input={source}", "--output", f"output={out}"]
    if cache is not None:
        args += ["--folder", f"cache={cache}"]
    return _run(args, timeout), out


def run_connector(tmp: Path, connector: str, config: dict, preset: dict, *, limit: Optional[int] = None,
                  timeout: float = 600) -> tuple[subprocess.CompletedProcess, Path]:
    """Reads ``connector`` into a CSV; returns the finished process and the CSV's path."""
    out = tmp / "out.csv"
    args = ["connector", connector, "--config", str(write_json(tmp / "config.json", config)),
            "--preset", f"connection={write_json(tmp / 'preset.json', preset)}", "--output", str(out)]
    if limit is not None:
        args += ["--limit", str(limit)]
    return _run(args, timeout), out
