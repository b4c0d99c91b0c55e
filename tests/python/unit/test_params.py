"""Reading DSS parameter values: one integer coercion for the preset, the recipes' forms and the generate task."""

import math

import pytest
from openai_compatible import SettingsError
from openai_compatible.dss import optional_int
from openai_compatible.numeric import whole_number
from openai_compatible.params import clean_secret
from openai_compatible.tasks.generate import GenerateSpec, GenerateTask

SCHEMA = '{"type": "object", "properties": {"name": {"type": "string"}}}'


@pytest.mark.parametrize(("value", "expect"), [(8, 8), (8.0, 8), ("8", 8), ("8.0", 8), (0, 0), (1e3, 1000)])
def test_whole_numbers_as_dss_and_dicts_hand_them(value, expect):
    assert whole_number(value, "Parameter 'n'") == expect


@pytest.mark.parametrize("value", [2.5, "2.5", "many", True, False, None, math.nan, math.inf, [1]])
def test_what_is_not_a_whole_number_is_named(value):
    with pytest.raises(SettingsError, match=r"^Parameter 'n' must be a whole number, not "):
        whole_number(value, "Parameter 'n'")


def test_bounds():
    assert whole_number(1, "Parameter 'n'", 1, 3) == 1 and whole_number(3, "Parameter 'n'", 1, 3) == 3
    with pytest.raises(SettingsError, match="'n' must be between 1 and 3, not 4"):
        whole_number(4.0, "Parameter 'n'", 1, 3)
    with pytest.raises(SettingsError, match="'n' must be at least 1, not 0"):
        whole_number(0, "Parameter 'n'", 1)


def test_the_recipe_forms_and_the_generate_task_share_it():
    assert optional_int({"batch_size": 16.0}, "batch_size", 1) == 16
    assert optional_int({"batch_size": ""}, "batch_size", 1) is None  # unset, as DSS sends it
    with pytest.raises(SettingsError, match="'batch_size' must be a whole number, not 2.5"):
        optional_int({"batch_size": 2.5}, "batch_size", 1)
    with pytest.raises(SettingsError, match="'rows' must be a whole number, not 2.5"):
        GenerateTask(GenerateSpec(model="m", prompt="people", row_schema=SCHEMA, rows=2.5))


def test_clean_secret_never_shows_the_value():
    assert clean_secret(" sk-1 \n", "api_key") == "sk-1"
    assert clean_secret("  ", "api_key") is None and clean_secret(None, "api_key") is None
    with pytest.raises(SettingsError) as info:
        clean_secret("sk-VALUE\x0bzz", "api_key")
    assert "'api_key'" in str(info.value) and "VALUE" not in str(info.value)


@pytest.mark.parametrize(("preset_limits", "asked", "expect", "logged"), [
    ({"max_concurrency": 4}, 50, (4, 256), True),
    ({"max_concurrency": 4}, 2, (2, 256), False),
    ({"max_concurrency": 0, "concurrency_upper_bound": 32}, 64, (0, 32), True),
    ({"max_concurrency": 0, "concurrency_upper_bound": 32}, 8, (0, 8), False),
])
def test_a_components_concurrency_only_lowers_the_presets_and_says_when_it_cannot_raise_it(
        caplog, preset_limits, asked, expect, logged):
    import logging

    from openai_compatible.dss.config import client_for

    preset = {"base_url": "https://llm.example/v1", "models": ["m"], "api_key": "sk-x", **preset_limits}
    with caplog.at_level(logging.INFO, logger="openai_compatible"):
        with client_for({"connection": preset, "max_concurrency": asked}) as client:
            assert (client.settings.max_concurrency, client.settings.concurrency_upper_bound) == expect
    said = [r.getMessage() for r in caplog.records if "is above the preset's" in r.getMessage()]
    assert bool(said) == logged
    if logged:
        assert f"max_concurrency ({asked})" in said[0]
