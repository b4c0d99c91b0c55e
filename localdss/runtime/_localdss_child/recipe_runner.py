"""Run recipe.py as DSS does: as the __main__ script, top to bottom."""

from __future__ import annotations

import runpy
import sys
from typing import Any


def run(job: dict[str, Any]) -> None:
    sys.argv = [job["code_path"]]
    runpy.run_path(job["code_path"], run_name="__main__")
