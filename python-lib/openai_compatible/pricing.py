"""Prices per model from the preset, and the estimated cost of a call.

A preset's optional ``prices`` field lists ``{"model", "input_per_million", "output_per_million"}``: what the
provider charges per million input (prompt) and output (completion) tokens, in the currency the admin chose
(DSS's cost tracking reads the LLM Mesh's ``estimatedCost`` in US dollars). The cost of a call is
``prompt_tokens * input / 1e6 + completion_tokens * output / 1e6``; a model without a price, or a call whose
provider reported no token counts, has no cost (None), never a made-up one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .errors import SettingsError
from .results import Usage

FIELD = "prices"


@dataclass(frozen=True)
class ModelPrice:
    """What one model costs, per million tokens."""

    model: str
    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, usage: Usage) -> Optional[float]:
        """The cost of a call with this ``usage``; None when the provider reported no token counts."""
        if usage.prompt_tokens is None and usage.completion_tokens is None:
            return None
        return ((usage.prompt_tokens or 0) * self.input_per_million
                + (usage.completion_tokens or 0) * self.output_per_million) / 1_000_000


def read_prices(raw: Any) -> tuple[ModelPrice, ...]:
    """The preset's ``prices`` list, validated (raises :class:`SettingsError` naming the entry and field)."""
    if raw in (None, "", []):
        return ()
    if not isinstance(raw, list):
        raise SettingsError(f"Preset field '{FIELD}' must be a list of {{model, input_per_million, "
                            "output_per_million}} entries.")
    prices: list[ModelPrice] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        where = f"{FIELD}[{index}]"
        if not isinstance(item, Mapping):
            raise SettingsError(f"Preset field '{where}' must be an object with model, input_per_million and "
                                "output_per_million.")
        model = str(item.get("model") or "").strip()
        if not model:
            raise SettingsError(f"Preset field '{where}.model' is empty: give the model ID (or Azure endpoint "
                                "name) this price is for.")
        if model in seen:
            raise SettingsError(f"Preset field '{where}.model': '{model}' has two prices; keep one.")
        seen.add(model)
        prices.append(ModelPrice(model, _price(item, "input_per_million", where),
                                 _price(item, "output_per_million", where)))
    return tuple(prices)


def _price(item: Mapping[str, Any], name: str, where: str) -> float:
    value = item.get(name)
    if value in (None, ""):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"Preset field '{where}.{name}' must be a number (a price per million tokens), "
                            f"not {value!r}.") from None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise SettingsError(f"Preset field '{where}.{name}' must be 0 or more, not {value!r}.")
    return number


def estimated_cost(prices: tuple[ModelPrice, ...], model: str, usage: Usage) -> Optional[float]:
    """The cost of one call to ``model`` (as the preset names it), or None without a price or token counts."""
    for price in prices:
        if price.model == model:
            return price.cost(usage)
    return None
