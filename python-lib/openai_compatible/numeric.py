"""Numbers from DSS parameters and preset fields, checked and coerced once, with errors naming the field.

DSS hands INT parameters over as floats (``3.0``), and a form's number box may give text; both are
accepted when they hold a whole number.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .errors import SettingsError


def whole_number(value: Any, what: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """``value`` as an int within ``[minimum, maximum]`` (either bound may be None).

    ``what`` names the field in errors, e.g. ``"Parameter 'rows'"``. Accepts ints, integral floats
    (``3.0``) and their text; refuses booleans, NaN and fractions. Raises :class:`SettingsError`.
    """
    if isinstance(value, bool):
        raise SettingsError(f"{what} must be a whole number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a whole number, not {value!r}.") from None
    if not math.isfinite(number) or not number.is_integer():
        raise SettingsError(f"{what} must be a whole number, not {value!r}.")
    _check_bounds(number, what, minimum, maximum)
    return int(number)


def bounded_number(value: Any, what: str, minimum: Optional[float] = None,
                   maximum: Optional[float] = None) -> float:
    """``value`` as a float within ``[minimum, maximum]`` (either bound may be None); refuses booleans
    and NaN. Raises :class:`SettingsError` naming ``what``."""
    if isinstance(value, bool):
        raise SettingsError(f"{what} must be a number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a number, not {value!r}.") from None
    if math.isnan(number):
        raise SettingsError(f"{what} must be a number, not {value!r}.")
    _check_bounds(number, what, minimum, maximum)
    return number


def _check_bounds(number: float, what: str, minimum: Optional[float], maximum: Optional[float]) -> None:
    too_low = minimum is not None and number < minimum
    too_high = maximum is not None and number > maximum
    if not (too_low or too_high):
        return
    if minimum is not None and maximum is not None:
        bound = f"between {_shown(minimum)} and {_shown(maximum)}"
    else:
        bound = f"at least {_shown(minimum)}" if minimum is not None else f"at most {_shown(maximum)}"
    raise SettingsError(f"{what} must be {bound}, not {_shown(number)}.")


def _shown(number: Any) -> str:
    """A bound or value as a person writes it: 1000000 (not 1e+06), 0.1, 2."""
    number = float(number)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"
