"""The bad-input table (tests/reliability/bad_input.py): every wrong preset, parameter, template, schema, data
and server answer gets a clear error naming what is wrong, and before any request when it can be known before.

The cases run through localdss's own checks and the recipe's real entry point, in this process for speed
(``harness`` mode "inproc"); two of them also run as a user runs them, in their own process, with the same result.
"""
from __future__ import annotations

import pytest

from tests.reliability import bad_input

CASES = bad_input.CASES


def test_the_table_covers_every_kind_of_bad_input():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.group for c in CASES} == {"preset", "params", "template", "schema", "data", "server"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error(tmp_path, case):
    result = bad_input.run_case(case, tmp_path)
    assert result.problems == [], f"{result.ending}, {result.requests} requests: {result.message}"
    if case.before_request:
        assert result.requests == 0


@pytest.mark.parametrize("case_id", ["schema-unresolvable-ref", "preset-wrong-key"])
def test_the_same_in_a_localdss_process(tmp_path, case_id):
    case = next(c for c in CASES if c.id == case_id)
    result = bad_input.run_case(case, tmp_path, mode="process")
    assert result.problems == [], f"{result.ending}, {result.requests} requests: {result.message}"
