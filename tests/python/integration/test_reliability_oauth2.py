"""The OAuth2 cells of ``make reliability``, small: the prompt recipe (``python -m localdss``, as a user runs it) with
an ``oauth2_client_credentials`` preset against a real authorization server (npm oidc-provider) issuing 4-second
tokens, renewed during the run, and the fault server checking each one. The token endpoint down for 5 requests or
failing a renewal, a revoked token, a refused secret: no row lost, and no token or secret in anything the run leaves.
"""
from __future__ import annotations

import pytest

from tests.reliability import faults, oauth2
from tests.reliability import harness as h

CELLS = faults.oauth2_cells("prompt", 40)  # 40 rows: more than the 10 failed requests that stop a job


@pytest.mark.parametrize("cell", CELLS, ids=[c.modes[0] for c in CELLS])
def test_oauth2_faults_cost_no_row_and_leak_no_token(tmp_path, cell):
    result = faults.run_cell(cell, tmp_path, index=CELLS.index(cell))
    scenario, figures = cell.modes[0], result["oauth2"]
    assert result["problems"] == [], result
    assert result["wrong"] == 0 and result["rows_out"] in (0, cell.rows)
    assert figures["token_audit"]["leaks"] == [] and figures["token_audit"]["files"] >= 3
    assert figures["token_audit"]["tokens"] == figures["tokens_issued"]
    if scenario in oauth2.MUST_ANSWER_ALL:
        assert result["answered"] == cell.rows and result["lost"] == 0
        assert figures["tokens_issued"] >= 2  # renewed during the run
    if scenario in ("endpoint-down", "endpoint-503"):
        assert figures["token_failures_injected"] == oauth2.FAILED_TOKEN_REQUESTS
        assert result["retries"] >= 1
    if scenario == "revoked":
        assert figures["revoked_refused"] >= 1 and figures["refused_rows_resent_once"]
        assert figures["api_calls"] == cell.rows + figures["revoked_refused"]  # each refused request sent once more
    if scenario == "secret-refused":
        assert result["job"] == "failed" and result["lost"] is None  # the job stops: the user sees why
        assert "Stopping the job" in result["job_error"] and "'oauth2_client_secret'" in result["job_error"]
        assert figures["api_calls"] == 0 and figures["tokens_issued"] == 0
        assert figures["token_requests"] <= oauth2.STOP_AFTER + oauth2.CONCURRENCY - 1
    if scenario == "secret-rotated":
        assert result["job"] == "ok" and result["lost"] == 0
        assert result["answered"] >= 1 and result["answered"] + result["errors"] == cell.rows
        assert set(result["errors_by_type"]) == {"authentication"}


def test_the_token_audit_finds_a_leaked_token(tmp_path):
    """The audit would see a leak: a piece of a token or the secret's Basic form written where a run writes."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkc3MifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1xd2VydHl1aW9w"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "answers.jsonl").write_text(f'{{"error": "Bearer {token[-15:]}"}}\n')
    run = h.RunResult(0, f"sent Basic {h.basic_credentials(oauth2.CLIENT_ID, h.CANARY)}", "", 0.0,
                      tmp_path / "out.csv")
    found = oauth2.audit(run, tmp_path, [token])
    assert found["leaks"] == ["client secret (HTTP Basic form) in the job log", "access token 1 in cache/answers.jsonl"]
    clean = oauth2.audit(h.RunResult(0, "Bearer ***", "", 0.0, tmp_path / "out.csv"), tmp_path / "cache", [token])
    assert clean["leaks"] == ["access token 1 in answers.jsonl"]  # the file is still there; the log is clean
    assert oauth2.audit(h.RunResult(0, "", "", 0.0, tmp_path / "x.csv"), tmp_path / "none", [token])["leaks"] == []


def test_a_secret_set_reports_what_leaked_never_the_fragment():
    secrets = h.SecretSet()
    secrets.add("abcdefghijklmnopqrstuvwxyz0123456789", "token A", stride=4)
    assert secrets.find("... mnopqrstuvwxyz0 ...") == ["token A"]  # 15 characters are enough with stride 4
    assert secrets.find("... abcdefghijk ...") == []  # 11 characters say nothing
    assert "mnop" not in " ".join(secrets.find("mnopqrstuvwxyz0123"))
