"""``make reliability``: faults, crash and resume, bad input, secrets and load, measured through the real recipes.

    PYTHONPATH=python-lib:. .venv/bin/python tests/reliability/run.py [--quick] [--only faults,crash,...]
        [--cells OAuth2,replica]

Prints one table per section and writes ``tests/reliability/results/latest.json`` (every figure) and
``tests/reliability/results/SUMMARY.md`` (the headline figures, linked from the README). Exit status 1 when a
check failed. Every run carries the canary key; the report files are scanned for it before they are written.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[2] / "python-lib")]

from tests.reliability import bad_input, crash, faults, harness, load, secret_checks  # noqa: E402

SECTIONS = ("faults", "crash", "bad-input", "secrets", "load")
RESULTS = Path(__file__).resolve().parent / "results"


def table(header: list[str], rows: list[list[Any]], widths: Optional[dict[int, int]] = None) -> str:
    """A plain-text table; cells longer than their column's width limit are cut."""
    limits = widths or {}
    cells = [[str("" if v is None else v) for v in row] for row in [header, *rows]]
    cells = [[c if len(c) <= limits.get(i, 200) else c[: limits[i] - 1] + "…" for i, c in enumerate(r)] for r in cells]
    sizes = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * s for s in sizes))
    return "\n".join(lines)


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str("" if v is None else v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(out)


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(3, 100 - len(title)), flush=True)


def progress(done: int, total: int, what: str) -> None:
    print(f"  [{done}/{total}] {what}", file=sys.stderr, flush=True)


# --- sections ----------------------------------------------------------------------------------------------------

def run_faults(work: Path, quick: bool, jobs: int, only: tuple[str, ...] = ()) -> dict:
    """Runs the cells ``jobs`` at a time: most of a faulty cell's time is spent waiting for retries. ``only``: the
    cells whose name holds one of these words (case ignored), e.g. ``("OAuth2",)``; all when empty."""
    from concurrent.futures import ThreadPoolExecutor

    cells = [c for c in faults.cells(quick) if not only or any(w.lower() in c.name.lower() for w in only)]
    started = [0]

    def one(index: int) -> dict:
        started[0] += 1
        progress(started[0], len(cells), cells[index].name)
        return faults.run_cell(cells[index], work / f"cell{index:03d}", index)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, range(len(cells))))
    print(table(faults.HEADER, [faults.as_row(r) for r in results], {1: 34, 5: 34, 12: 70}))
    return {"cells": results, "summary": faults.summarise(results)}


def run_crash(work: Path, quick: bool) -> dict:
    kills = ["mid", "late"] if quick else ["mid", "startup", "mid", "late"]
    scenarios = [("prompt", 200 if quick else 600), ("embed", 400 if quick else 1200)]
    results = []
    for index, (recipe, rows) in enumerate(scenarios):
        progress(index + 1, len(scenarios), f"{recipe}: {len(kills)} kills")
        results.append(crash.crash_and_resume(recipe, rows, kills, work / recipe, seed=11 + index))
    print(table(crash.HEADER, [row for r in results for row in crash.as_rows(r)]))
    print(table(["recipe", "rows", "kills", "resent after commit", "resent (in flight at a kill)", "lost",
                 "identical to a clean run", "check"],
                [[r["recipe"], r["rows"], r["kills"], r["resent_after_commit"], r["resent_in_flight"],
                  r["outcome"]["lost"], r["identical_to_clean_run"], "; ".join(r["problems"]) or "ok"]
                 for r in results]))
    return {"scenarios": results}


def run_bad_input(work: Path, quick: bool, mode: str) -> dict:
    results = []
    for index, case in enumerate(bad_input.CASES):
        progress(index + 1, len(bad_input.CASES), case.id)
        results.append(bad_input.run_case(case, work / case.id, mode=mode).as_dict())
    rows = [[r["group"], r["id"], r["ending"], _before(r), r["requests"], r["message"], "ok" if r["ok"] else
             "; ".join(r["problems"])] for r in results]
    print(table(["group", "case", "ending", "caught", "requests", "error text", "check"], rows, {5: 110}))
    before = [r for r in results if r["before_request"]]
    return {"mode": mode, "cases": results,
            "summary": {"cases": len(results), "ok": sum(r["ok"] for r in results),
                        "caught_before_any_request": sum(1 for r in before if r["requests"] == 0),
                        "catchable_before_any_request": len(before),
                        "failed": [r["id"] for r in results if not r["ok"]]}}


def _before(result: dict) -> str:
    if result["ending"] == "refused":
        return "config check"
    if result["before_request"]:
        return "before requests" if result["requests"] == 0 else "AFTER requests"
    if result["before_request"] is None:
        return "row data"
    return "provider's answer"


def run_secrets(work: Path, quick: bool) -> dict:
    results = []
    for index, scenario in enumerate(secret_checks.SCENARIOS):
        progress(index + 1, len(secret_checks.SCENARIOS), scenario.name)
        result = secret_checks.run_scenario(scenario, work / f"scenario{index}")
        result["problems"] = secret_checks.problems(result, scenario)
        results.append(result)
    print(table(secret_checks.HEADER + ["check"],
                [secret_checks.as_row(r) + ["; ".join(r["problems"]) or "ok"] for r in results]))
    return {"scenarios": results}


def run_load(work: Path, quick: bool) -> dict:
    rows = 10_000 if quick else 100_000
    results = []
    for index, recipe in enumerate(("prompt", "embed")):
        progress(index + 1, 2, f"{recipe}: {rows} rows, concurrency {load.CONCURRENCY}")
        results.append(load.run_load(recipe, rows, work / recipe, scheme=("bearer", "query_param")[index]))
    print(table(load.HEADER, [load.as_row(r) for r in results]))
    return {"runs": results}


# --- report ------------------------------------------------------------------------------------------------------

def problems_of(report: dict) -> list[str]:
    out = []
    for cell in report.get("faults", {}).get("cells", []):
        out += [f"faults {cell['recipe']}: {cell['label']} @ {cell['rate']:.0%}: {p}" for p in cell["problems"]]
    for scenario in report.get("crash", {}).get("scenarios", []):
        out += [f"crash {scenario['recipe']}: {p}" for p in scenario["problems"]]
    for case in report.get("bad_input", {}).get("cases", []):
        out += [f"bad input {case['id']}: {p}" for p in case["problems"]]
    for scenario in report.get("secrets", {}).get("scenarios", []):
        out += [f"secrets {scenario['scenario']}: {p}" for p in scenario["problems"]]
    for run in report.get("load", {}).get("runs", []):
        out += [f"load {run['recipe']}: {p}" for p in run["problems"]]
    if report["secret_audit"]["leaks"]:
        out += [f"key leaked in {leak}" for leak in report["secret_audit"]["leaks"]]
    return out


def summary_markdown(report: dict) -> str:
    meta = report["meta"]
    lines = [
        "# Reliability report: latest figures",
        "",
        f"`make reliability` ({'quick' if meta['quick'] else 'full'} run"
        f"{'' if meta.get('fault_cells_chosen', 'all') == 'all' else ', fault cells ' + meta['fault_cells_chosen']}"
        f") on {meta['date']}, {meta['cpus']} CPUs, "
        f"load average {meta['load_average']} at the start, {meta['seconds'] / 60:.1f} min. Every figure is in "
        "[latest.json](latest.json); the tests behind it are `tests/python/integration/test_reliability_faults.py`, "
        "`test_reliability_oauth2.py`, `test_crash_resume.py`, `test_bad_input.py` and `test_secrets_recipe.py`.",
        "",
        "**Checks: " + (f"{len(report['problems'])} failed" if report["problems"] else "all passed") + ".**",
        "",
    ]
    if "faults" in report:
        f = report["faults"]
        mixed = [c for c in f["cells"] if c["label"] == "all transient, mixed" or c["kind"] != "rate"]
        transient5 = [c for c in f["cells"] if c["kind"] == "rate" and c["rate"] <= 0.05
                      and (c["label"] in faults.TRANSIENT or c["label"] == "all transient, mixed")]
        all5 = all(c["answered"] == c["rows_in"] for c in transient5)
        lines += ["## Faults", "",
                  f"{f['summary']['cells']} cells, {f['summary']['rows']} rows through the prompt and embed recipes: "
                  f"**{f['summary']['lost']} rows lost**, {f['summary']['wrong']} wrong answers; every transient "
                  f"fault alone or mixed at 5% or less ends with **{'every' if all5 else 'NOT every'} row answered**. "
                  "Failure modes: 429 with and without Retry-After, 500, 502 (HTML) / 503, connection resets, "
                  "malformed JSON, truncated bodies, empty 200s, errors inside 200s, answers slower than the read "
                  "timeout; mixed, and each alone at 5% and 30% (see latest.json).", "",
                  markdown(["recipe", "faults", "rate", "rows", "answered", "errors", "lost", "calls/row", "retries",
                            "engine s"],
                           [[c["recipe"], c["label"], f"{c['rate']:.0%}" if c["kind"] == "rate" else "-", c["rows_in"],
                             c["answered"], c["errors"], "job stopped" if c["lost"] is None else c["lost"],
                             f"{c['calls_per_row']:.2f}", c["retries"],
                             "-" if c["engine_s"] is None else f"{c['engine_s']:.1f}"] for c in mixed]), "",
                  "Each failure mode alone (rows answered / rows; the rest are rows with an error, none lost):", "",
                  _singles_table(f["cells"]), "",
                  "At 30%, a few rows fail all 6 attempts (the preset's default 5 retries) and get the last error: "
                  "0.3^6 is about 0.07%, but faults are drawn from one seeded sequence, and a request retrying alone "
                  "at the end of a run gets consecutive draws. The embed recipe splits a batch the provider "
                  "refuses with a 400, so a random 400 costs no row there. Wall times include waiting for the "
                  "provider's Retry-After (1 s per 429 in the '429 + Retry-After' cells).", "",
                  *_oauth2_lines(f["cells"])]
    if "crash" in report:
        lines += ["## Crash and resume", "",
                  markdown(["recipe", "rows", "SIGKILLs", "resent after commit", "resent in flight", "lost",
                            "identical to a clean run"],
                           [[s["recipe"], s["rows"], s["kills"], s["resent_after_commit"], s["resent_in_flight"],
                             s["outcome"]["lost"], s["identical_to_clean_run"]] for s in report["crash"]["scenarios"]]),
                  ""]
    if "bad_input" in report:
        b = report["bad_input"]["summary"]
        cases = report["bad_input"]["cases"]
        groups: dict[str, int] = {}
        for case in cases:
            groups[case["group"]] = groups.get(case["group"], 0) + 1
        lines += ["## Bad input", "",
                  f"{b['cases']} cases ({', '.join(f'{n} {g}' for g, n in groups.items())}): {b['ok']} get the "
                  f"expected clear error naming what is wrong; {b['caught_before_any_request']} of the "
                  f"{b['catchable_before_any_request']} problems that can be known before any request are caught "
                  f"before (the server counts zero calls): {sum(1 for c in cases if c['ending'] == 'refused')} by "
                  "DSS's own checks of the config, the others by the plugin. The error text of every case is in "
                  "latest.json.", ""]
    if "secrets" in report:
        audit = report["secret_audit"]
        lines += ["## Secrets", "",
                  f"{len(report['secrets']['scenarios'])} scenarios (bearer, api-key header, custom header, query "
                  "parameter, Azure per-endpoint key, extra header, OAuth2 client credentials with the key as client "
                  "secret and every access token issued looked for too; DEBUG logs; fail mode; a provider echoing "
                  f"the key or token in error bodies and pages), and every other run of the report, scanned: "
                  f"{audit['texts']} "
                  f"texts and {audit['files']} files ({audit['bytes'] / 1e6:.1f} MB: job logs, output datasets, "
                  f"schema files, answer caches, exceptions): **{len(audit['leaks'])} leaks**. The report files are "
                  "scanned too.", ""]
    if "load" in report:
        lines += ["## Load", "",
                  markdown(["recipe", "rows", "concurrency", "HTTP calls", "answered", "lost", "rows/s",
                            "RSS at 10% (MB)", "RSS at end (MB)", "growth after warm-up (MB)"],
                           [[r["recipe"], r["rows"], r["concurrency"], r["http_calls"], r["outcome"]["answered"],
                             r["outcome"]["lost"], r["rows_per_s"], r["memory"].get("rss_mb_at_10pct"),
                             r["memory"].get("rss_mb_at_end"), r["memory"].get("growth_mb")]
                            for r in report["load"]["runs"]]),
                  "", "Rows per second depend on the machine's load at the time (the fault server runs on the same "
                  "machine); `make bench` measures throughput properly (see [bench/results](../../../bench/results)).",
                  ""]
    if report["problems"]:
        lines += ["## Failed checks", "", *[f"- {p}" for p in report["problems"]], ""]
    return "\n".join(lines)


def _oauth2_lines(cells: list[dict]) -> list[str]:
    """The OAuth2 cells: tokens issued and refused, and the token audit, beside the rows of the table above."""
    runs = [c for c in cells if c["kind"] == "oauth2"]
    if not runs:
        return []
    rows = [[c["recipe"], c["label"], c["oauth2"]["token_requests"], c["oauth2"]["tokens_issued"],
             c["oauth2"]["token_failures_injected"], c["oauth2"]["revoked_refused"] or 0,
             c["oauth2"]["token_audit"]["tokens"], len(c["oauth2"]["token_audit"]["leaks"]),
             "; ".join(c["problems"]) or "ok"] for c in runs]
    return ["OAuth2 client credentials against a real authorization server (npm oidc-provider) issuing 4-second "
            "tokens, the fault server checking each token's signature and expiry; every run lasts at least 6 s, so "
            "tokens are renewed during it. Faults are counted in requests: the token endpoint drops or fails "
            "5 requests (the preset allows 5 retries), the gateway revokes the token of one request, the client "
            "secret is refused from the start (the job stops after 10 failed requests, naming "
            "'oauth2_client_secret') or from the first renewal on (each later row gets an error naming it). Every "
            "access token issued is looked for in the job log, error, output, schema file and cache:", "",
            markdown(["recipe", "cell", "token requests", "tokens issued", "token endpoint failures",
                      "revoked-token 401s", "tokens audited", "leaks", "check"], rows), ""]


def _singles_table(cells: list[dict]) -> str:
    singles = [c for c in cells if c["kind"] == "rate" and c["label"] in faults.TRANSIENT]
    columns = sorted({(c["recipe"], c["rate"]) for c in singles}, key=lambda rc: (rc[0] != "prompt", rc[1]))
    by_key = {(c["label"], c["recipe"], c["rate"]): c for c in cells if c["kind"] == "rate"}
    rows = []
    for label in [*faults.TRANSIENT, *faults.PERMANENT]:
        row = [label]
        for recipe, rate in columns:
            cell = by_key.get((label, recipe, rate))
            row.append(f"{cell['answered']}/{cell['rows_in']}" if cell else "")
        rows.append(row)
    return markdown(["faults"] + [f"{recipe} {rate:.0%}" for recipe, rate in columns], rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and SUMMARY.md go")
    parser.add_argument("--bad-input-mode", choices=("inproc", "process"), default="inproc",
                        help="run the bad-input cases in this process (fast) or each in its own localdss process")
    parser.add_argument("--jobs", type=int, default=2, help="fault cells run at once (default 2)")
    parser.add_argument("--cells", default="", help="comma-separated words: only the fault cells whose name holds "
                                                    "one, e.g. --cells OAuth2 or --cells 'prompt: OAuth2,replica'")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose among {', '.join(SECTIONS)}")
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    started = time.monotonic()
    report: dict[str, Any] = {"meta": {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "sections": chosen,
        "fault_cells_at_once": args.jobs, "fault_cells_chosen": args.cells or "all",
        "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1), "python": platform.python_version()}}
    runners: dict[str, tuple[str, Callable[[], dict]]] = {
        "faults": ("faults", lambda: run_faults(work / "faults", args.quick, args.jobs,
                                                tuple(w.strip() for w in args.cells.split(",") if w.strip()))),
        "crash": ("crash", lambda: run_crash(work / "crash", args.quick)),
        "bad-input": ("bad_input", lambda: run_bad_input(work / "bad", args.quick, args.bad_input_mode)),
        "secrets": ("secrets", lambda: run_secrets(work / "secrets", args.quick)),
        "load": ("load", lambda: run_load(work / "load", args.quick)),
    }
    titles = {"faults": "Faults matrix", "crash": "Crash and resume (SIGKILL)", "bad-input": "Bad input",
              "secrets": "Secrets", "load": "Load"}
    try:
        for name in SECTIONS:
            if name in chosen:
                section(titles[name])
                key, runner = runners[name]
                begun = time.monotonic()
                report[key] = runner()
                report[key]["seconds"] = round(time.monotonic() - begun, 1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"working directory kept: {work}", file=sys.stderr)
    report["secret_audit"] = harness.AUDIT.as_dict()
    report["meta"]["seconds"] = round(time.monotonic() - started, 1)
    report["problems"] = problems_of(report)
    text = json.dumps(report, indent=1, ensure_ascii=False, default=str)
    summary = summary_markdown(report)
    leaked = harness.leaks(text) + harness.leaks(summary) + harness.RUN_SECRETS.find(text + summary)
    if leaked:  # never write a report that holds the key, nor an access token of its OAuth2 runs
        report["problems"].append("the report itself holds the key")
        print("the report holds the key or an access token; not written", file=sys.stderr)
        return 1
    report["meta"]["report_scanned_for_the_key"] = "clean"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n",
                                          encoding="utf-8")
    (args.out / "SUMMARY.md").write_text(summary + "\n", encoding="utf-8")
    section("Result")
    audit = report["secret_audit"]
    print(f"secret audit: {audit['texts']} texts, {audit['files']} files, {audit['bytes'] / 1e6:.1f} MB scanned, "
          f"{len(audit['leaks'])} leaks")
    print(f"{len(report['problems'])} failed checks" if report["problems"] else "all checks passed")
    for problem in report["problems"]:
        print(f"  - {problem}")
    print(f"wrote {args.out / 'latest.json'} and {args.out / 'SUMMARY.md'} in {report['meta']['seconds'] / 60:.1f} min")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
