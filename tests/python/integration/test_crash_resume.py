"""Crash and resume: recipe runs with a cache folder killed with SIGKILL at random points, then rerun to the end.
No row lost, no answer already in the cache requested again (the fault server's record proves it), and the output
identical to a clean run's. ``make reliability`` kills more often, on larger inputs."""
from __future__ import annotations

import pytest

from tests.reliability import crash


@pytest.mark.parametrize("recipe, rows, kills, seed", [
    ("prompt", 240, ["mid", "late"], 3),
    ("embed", 320, ["mid"], 5),
])
def test_killed_runs_resume_without_paying_twice(tmp_path, recipe, rows, kills, seed):
    result = crash.crash_and_resume(recipe, rows, kills, tmp_path, seed=seed)
    assert result["problems"] == [], result
    assert all(a["killed"] for a in result["attempts"][:-1])
    assert result["resent_after_commit"] == 0
    assert result["identical_to_clean_run"]
    assert result["outcome"]["lost"] == 0 and result["outcome"]["answered"] == rows
    # the final run only sent what was still missing from the cache
    final = result["attempts"][-1]
    assert final["texts_sent"] <= result["distinct_texts"] - final["committed_before"]
