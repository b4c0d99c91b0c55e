"""`make demo`: the prompt recipe on the embedded local model.

Starts the llama.cpp server (SmolLM2-135M-Instruct) on 127.0.0.1, runs the real prompt recipe through
localdss on examples/reviews.csv (JSON-schema answers: a sentiment and a one-line summary per review),
prints a table of results and the run summary, and stops the server. The answer cache lives in
examples/out/cache: run the demo twice and the second run sends nothing.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tools.servers import start_llama_server, stop_process  # noqa: E402

OUT = os.path.join(HERE, "out")


def main() -> int:
    os.makedirs(os.path.join(OUT, "cache"), exist_ok=True)
    print("Starting the llama.cpp server with SmolLM2-135M-Instruct on 127.0.0.1 ...", flush=True)
    server, url = start_llama_server(parallel=2, n_ctx=4096, log_dir=OUT)
    try:
        with open(os.path.join(HERE, "presets", "local-llama.json")) as f:
            preset = json.load(f)
        preset["base_url"] = f"{url}/v1"
        preset_path = os.path.join(OUT, "preset.json")
        with open(preset_path, "w") as f:
            json.dump(preset, f, indent=2)
        output = os.path.join(OUT, "reviews_scored.csv")
        command = [sys.executable, "-m", "localdss", "recipe", "openai-compatible-prompt",
                   "--config", os.path.join(HERE, "prompt-reviews.json"),
                   "--preset", f"connection={preset_path}",
                   "--input", f"input={os.path.join(HERE, 'reviews.csv')}",
                   "--output", f"output={output}",
                   "--folder", f"cache={os.path.join(OUT, 'cache')}"]
        print("Running the prompt recipe through localdss:\n  " + " ".join(command[1:]), flush=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "python-lib")]))
        log_path = os.path.join(OUT, "recipe.log")
        lines = run_and_show_progress(command, env, log_path)
        if lines is None:
            print(f"The recipe failed; its job log is {os.path.relpath(log_path, ROOT)}:")
            with open(log_path) as f:
                print("".join(f.readlines()[-15:]))
            return 1
        print_results(output)
        summary = [line for line in lines if "Summary:" in line]
        print("\n" + (summary[-1].split("Summary:", 1)[1].strip() if summary else "(no summary in the log)"))
        print(f"\nOutput: {os.path.relpath(output, ROOT)} (schema beside it), "
              f"job log: {os.path.relpath(log_path, ROOT)}")
        print("Run `make demo` again: every answer now comes from the cache folder, no request is sent.")
        return 0
    finally:
        stop_process(server)


def run_and_show_progress(command: list, env: dict, log_path: str) -> Optional[list]:
    """Runs the recipe, echoing its progress lines as they come; returns its log lines, None on failure."""
    lines = []
    with open(log_path, "w") as log, subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True) as child:
        for line in child.stdout:
            log.write(line)
            lines.append(line)
            if "Progress:" in line:
                print("  " + line.split("Progress:", 1)[1].strip(), flush=True)
    return lines if child.returncode == 0 else None


def print_results(path: str, limit: int = 12) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    right = sum(1 for r in rows if r.get("llm_sentiment") == expected(int(r["review_id"])))
    print(f"\n{'id':>3}  {'product':<14} {'sentiment':<9}  summary")
    for row in rows[:limit]:
        summary = row.get("llm_summary") or f"[{row.get('llm_error_type')}] {row.get('llm_error_message')}"
        print(f"{row['review_id']:>3}  {row['product'][:14]:<14} {row.get('llm_sentiment') or '-':<9}  "
              f"{textwrap.shorten(summary, 70)}")
    print(f"... {len(rows)} rows; sentiment matches the review's obvious polarity for {right} of {len(rows)}.")


def expected(review_id: int) -> str:
    """The demo data alternates positive (odd ids) and negative (even ids) reviews."""
    return "positive" if review_id % 2 else "negative"


if __name__ == "__main__":
    sys.exit(main())
