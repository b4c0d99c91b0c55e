#!/usr/bin/env python3
"""Write parameter-sets/connection-per-user/parameter-set.json from parameter-sets/connection/parameter-set.json.

Usage: PYTHONPATH=python-lib python tools/parameter_sets.py [--check]

The connection fields (labels, descriptions, defaults, conditions) are written once, by hand, in the shared-key
set. The per-user-key set is that set minus the fields ``preset_fields.PARAMETER_SETS`` leaves out of it, plus
one CREDENTIAL_REQUEST, with its own meta and scope. ``--check`` exits 1 when the committed file differs from
what this script writes (tests/python/unit/test_preset_fields.py runs the same comparison).
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from openai_compatible.preset_fields import PARAMETER_SETS, PER_USER_KEY_SET, SHARED_KEY_SET

ROOT = Path(__file__).resolve().parent.parent


def descriptor_path(set_id: str, root: Path = ROOT) -> Path:
    """Where the descriptor of parameter set ``set_id`` lives."""
    return root / "parameter-sets" / set_id / "parameter-set.json"


PER_USER_META = {
    "label": "OpenAI-compatible connection, per-user keys",
    "pluralLabel": "OpenAI-compatible connections, per-user keys",
    "description": (
        "An OpenAI-compatible LLM service that each DSS user calls with their own key, entered once in "
        "Profile & Settings > Credentials for each preset of this set. Every user is asked for a key for every "
        "preset of this set, so keep shared keys in 'OpenAI-compatible connection'. Presets of this set are "
        "defined by an admin in the plugin's settings only: DSS stores a user's credential under the plugin, the "
        "set, the preset and the parameter, with no project, so a project-level preset could not find it, and "
        "an inline value would have no preset to hold the credential."
    ),
    "icon": "fas fa-user-lock",
}

PER_USER_KEY_PARAM = {
    "name": "per_user_key",
    "type": "CREDENTIAL_REQUEST",
    "label": "Your API key",
    "description": "Each user enters their own key for this preset in Profile & Settings > Credentials; calls run "
                   "with the key of the user who runs them.",
    "credentialRequestSettings": {"type": "SINGLE_FIELD"},
}


# where the shared set's auth_scheme description starts on the schemes that send no key of the user's
NO_KEY_SCHEMES_TEXT = " None:"


def _up_to(text: str, marker: str) -> str:
    """``text`` cut before ``marker``; a ValueError when the marker is gone, so a reworded source is noticed."""
    if marker not in text:
        raise ValueError(f"the shared set's text no longer contains {marker!r}: update tools/parameter_sets.py")
    return text.split(marker, 1)[0]


def per_user_descriptor(shared: dict[str, Any]) -> dict[str, Any]:
    """The per-user-key set's descriptor, built from the shared-key set's descriptor ``shared``."""
    spec = PARAMETER_SETS[PER_USER_KEY_SET]
    params: list[dict[str, Any]] = []
    for param in shared["params"]:
        name = param.get("name")
        if name == "api_key":  # the user's key takes the shared key's place in the form
            params.append(dict(PER_USER_KEY_PARAM))
        if name in spec.leaves_out:
            continue
        param = copy.deepcopy(param)
        if name == "auth_scheme":
            param["selectChoices"] = [c for c in param["selectChoices"] if c["value"] in spec.auth_schemes]
            param["description"] = _up_to(param["description"], NO_KEY_SCHEMES_TEXT)
        if name == "endpoints":
            param["subParams"] = [p for p in param["subParams"] if p.get("name") not in spec.endpoint_leaves_out]
        params.append(param)
    return {
        "meta": PER_USER_META,
        # DSS keys per-user plugin credentials ["PLUGIN", plugin, set, preset, param] without a project key
        # (dataikuapi dss/admin.py, set_basic_plugin_credential), and Dataiku's api-connect plugin gives its
        # credential-request sets (secure-basic, secure-oauth) neither inline nor project-level presets
        "defaultDefinableAtProjectLevel": False,
        "defaultDefinableInline": False,
        "pluginParams": [],
        "params": params,
    }


def render(descriptor: dict[str, Any]) -> str:
    """The file's text: 4-space JSON, as the hand-written descriptors, ending with a newline."""
    return json.dumps(descriptor, indent=4, ensure_ascii=False) + "\n"


def generated(root: Path = ROOT) -> str:
    """The text parameter-sets/connection-per-user/parameter-set.json must hold."""
    shared = json.loads(descriptor_path(SHARED_KEY_SET, root).read_text(encoding="utf-8"))
    return render(per_user_descriptor(shared))


def main(argv: list[str]) -> int:
    target = descriptor_path(PER_USER_KEY_SET)
    text = generated()
    if "--check" in argv:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(f"{target.relative_to(ROOT)} is out of date: run "
                  "PYTHONPATH=python-lib python tools/parameter_sets.py", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
