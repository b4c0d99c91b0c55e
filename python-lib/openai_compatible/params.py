"""Reading DSS parameter values: whole numbers, secrets, header names, key/value lists, preset fields.

DSS hands INT parameters as floats, unset fields as None or '', KEY_VALUE_LIST as ``[{"from", "to"}]`` and
secrets exactly as pasted (reference/dss-platform.md sections 2.6 and 3.6). Every reader of the plugin's
parameters (the preset, the recipes' and connectors' forms) goes through these functions, so each value
is coerced one way and every problem names the parameter.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Mapping, Optional

from .errors import SettingsError
from .numeric import whole_number
from .preset_fields import FIELDS, default

# RFC 9110 section 5.6.2: a header name is a token
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class PresetReader:
    """Reads preset fields leniently (DSS hands INTs as floats, unset fields as None or ''); a field the preset
    leaves out takes its default from :data:`openai_compatible.preset_fields.FIELDS`."""

    def __init__(self, preset: Mapping[str, Any]) -> None:
        self.preset = preset

    def _get(self, name: str) -> Any:
        value = self.preset.get(name)
        return None if value == "" else value

    def text(self, name: str) -> str:
        value = self._get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise SettingsError(f"Preset field '{name}' must be text, not {type(value).__name__}.")
        return value.strip()

    def name(self, name: str) -> str:
        """A header or query parameter name: its default when the preset leaves the field out, and empty when
        the preset holds it empty (an admin who cleared it must say which name to use)."""
        if name not in self.preset:
            return str(default(name))
        return self.text(name)

    def header_value(self, name: str) -> str:
        """A text sent as a header value: no control characters (HTTP forbids them)."""
        return clean_secret(self.text(name), name, in_header=True) or ""

    def choice(self, name: str) -> str:
        spec = FIELDS[name]
        value = self._get(name)
        if value is None:
            return str(spec.default)
        if value not in spec.choices:
            raise SettingsError(f"Preset field '{name}' is '{value}': use one of {', '.join(spec.choices)}.")
        return str(value)

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if value is None:
            return bool(FIELDS[name].default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(f"Preset field '{name}' must be true or false, not {value!r}.")

    def number(self, name: str) -> float:
        spec = FIELDS[name]
        value = self._get(name)
        if value is None:
            return float(spec.default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"Preset field '{name}' must be a number, not {value!r}.") from None
        minimum = spec.minimum if spec.minimum is not None else 0.0
        if math.isnan(number) or number < minimum:
            raise SettingsError(f"Preset field '{name}' must be at least {minimum}, not {value!r}.")
        return number

    def integer(self, name: str) -> int:
        spec = FIELDS[name]
        value = self._get(name)
        if value is None:
            return int(spec.default)
        minimum = int(spec.minimum or 0)
        maximum = None if spec.maximum is None else int(spec.maximum)
        return whole_number(value, f"Preset field '{name}'", minimum, maximum)

    def strings(self, name: str) -> list[str]:
        value = self._get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [v for v in value.replace(",", "\n").splitlines()]
        if not isinstance(value, list):
            raise SettingsError(f"Preset field '{name}' must be a list of texts.")
        out: list[str] = []
        for item in value:
            text = str(item).strip() if item is not None else ""
            if text and text not in out:
                out.append(text)
        return out

    def key_values(self, name: str, header: bool = False) -> tuple:
        value = self._get(name)
        if value is None:
            return ()
        if isinstance(value, Mapping):  # a MAP-style dict is accepted too
            value = [{"from": k, "to": v} for k, v in value.items()]
        if not isinstance(value, list):
            raise SettingsError(f"Preset field '{name}' must be a key/value list.")
        pairs = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, Mapping):
                raise SettingsError(f"Preset field '{name}' entry {index} must have 'from' and 'to'.")
            key = str(item.get("from") or "").strip()
            if not key:
                if item.get("to"):
                    raise SettingsError(f"Preset field '{name}' entry {index} has a value but no name.")
                continue
            if header and not HEADER_NAME.match(key):
                raise SettingsError(f"Preset field '{name}' entry {index}: '{key}' is not a valid HTTP header name "
                                    "(letters, digits and - only, no spaces or colons).")
            raw = item.get("to")
            if raw is not None and not isinstance(raw, str):
                raw = str(raw)
            pairs.append((key, clean_secret(raw, name, entry=key, in_header=header) or ""))
        return tuple(pairs)

    def secret_key(self, in_header: bool = True) -> Optional[str]:
        if self.boolean("use_per_user_key"):
            value = self.preset.get("per_user_key")
            if isinstance(value, Mapping):  # BASIC-style credential: take the password
                value = value.get("password") or value.get("access_token")
            if not value:
                raise SettingsError(
                    "This preset uses per-user keys ('use_per_user_key') but you have not entered yours: "
                    "add it in Profile & Settings > Credentials, under this preset."
                )
            key = clean_secret(value if isinstance(value, str) else str(value), "per_user_key", in_header=in_header)
            if not key:
                raise SettingsError("Your per-user key for this preset ('per_user_key') is blank: enter it again in "
                                    "Profile & Settings > Credentials, under this preset.")
            return key
        value = self.preset.get("api_key")
        if value is not None and not isinstance(value, str):
            raise SettingsError("Preset field 'api_key' must be text.")
        return clean_secret(value, "api_key", in_header=in_header)


def clean_secret(value: Optional[str], name: str, *, entry: str = "", in_header: bool = False) -> Optional[str]:
    """A secret (key, token, header value) as it must be sent: surrounding whitespace removed (a key pasted
    with its line break), None when nothing is left.

    ``entry`` names the item of a list field (a header's name in ``extra_headers``) or of an endpoint.
    Raises :class:`SettingsError` naming the field, never showing the value, when the secret still holds a
    control or invisible character (HTTP forbids them in headers, and the HTTP library's own error would
    print the whole header), or, for a value sent in a header (``in_header``), a character outside Latin-1,
    which ``http.client`` cannot encode (RFC 9110 section 5.5: field values are ASCII-compatible octets).
    """
    if value is None:
        return None
    where = f"'{name}'" + (f" entry '{entry}'" if entry else "")
    if not isinstance(value, str):
        raise SettingsError(f"Preset field {where} must be text.")
    value = value.strip()
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise SettingsError(f"Preset field {where} holds a control or invisible character (a line break, a tab, a "
                            "zero-width space...) inside the value, which HTTP cannot send: enter it again without "
                            "it. (The value is not shown here, as it may be a secret.)")
    if in_header and any(ord(c) > 0xFF for c in value):
        raise SettingsError(f"Preset field {where} holds a character that an HTTP header cannot carry (outside "
                            "Latin-1; keys are usually plain ASCII): check that it was copied whole and unchanged. "
                            "(The value is not shown here, as it may be a secret.)")
    return value or None
