"""The faults matrix: each failure mode of the fault server, alone and mixed, at rates from 1% to 30%, through the
prompt and embed recipes (``python -m localdss``), plus a provider that refuses connections or restarts mid-run.

The provider restart is keyed on request numbers, not on time: the fault server drops the requests numbered
from a third of the run on, ``RESTART_REQUESTS`` of them, however fast or slow the machine runs the job.

The recipes send plain (non-streamed) requests: the fault server's ``stream-cut`` mode then cuts the body half-way
through its announced length, which is how a truncated answer looks to them. ``slow-2`` answers after 2 s while
the preset's read timeout is 1 s: a stalled provider.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.reliability import harness as h
from tests.reliability import oauth2
from tests.servers.fault_server import FaultServer

# label -> fault-server modes; transient ones are retried by the client and must end answered
TRANSIENT: dict[str, list[str]] = {
    "429 + Retry-After": ["429"],
    "429, no hint": ["429-none"],
    "500": ["500"],
    "502 HTML / 503": ["502-html", "503"],
    "connection reset": ["reset"],
    "malformed JSON": ["malformed"],
    "truncated body": ["stream-cut"],
    "empty 200": ["empty-200"],
    "error inside 200": ["error-200"],
    "slow (> read timeout)": ["slow-2"],
}
MIXED = [mode for modes in TRANSIENT.values() for mode in modes]
PERMANENT: dict[str, list[str]] = {  # not worth retrying: the row gets the provider's error at once
    "400 bad request": ["400"],
    "context length": ["context-length"],
    "content filtered": ["filtered"],
}
SCHEMES = list(h.AUTH_SCHEMES)
# requests lost while the provider restarts; the cell's preset allows as many retries, so a row whose every
# attempt lands in the outage still gets its answer on the last one
RESTART_REQUESTS = 5
RESTART_LABEL = f"provider restarts mid-run ({RESTART_REQUESTS} requests dropped)"
# two replicas behind one preset; from a third of the run on, the first one drops every request it gets, as a dead
# server behind a load balancer's port does: the job must finish on the other replica
REPLICA_LABEL = "one of two replicas dies mid-run"
MATRIX_TIMEOUT = 600


@dataclass
class Cell:
    recipe: str
    label: str
    modes: list[str]
    rate: float
    rows: int
    transient: bool = True
    kind: str = "rate"  # rate | refused | restart | replica | oauth2 (modes: [the scenario of oauth2.SCENARIOS])
    results: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        rate = f" @ {self.rate:.0%}" if self.kind == "rate" else ""
        return f"{self.recipe}: {self.label}{rate}"

    @property
    def must_answer_all(self) -> bool:
        if self.kind == "oauth2":
            return self.modes[0] in oauth2.MUST_ANSWER_ALL
        return self.kind in ("restart", "replica") or (self.kind == "rate" and self.transient and self.rate <= 0.05)


def cells(quick: bool = False, recipes: tuple = ("prompt", "embed")) -> list[Cell]:
    """The matrix. Full: each mode alone at 5% and 30%, every transient mode mixed at 1-30%, permanent errors at
    5%, a refused port and a restart. Quick: fewer rates and rows."""
    out: list[Cell] = []
    for recipe in recipes:
        rows = (120 if recipe == "prompt" else 240) if quick else (200 if recipe == "prompt" else 400)
        for rate in ((0.05,) if quick else (0.05, 0.30)):
            for label, modes in TRANSIENT.items():
                out.append(Cell(recipe, label, modes, rate, rows))
        for rate in ((0.05, 0.30) if quick else (0.01, 0.05, 0.10, 0.20, 0.30)):
            out.append(Cell(recipe, "all transient, mixed", MIXED, rate, rows))
        if not quick:
            for label, modes in PERMANENT.items():
                if recipe == "embed" and label == "content filtered":
                    continue  # a chat-only answer
                out.append(Cell(recipe, label, modes, 0.05, rows, transient=False))
        # enough rows for more than 10 requests: the job must stop after its first 10 failed requests
        out.append(Cell(recipe, "refused: closed loopback port", [], 1.0, 40 if recipe == "prompt" else 160,
                        kind="refused"))
        out.append(Cell(recipe, RESTART_LABEL, [], 0.0, rows, kind="restart"))
        out.append(Cell(recipe, REPLICA_LABEL, [], 0.0, rows, kind="replica"))
        out += oauth2_cells(recipe, rows)
    return out


def oauth2_cells(recipe: str, rows: int) -> list[Cell]:
    """A preset with OAuth2 client credentials against a real authorization server (tests/reliability/oauth2.py);
    the refused-secret cell has more rows than the 10 failed requests that stop a job."""
    return [Cell(recipe, label, [scenario], 0.0, rows, kind="oauth2") for scenario, label in oauth2.SCENARIOS.items()]


def run_cell(cell: Cell, work: Path, index: int = 0) -> dict:
    """Runs one cell in a new localdss process and returns its figures."""
    if cell.kind == "oauth2":
        return _run_oauth2_cell(cell, work, index)
    work.mkdir(parents=True, exist_ok=True)
    rows = h.numbered_rows(cell.rows, tag=f"{cell.recipe} {index}")
    source = h.write_csv(work / "in.csv", rows)
    scheme = SCHEMES[index % len(SCHEMES)]
    config = h.recipe_config(cell.recipe, **({"batch_size": 4} if cell.recipe == "embed" else {}))
    server = FaultServer(record=False).start()
    server.require_auth(h.CANARY, h.AUTH_SCHEMES[scheme][1])
    preset = h.preset_for(server, scheme, require=False, read_timeout_s=1, max_concurrency=8)
    other = None
    try:
        if cell.kind == "rate":
            server.set_fault_rate(cell.rate, cell.modes, seed=index + 1)
        elif cell.kind == "refused":
            server.stop()
            preset = dict(preset, base_url=f"http://127.0.0.1:{h.closed_port()}/v1", max_retries=2)
        else:
            batch = 1 if cell.recipe == "prompt" else int(config["batch_size"])
            server.down(first=max(1, cell.rows // batch // 3), count=RESTART_REQUESTS)
            preset = dict(preset, max_retries=RESTART_REQUESTS)
        if cell.kind == "replica":
            other = FaultServer(record=False).start()
            other.require_auth(h.CANARY, h.AUTH_SCHEMES[scheme][1])
            preset = dict(preset, replica_urls=[other.url])
            server.down(first=max(1, cell.rows // (1 if cell.recipe == "prompt" else int(config["batch_size"])) // 6),
                        count=10 ** 9)  # about a third of the run's requests: half of them go to this replica
        result = h.run_recipe(cell.recipe, work, config, preset, source, timeout=MATRIX_TIMEOUT)
    finally:
        server.stop()
        if other is not None:
            other.stop()
    calls = server.calls + (other.calls if other is not None else 0)
    injected = {label: count for label, count in server.injected.items() if label != "auth"}
    figures = _figures(cell, rows, result, h.read_csv(result.output), calls, injected, scheme)
    figures["problems"] = _problems(cell, figures)
    return figures


def _run_oauth2_cell(cell: Cell, work: Path, index: int) -> dict:
    run = oauth2.run(cell.recipe, cell.modes[0], cell.rows, work, index, timeout=MATRIX_TIMEOUT)
    # refusals of tokens that expired on their way are renewals, not faults the cell injected
    injected = {label: count for label, count in run.injected.items() if label != "jwt"}
    figures = _figures(cell, run.rows, run.result, run.output, run.calls, injected, "oauth2_client_credentials")
    figures["oauth2"] = run.figures
    figures["problems"] = oauth2.problems(cell.modes[0], figures, run) + (
        [f"{figures['wrong']} rows answered with another row's answer"] if figures["wrong"] else [])
    return figures


def _figures(cell: Cell, rows: list[dict], result: h.RunResult, output: list[dict], calls: int,
             injected: dict, scheme: str) -> dict:
    figures = h.outcome(cell.recipe, rows, output).as_dict()
    job_failed = result.returncode != 0
    if job_failed:
        figures["lost"] = None  # a failed job loses nothing silently: the user sees the failure
    figures.update({
        "recipe": cell.recipe, "label": cell.label, "modes": cell.modes, "rate": cell.rate, "kind": cell.kind,
        "auth": scheme, "job": "failed" if job_failed else "ok", "job_error": result.error[:600],
        "http_calls": calls, "calls_per_row": round(calls / max(1, cell.rows), 3), "injected": sum(injected.values()),
        "injected_by_mode": injected, "retries": result.summary().get("retries"),
        "rate_limited": result.summary().get("rate_limited"), "wall_s": round(result.seconds, 2),
        "engine_s": result.engine_seconds(),
        "restarted": injected.get("down", 0) == RESTART_REQUESTS if cell.kind == "restart" else None,
    })
    return figures


def _problems(cell: Cell, f: dict) -> list[str]:
    problems = []
    if f["wrong"]:
        problems.append(f"{f['wrong']} rows answered with another row's answer")
    if cell.kind == "refused":
        if f["job"] != "failed" or "Stopping the job" not in f["job_error"]:
            problems.append("a refused connection should stop the job after a few requests")
        return problems
    if f["job"] != "ok":
        problems.append(f"the job failed: {f['job_error']}")
    if f["lost"]:
        problems.append(f"{f['lost']} rows lost")
    if cell.must_answer_all and f["answered"] != f["rows_in"]:
        problems.append(f"{f['rows_in'] - f['answered']} rows not answered ({f['errors_by_type']})")
    if cell.kind == "restart" and not f["restarted"]:
        problems.append(f"the provider did not drop {RESTART_REQUESTS} requests during the run")
    if cell.kind == "replica" and not f["injected_by_mode"].get("down"):
        problems.append("the replica did not die during the run")
    return problems


def summarise(results: list[dict]) -> dict:
    return {"cells": len(results), "rows": sum(r["rows_in"] for r in results),
            "lost": sum(r["lost"] or 0 for r in results), "wrong": sum(r["wrong"] for r in results),
            "cells_with_problems": [f"{r['recipe']}: {r['label']} @ {r['rate']:.0%}" for r in results if r["problems"]]}


def as_row(result: dict) -> Optional[list]:
    rate = f"{result['rate']:.0%}" if result["kind"] == "rate" else "-"
    lost = "job stopped" if result["lost"] is None else result["lost"]
    errors = ", ".join(f"{k} {v}" for k, v in result["errors_by_type"].items()) or "0"
    return [result["recipe"], result["label"], rate, result["rows_in"], result["answered"], errors, lost,
            result["injected"], f"{result['calls_per_row']:.2f}", result["retries"], f"{result['wall_s']:.1f}",
            "-" if result["engine_s"] is None else f"{result['engine_s']:.1f}", "; ".join(result["problems"]) or "ok"]


HEADER = ["recipe", "faults", "rate", "rows", "answered", "errors", "lost", "injected", "calls/row", "retries",
          "job s", "engine s", "check"]
