"""A small faults matrix through the prompt and embed recipes (``python -m localdss``, as a user runs them): random
transient faults of every kind, mixed, at 1%, 5% and 30%. No row is ever lost or given another row's answer, and
at 5% every row ends answered. A provider that refuses connections stops the job after a few requests; a provider
that restarts mid-run costs nothing but retries. ``make reliability`` runs the full matrix."""
from __future__ import annotations

import pytest

from tests.reliability import faults
from tests.reliability import harness as h
from tests.servers.fault_server import FaultServer, when_numbered, when_route

CELLS = [
    faults.Cell("prompt", "all transient, mixed", faults.MIXED, 0.01, 150),
    faults.Cell("prompt", "all transient, mixed", faults.MIXED, 0.05, 150),
    faults.Cell("prompt", "all transient, mixed", faults.MIXED, 0.30, 150),
    faults.Cell("embed", "all transient, mixed", faults.MIXED, 0.05, 240),
    faults.Cell("embed", "all transient, mixed", faults.MIXED, 0.30, 240),
    faults.Cell("prompt", "refused: closed loopback port", [], 1.0, 40, kind="refused"),
    faults.Cell("embed", faults.RESTART_LABEL, [], 0.0, 240, kind="restart"),
    faults.Cell("prompt", faults.REPLICA_LABEL, [], 0.0, 150, kind="replica"),
]


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_faults_cost_no_row(tmp_path, cell):
    result = faults.run_cell(cell, tmp_path, index=CELLS.index(cell))
    assert result["problems"] == [], result
    assert result["wrong"] == 0
    if cell.kind == "refused":
        assert result["job"] == "failed" and "connection refused" in result["job_error"]
        return
    assert result["lost"] == 0
    assert result["rows_out"] == result["rows_in"] == cell.rows
    if cell.kind == "rate" and cell.rate >= 0.05:
        assert result["injected"] > 0, "the cell must actually inject faults"
    if cell.must_answer_all:
        assert result["answered"] == cell.rows, result["errors_by_type"]


def test_the_provider_is_not_abandoned_once_it_has_answered(tmp_path):
    """Provider-wide errors after the first answers are row errors: the job goes on (and a rerun fixes them)."""
    rows = h.numbered_rows(60)
    with FaultServer() as server:
        preset = h.preset_for(server, max_retries=0, max_concurrency=1)
        # the first 5 requests answer, then every one is refused with 401 (the key was revoked mid-run)
        server.add_rule("401", lambda req: when_route("chat")(req) and when_numbered(6)(req))
        result = h.run_recipe("prompt", tmp_path, h.recipe_config("prompt"), preset,
                              h.write_csv(tmp_path / "in.csv", rows), mode="inproc")
    assert result.returncode == 0, result.error
    figures = h.outcome("prompt", rows, h.read_csv(result.output))
    assert figures.lost == 0 and figures.answered == 5 and figures.errors == {"authentication": 55}
