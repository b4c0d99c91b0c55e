"""A component's config: its connection preset (of either parameter set), its number parameters, and a client with the
component's own lower limits."""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

from ..client import Client
from ..errors import SettingsError
from ..numeric import bounded_number, whole_number
from ..preset_fields import SHARED_KEY_SET
from .preset_sets import SET_LABELS, chosen_set, settings_dict

log = logging.getLogger("openai_compatible")


def preset_from_config(config: Mapping[str, Any]) -> dict:
    """The resolved preset the component's config chooses (the ``connection`` PRESET parameter, or
    ``connection_per_user`` when ``connection_keys`` is ``per_user``), as the dict python-lib reads.

    Raises :class:`SettingsError` when no preset is chosen, or for a shared-key preset that still asks for
    per-user keys (see :func:`.preset_sets.settings_dict`)."""
    name, set_id = chosen_set(config)
    preset = config.get(name)
    if not preset:
        raise SettingsError(f"Parameter '{name}' is empty: choose an '{SET_LABELS[set_id]}' preset "
                            + ("(an admin defines presets in the plugin's settings, or a project admin in the "
                               "project's plugin presets)." if set_id == SHARED_KEY_SET else
                               "(an admin defines them in the plugin's settings; each user then enters their key "
                               "in Profile & Settings > Credentials)."))
    if not isinstance(preset, Mapping):
        raise SettingsError(f"Parameter '{name}' must be a preset, not {type(preset).__name__}.")
    return settings_dict(preset, set_id, where=f"chosen in parameter '{name}'")


def optional_int(config: Mapping[str, Any], name: str, minimum: int = 0) -> Optional[int]:
    """An INT parameter of at least ``minimum``, None when unset (DSS sends unset INTs as None, '' or 0,
    and INTs as floats). Raises :class:`SettingsError` naming the parameter."""
    value = config.get(name)
    if value in (None, "", 0, 0.0):
        return None
    return whole_number(value, f"Parameter '{name}'", minimum=minimum)


def optional_float(config: Mapping[str, Any], name: str, low: float, high: float) -> Optional[float]:
    """A DOUBLE parameter within [low, high], None when unset."""
    value = config.get(name)
    if value in (None, ""):
        return None
    return bounded_number(value, f"Parameter '{name}'", low, high)


def client_for(config: Mapping[str, Any]) -> Client:
    """A client for the component's preset, with the component's lower limits applied
    (``max_concurrency`` and ``requests_per_minute`` only ever lower the preset's).

    Raises :class:`SettingsError` for a missing preset, or a CA bundle or client certificate file
    that does not exist on this machine (else every row would fail on it, one request at a time).
    """
    client = Client.from_preset(preset_from_config(config))
    s = client.settings
    for field, path in (("ca_bundle", s.ca_bundle if s.verify_tls else ""), ("client_cert", s.client_cert),
                        ("client_key", s.client_key)):
        if path and not os.path.exists(path):
            client.close()
            raise SettingsError(f"Preset field '{field}': there is no file '{path}' on the machine running this job. "
                                "Give a path that exists there (in a container image for containerized execution).")
    # the recipe may only lower the preset's limits
    asked = optional_int(config, "max_concurrency", 1)
    if asked and asked > s.concurrency_ceiling:
        log.info("The component's max_concurrency (%d) is above the preset's %s (%d): the preset's is used.",
                 asked, s.concurrency_field, s.concurrency_ceiling)
    lowered = s.capped(asked)
    rpm = optional_int(config, "requests_per_minute", 1)
    if rpm and (not s.requests_per_minute or rpm < s.requests_per_minute):
        lowered = lowered.with_overrides(requests_per_minute=rpm)
    if lowered is not s:
        client.close()
        client = Client(lowered)
    return client
