"""Numbers from DSS parameters and preset fields: one rule for whole numbers and bounded numbers."""
import pytest
from openai_compatible.dss import optional_float, optional_int
from openai_compatible.errors import SettingsError
from openai_compatible.numeric import bounded_number, whole_number


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), ("4", 4), ("5.0", 5), (-2, -2)])
def test_whole_numbers_accept_what_dss_sends(value, expected):
    assert whole_number(value, "Parameter 'n'") == expected


@pytest.mark.parametrize("value", [2.5, "many", None, True, float("nan"), float("inf"), [1]])
def test_anything_else_is_not_a_whole_number(value):
    with pytest.raises(SettingsError, match=r"^Parameter 'n' must be a whole number, not "):
        whole_number(value, "Parameter 'n'")


@pytest.mark.parametrize("minimum, maximum, value, message", [
    (1, None, 0, "Parameter 'n' must be at least 1, not 0."),
    (1, 1000000, 1000001, "Parameter 'n' must be between 1 and 1000000, not 1000001."),
    (None, 10, 11.0, "Parameter 'n' must be at most 10, not 11."),
])
def test_bounds_are_named_in_the_error(minimum, maximum, value, message):
    with pytest.raises(SettingsError) as caught:
        whole_number(value, "Parameter 'n'", minimum, maximum)
    assert str(caught.value) == message
    edge = minimum if minimum is not None else maximum
    assert whole_number(edge, "Parameter 'n'", minimum, maximum) == edge  # bounds are inclusive


def test_bounded_numbers():
    assert bounded_number("0.5", "Preset field 'x'", 0.0, 1.0) == 0.5
    with pytest.raises(SettingsError, match=r"must be between 0 and 2, not 2\.5\.$"):
        bounded_number(2.5, "Parameter 't'", 0.0, 2.0)
    with pytest.raises(SettingsError, match="must be at least 0.1, not 0"):
        bounded_number(0, "Preset field 'connect_timeout_s'", 0.1)
    for bad in ("warm", True, float("nan")):
        with pytest.raises(SettingsError, match="must be a number"):
            bounded_number(bad, "Parameter 't'")


def test_dss_parameters_treat_unset_values_as_none():
    config = {"a": None, "b": "", "c": 0, "d": 0.0, "e": 8.0, "t": 0.7}
    assert [optional_int(config, k) for k in "abcde"] == [None, None, None, None, 8]
    assert optional_int(config, "missing") is None
    assert optional_float(config, "t", 0.0, 2.0) == 0.7 and optional_float(config, "b", 0.0, 2.0) is None
    with pytest.raises(SettingsError, match="Parameter 'e' must be at least 10, not 8"):
        optional_int(config, "e", 10)
