"""Dynamic choices of the components' forms: the models of the chosen connection preset."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from ..client import Client
from ..errors import SettingsError
from .config import preset_from_config

log = logging.getLogger("openai_compatible")


def model_choices(config: Mapping[str, Any]) -> dict:
    """Choices for a component's ``model`` parameter: the chosen preset's models (plus the discovered
    ones when the preset allows it) or endpoints, as ``{"choices": [{"value", "label"}]}``.

    Never raises: the form must render even without a preset or when the provider is down (then the
    preset's own list, or one choice saying what to fix).
    """
    try:
        client = Client.from_preset(preset_from_config(config))
    except SettingsError as exc:
        return {"choices": [{"value": "", "label": f"Choose or fix the connection first: {exc}"}]}
    with client:
        try:
            models = client.models()
        except Exception as exc:
            models = client.settings.listed_models()
            log.warning("Listing models failed: %s", exc)
    return {"choices": [{"value": m, "label": m} for m in models]}
