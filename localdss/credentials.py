"""What DSS lists in each user's Profile & Settings > Credentials for a plugin's presets.

DSS docs (plugins/reference/params.rst, "Credential requests"; plugins/installed.rst): once a preset of a
parameter set that declares a CREDENTIAL_REQUEST exists, every user is asked for that credential, whatever the
preset's other values say (a visibilityCondition only shapes the preset's form). The entry's identity is the one
DSS stores the value under, ["PLUGIN", plugin id, set id, preset name, param name] (dataiku-api-client
dataikuapi/dss/admin.py, DSSUserSettings.set_basic_plugin_credential): instance-level presets only, as there is
no project in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Optional

from localdss.plugin import load_plugin


@dataclass(frozen=True)
class CredentialRequest:
    """One line of Profile & Settings > Credentials: the credential a user is asked for, and its kind."""

    plugin_id: str
    set_id: str
    preset: str
    param: str
    kind: str  # SINGLE_FIELD, BASIC or OAUTH2

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """The key DSS stores the user's value under."""
        return ("PLUGIN", self.plugin_id, self.set_id, self.preset, self.param)


def profile_credentials(presets: Mapping[str, Iterable[str]], plugin_root: Optional[str] = None
                        ) -> list[CredentialRequest]:
    """The credentials every user is asked for, given the instance-level presets defined for each parameter set
    (``{"set-id": ["preset name", ...]}``): one per preset and CREDENTIAL_REQUEST param of its set, in order."""
    plugin = load_plugin(plugin_root)
    out = []
    for set_id, names in presets.items():
        requests = plugin.parameter_set(set_id).credential_requests
        for name in names:
            out += [CredentialRequest(plugin.plugin_id, set_id, name, p["name"],
                                      str((p.get("credentialRequestSettings") or {}).get("type")))
                    for p in requests]
    return out
