"""Dynamic choices for a component's ``model`` parameter (``paramsPythonSetup``): answered within a
few seconds even when the service is down.

DSS runs ``do()`` while the user edits the form, so the preset's retry policy and two-minute read
timeout do not apply: one attempt, short timeouts. When the list cannot be read, the form shows one
choice saying what is wrong (as Dataiku's own plugins do, e.g. the Office 365 plugin's "text
message" choices) instead of an empty list. The dataset form may hand ``do()`` its config wrapped
in ``config["config"]`` (Dataiku's osisoft plugin unwraps it in each of its dataset choice scripts).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from ..client import Client
from ..errors import SettingsError
from ..preset_fields import KEY_CHOICE_PARAM, PRESET_PARAMS
from .config import preset_from_config

log = logging.getLogger("openai_compatible")
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0


def _notice(text: str) -> dict:
    return {"choices": [{"value": "", "label": f"⚠ {text}"[:300]}]}


def form_config(config: Any) -> Mapping[str, Any]:
    """The component's params, unwrapped when DSS nests them under ``config``."""
    own = (KEY_CHOICE_PARAM, *PRESET_PARAMS.values())
    if isinstance(config, Mapping) and not any(k in config for k in own) and isinstance(config.get("config"), Mapping):
        return config["config"]
    return config if isinstance(config, Mapping) else {}


def model_choices(config: Any) -> dict:
    """Choices for a component's ``model`` parameter, as ``{"choices": [{"value", "label"}]}``: the preset's
    listed models, plus discovered ones when the preset allows discovery, or endpoints.

    Never raises: the form must render without a preset or when the provider is down (then the preset's own
    list, or a single readable notice saying what to fix)."""
    try:
        client = Client.from_preset(preset_from_config(form_config(config)))
    except SettingsError as exc:
        return _notice(f"Choose or fix the connection first: {exc}")
    fast = client.settings.with_overrides(max_retries=0, connect_timeout_s=min(client.settings.connect_timeout_s,
                                                                             CONNECT_TIMEOUT_S),
                                          read_timeout_s=min(client.settings.read_timeout_s, READ_TIMEOUT_S))
    client.close()
    with Client(fast) as quick:
        listed = quick.settings.listed_models()
        try:
            models = quick.models()
        except Exception as exc:  # the form must render even when the provider is down
            log.warning("Listing models failed: %s", exc)
            if listed:
                return {"choices": [{"value": m, "label": m} for m in listed]}
            return _notice(f"Could not list the models ({exc}). Check the service, or list the model IDs in "
                           "the preset.")
    if not models:
        return _notice("The connection offers no model: list model IDs in the preset (or endpoints, Azure "
                       "style).")
    return {"choices": [{"value": m, "label": m} for m in models]}
