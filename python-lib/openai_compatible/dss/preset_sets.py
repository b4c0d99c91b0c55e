"""The two connection parameter sets (shared key, per-user keys): which one a component chose, and a preset of
either as the flat settings dict python-lib reads.

DSS asks every user for a personal credential for every preset of a parameter set that declares a
CREDENTIAL_REQUEST (DSS docs, plugins/reference/params.rst, "Credential requests"), so the per-user key has a
set of its own, and a component offers one PRESET parameter per set, chosen by a SELECT (the pattern of
Dataiku's api-connect plugin, python-connectors/api-connect_dataset/connector.json).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..errors import SettingsError
from ..preset_fields import KEY_CHOICE_PARAM, KEY_CHOICES, PER_USER_KEY_SET, PRESET_PARAMS, SHARED_KEY_SET
from ..settings import safe_url

SET_LABELS = {SHARED_KEY_SET: "OpenAI-compatible connection",
              PER_USER_KEY_SET: "OpenAI-compatible connection, per-user keys"}


def chosen_set(config: Mapping[str, Any]) -> tuple[str, str]:
    """``(PRESET parameter name, parameter set id)`` that the component's ``connection_keys`` SELECT chooses:
    the shared-key set when it is unset (configs saved before the choice existed). Raises
    :class:`SettingsError` for a value that is not a choice."""
    choice = config.get(KEY_CHOICE_PARAM) or KEY_CHOICES[0]
    if choice not in KEY_CHOICES:
        raise SettingsError(f"Parameter '{KEY_CHOICE_PARAM}' is '{choice}': choose one of {', '.join(KEY_CHOICES)}.")
    set_id = PER_USER_KEY_SET if choice == "per_user" else SHARED_KEY_SET
    return PRESET_PARAMS[set_id], set_id


def settings_dict(preset: Mapping[str, Any], set_id: str, name: Optional[str] = None,
                  where: str = "") -> dict:
    """The preset ``preset`` of parameter set ``set_id`` as the dict :class:`ConnectionSettings` reads.

    A per-user-key preset gets ``use_per_user_key`` on (its set has no such field: every key is the user's). A
    shared-key preset saved before the sets were split may still have ``use_per_user_key`` on: DSS no longer
    gives it a per-user credential, and sending the shared key instead would act under the wrong identity, so
    this raises :class:`SettingsError` saying how to move it, before any request. ``name`` (when known: DSS hands
    a component the preset's values, not its name) and ``where`` (e.g. "chosen in parameter 'connection'") name it.
    """
    config = dict(preset)
    if set_id == PER_USER_KEY_SET:
        config["use_per_user_key"] = True
        return config
    if _truthy(config.get("use_per_user_key")):
        raise SettingsError(retired_per_user_message(config, name, where))
    return config


def retired_per_user_message(config: Mapping[str, Any], name: Optional[str], where: str) -> str:
    """The error for a shared-key preset that still asks for per-user keys."""
    url = config.get("base_url") if config.get("style") != "azure" else config.get("target_uri")
    details = [where] if where else []
    details += [f"service {safe_url(url)}"] if isinstance(url, str) and url.strip() else []
    which = (f"The preset '{name}'" if name else "The preset") + (f" ({'; '.join(details)})" if details else "")
    return (f"{which} is an '{SET_LABELS[SHARED_KEY_SET]}' preset with 'Per-user keys (retired)' "
            "(use_per_user_key) ticked. That set no longer takes per-user keys, because DSS asked every user for "
            "a key on each of its presets, shared-key ones included; nothing was sent. An admin recreates the "
            f"preset in '{SET_LABELS[PER_USER_KEY_SET]}' (plugin settings, instance level), each user enters their "
            "key for it in Profile & Settings > Credentials, and the component sets 'Keys' to 'Per-user key' "
            f"('{KEY_CHOICE_PARAM}': 'per_user'). Or untick the box to use the preset's shared API key.")


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
