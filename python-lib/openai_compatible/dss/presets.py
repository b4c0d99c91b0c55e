"""Connection presets and user secrets read through the DSS API client, for notebooks.

DSS gives a preset's per-user credential only to the plugin components it runs; a notebook user
keeps their key as a *user secret* named ``openai-compatible:<preset name>`` instead.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping, Optional

from ..errors import SettingsError
from ..preset_fields import OAUTH2_SCHEMES, PER_USER_KEY_SET, SHARED_KEY_SET
from .preset_sets import settings_dict

log = logging.getLogger("openai_compatible")

PLUGIN_ID = "openai-compatible"
PARAMETER_SET_ID = SHARED_KEY_SET  # the per-user-key set is preset_fields.PER_USER_KEY_SET


class PresetAccessError(SettingsError):
    """The preset was not found and at least one place that could hold it refused to be read (reading presets
    needs DSS admin, plugin development or plugin admin rights: dataikuapi ``DSSPlugin.get_settings``)."""

    kind = "permission"


def user_secret_name(preset_name: str) -> str:
    """The name of the user secret ("Other credentials") holding a notebook user's key for a preset."""
    return f"{PLUGIN_ID}:{preset_name}"


def dss_api_client(api_client: Any = None) -> Any:
    """The DSS API client: ``api_client`` if given; outside DSS a ``dataikuapi.DSSClient`` built from the
    ``DKU_DSS_URL`` and ``DKU_API_KEY`` environment variables; inside DSS ``dataiku.api_client()``."""
    if api_client is not None:
        return api_client
    url, key = os.environ.get("DKU_DSS_URL"), os.environ.get("DKU_API_KEY")
    if url and key:
        import dataikuapi

        return dataikuapi.DSSClient(url, key, no_check_certificate=bool(os.environ.get("DKU_NO_CHECK_CERTIFICATE")))
    try:
        import dataiku
    except ImportError:
        raise SettingsError("Outside DSS, set DKU_DSS_URL and DKU_API_KEY (or pass api_client=) to reach DSS; "
                            "inside DSS the notebook's own credentials are used.") from None
    return dataiku.api_client()


def current_project_key(project_key: Optional[str] = None) -> Optional[str]:
    """``project_key``, else the notebook's project (``DKU_CURRENT_PROJECT_KEY``), else None."""
    if project_key:
        return project_key
    if os.environ.get("DKU_CURRENT_PROJECT_KEY"):
        return os.environ["DKU_CURRENT_PROJECT_KEY"]
    try:
        import dataiku

        return dataiku.default_project_key() or None
    except Exception:  # outside a project (or outside DSS)
        return None


def find_connection_preset(api_client: Any, name: str, project_key: Optional[str] = None,
                           plugin_id: str = PLUGIN_ID) -> tuple[dict, str]:
    """The config of the connection preset ``name``, as python-lib reads it, and where it was found ("project KEY"
    or "instance", plus ", per-user keys" for the per-user-key set). Looked up in the project's shared-key
    presets, then the instance's, then the instance's per-user-key presets (that set is not definable at project
    level). Raises :class:`SettingsError` listing the presets that exist, or saying which lookup was refused, or
    for a shared-key preset that still asks for per-user keys (:func:`.preset_sets.settings_dict`)."""
    plugin = api_client.get_plugin(plugin_id)
    problems: list[str] = []
    available: list[str] = []
    places: list[tuple[str, str, Callable[[], Any]]] = []
    if project_key:
        places.append((f"project {project_key}", SHARED_KEY_SET, lambda: plugin.get_project_settings(project_key)))
    places.append(("instance", SHARED_KEY_SET, plugin.get_settings))
    places.append(("instance, per-user keys", PER_USER_KEY_SET, plugin.get_settings))
    for where, set_id, read in places:
        try:
            parameter_set = read().get_parameter_set(set_id)
        except Exception as exc:  # dataikuapi raises DataikuException (no status) for refusals
            problems.append(f"reading the {where} presets failed ({api_error_text(exc)})")
            continue
        if parameter_set is None:
            if set_id == PER_USER_KEY_SET:  # a plugin version from before the per-user-key set
                continue
            problems.append(f"the plugin '{plugin_id}' has no '{set_id}' parameter set at {where.split(',')[0]} "
                            "level")
            continue
        preset = parameter_set.get_preset(name)
        if preset is not None:
            raw = preset.get_raw() if hasattr(preset, "get_raw") else dict(preset)
            config = dict(raw.get("pluginConfig") or {})
            config.update(raw.get("config") or {})
            return settings_dict(config, set_id, name=name, where=where), where
        available += [f"{n} ({where})" for n in parameter_set.list_preset_names()]
    message = f"No OpenAI-compatible connection preset named '{name}'"
    message += f" in project {project_key} or at instance level." if project_key else " at instance level."
    if available:
        message += " Presets you can read: " + ", ".join(available) + "."
    if problems:
        message += " Note: " + "; ".join(problems) + ". Reading presets needs an API key with admin rights, " \
                   "the permission to develop plugins, or admin rights on the plugin (project admin for " \
                   "project-level presets)."
        raise PresetAccessError(message)
    raise SettingsError(message)


def user_secret(api_client: Any, secret_name: str) -> Optional[str]:
    """The value of the calling user's secret ``secret_name`` (Profile > My Account > Other
    credentials), or None."""
    info = api_client.get_auth_info(with_secrets=True)
    for secret in info.get("secrets") or []:
        if isinstance(secret, Mapping) and (secret.get("key") or secret.get("name")) == secret_name:
            return secret.get("value") or None
    return None


def notebook_preset(name: str, project_key: Optional[str] = None, api_client: Any = None,
                    api_key: Optional[str] = None) -> tuple[dict, str]:
    """The config of the preset ``name`` for the user running the notebook, and where it was found.

    The key is ``api_key`` when given, else the user's secret for the preset (see
    :func:`user_secret_name`): it fills the per-user key of a per-user preset, and replaces the shared
    key of another one. Raises :class:`SettingsError` for a per-user preset without a key, saying
    where to put it.
    """
    client = dss_api_client(api_client)
    config, where = find_connection_preset(client, name, current_project_key(project_key))
    secret_name = user_secret_name(name)
    if api_key:
        secret: Optional[str] = api_key
    else:
        try:
            secret = user_secret(client, secret_name)
        except Exception as exc:  # secrets need a personal key (not a global API key)
            log.info("Could not read your user secrets (%s).", api_error_text(exc))
            secret = None
    if _truthy(config.get("use_per_user_key")) and config.get("auth_scheme") not in ("none", *OAUTH2_SCHEMES):
        if not secret:
            raise SettingsError(
                f"The preset '{name}' ({where}) uses per-user keys. DSS hands your per-user credential only to the "
                "plugin's recipes, macros and LLM Mesh models, not to notebooks: add your key as a user secret "
                f"named '{secret_name}' (Profile > My Account > Other credentials) and call connect() again.")
        config["per_user_key"] = secret
    elif secret:
        config["api_key"] = secret  # your own key for this preset takes precedence over the shared one
    return config, where


def api_error_text(error: BaseException) -> str:
    """The first line of a DSS API error, cut to 300 characters (dataikuapi puts the server's
    stack trace after it)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
