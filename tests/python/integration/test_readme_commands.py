"""The README's `localdss` commands, run as written against the real llama.cpp server.

The only changes made to a command before it runs: the interpreter is this test's, the example preset
points at the session's llama.cpp server instead of `make serve`'s fixed port, and `examples/out/` is a
temporary directory. Everything else (configs, roles, options) is the README's text.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from typing import Dict, List

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
README = os.path.join(REPO_ROOT, "README.md")
PRESET = "examples/presets/local-llama.json"
INPUT_ROWS = 60  # examples/reviews.csv


def readme_commands() -> List[str]:
    """Every `.venv/bin/python -m localdss ...` line of the README's bash blocks (deduplicated, in order)."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    commands: List[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith(".venv/bin/python -m localdss") and line not in commands:
                commands.append(line)
    return commands


def component_of(command: str) -> str:
    return shlex.split(command)[4]


def test_the_readme_has_a_command_for_every_component() -> None:
    listed = subprocess.run([sys.executable, "-m", "localdss", "list"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout
    expected = set()
    for line in listed.splitlines():
        kind, _, names = line.partition(":")
        if kind.strip() in ("recipe", "connector", "macro"):
            expected.update(name.strip() for name in names.split(","))
    assert expected, listed
    assert {component_of(c) for c in readme_commands()} == expected
    for command in readme_commands():
        config = shlex.split(command)[shlex.split(command).index("--config") + 1]
        assert os.path.isfile(os.path.join(REPO_ROOT, config)), f"{config} (README) does not exist"


def test_make_serve_serves_the_port_of_the_example_preset() -> None:
    with open(os.path.join(REPO_ROOT, PRESET), encoding="utf-8") as handle:
        base_url = json.load(handle)["base_url"]
    dry_run = subprocess.run(["make", "-n", "serve"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    port = re.search(r":(\d+)/v1$", base_url).group(1)
    assert "tools/llm_server.py" in dry_run.stdout and f"--port {port}" in dry_run.stdout, dry_run.stdout


def _rows(path: str) -> List[Dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("command", readme_commands(), ids=component_of)
def test_readme_command_runs_as_written(command: str, llama_server, tmp_path) -> None:
    with open(os.path.join(REPO_ROOT, PRESET), encoding="utf-8") as handle:
        preset = json.load(handle)
    preset["base_url"] = llama_server.base_url
    preset_path = tmp_path / "local-llama.json"
    preset_path.write_text(json.dumps(preset))
    out = tmp_path / "out"
    out.mkdir()
    argv = [sys.executable] + [
        arg.replace(PRESET, str(preset_path)).replace("examples/out/", f"{out}/")
        for arg in shlex.split(command)[1:]]
    env = dict(os.environ, PYTHONPATH="")  # as a user's shell: nothing but the repository root
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    component = component_of(command)
    produced = sorted(os.listdir(out))
    if component == "openai-compatible-prompt":
        rows = _rows(str(out / "reviews_prompted.csv"))
        assert len(rows) == INPUT_ROWS
        assert all(r["llm_sentiment"] or r["llm_error_message"] for r in rows)
        assert sum(r["llm_sentiment"] in ("positive", "negative") for r in rows) > INPUT_ROWS // 2
        assert os.listdir(out / "prompt-cache"), "the cache folder stayed empty"
    elif component == "openai-compatible-classify":
        rows = _rows(str(out / "reviews_classified.csv"))
        assert len(rows) == INPUT_ROWS
        assert all(r["llm_label"] in ("positive", "negative") or r["llm_error_message"] for r in rows)
        assert sum(r["llm_label"] != "" for r in rows) > INPUT_ROWS // 2
    elif component == "openai-compatible-embed":
        rows = _rows(str(out / "reviews_embedded.csv"))
        assert len(rows) == INPUT_ROWS
        vectors = [json.loads(r["llm_embedding"]) for r in rows]
        assert all(len(v) == len(vectors[0]) > 0 for v in vectors)
    elif component == "openai-compatible_models":
        assert [r["id"] for r in _rows(str(out / "models.csv"))] == ["smollm2"]
    elif component == "openai-compatible_generate":
        rows = _rows(str(out / "products.csv"))
        assert 1 <= len(rows) <= 5 and set(rows[0]) == {"product", "price_eur"}
        assert all(isinstance(float(r["price_eur"]), float) and r["product"] for r in rows)
    elif component == "openai-compatible-test-connection":
        report = (out / "connection-test.html").read_text()
        assert "connection test" in report.lower() and "0 failed" in report
    else:  # a component added to the README without a check here
        pytest.fail(f"no expectation for {component}: add one (produced {produced})")


def test_readme_outside_dss_snippet_runs(llama_server, tmp_path) -> None:
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    snippets = [s for s in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "Client.from_preset" in s]
    assert len(snippets) == 1, "the README's outside-DSS example is gone or duplicated"
    lib = os.path.join(REPO_ROOT, "python-lib")
    code = (snippets[0].replace("/path/to/dss-plugin-openai-compatible/python-lib", lib)
            .replace("http://127.0.0.1:8012/v1", llama_server.base_url))
    script = tmp_path / "outside_dss.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=""), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "the chat answer printed nothing"
