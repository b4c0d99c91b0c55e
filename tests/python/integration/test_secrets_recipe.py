"""Recipe-level secrets: with the key under every authentication scheme (in the URL with query-parameter auth) and a
provider failing in every way and echoing the key back, the key is in no job log (DEBUG included), output dataset,
schema file, answer cache, exception or traceback. tests/python/integration/test_secrets.py covers the client's
own failure paths; this covers what a recipe leaves behind."""
from __future__ import annotations

import pytest

from tests.reliability import harness as h
from tests.reliability import secret_checks

SCENARIOS = secret_checks.SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_key_is_in_nothing_a_recipe_leaves(tmp_path, scenario):
    result = secret_checks.run_scenario(scenario, tmp_path)
    assert secret_checks.problems(result, scenario) == []
    assert result["leaks"] == []
    assert result["requests_carrying_key"] > 0
    assert result["files"] >= 3  # the output dataset, its schema file and the answer cache were scanned


def test_the_echoed_key_is_masked_where_the_user_reads_the_error(tmp_path):
    """The provider's words stay useful: the key is replaced by *** in the row's error, not the whole message."""
    scenario = secret_checks.Scenario("query_param", scheme="query_param")
    secret_checks.run_scenario(scenario, tmp_path)
    rows = {r["text"]: r for r in h.read_csv(tmp_path / "out.csv")}
    assert "is not allowed for this model" in rows["ECHO-400 row"]["llm_error_message"]
    assert "key=***" in rows["ECHO-400 row"]["llm_error_message"]
    assert "Bearer ***" in rows["ECHO-HTML row"]["llm_error_message"]


def test_the_canary_detector_finds_a_key_cut_in_two():
    assert h.leaks(f"... {h.CANARY[:len(h.CANARY_PREFIX) + 4]}") and h.leaks(f"{h.CANARY[-13:]} ...")
    assert h.leaks(h.CANARY.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D"))  # as a URL carries it
    assert not h.leaks(f"masked: {h.CANARY_PREFIX}***")
