"""Each preset default, bound and choice is written once (preset_fields.FIELDS); the descriptors DSS shows (both
connection parameter sets), the dataclass, plugin.json's version and the CHANGELOG are held against the code
here, and the per-user-key set is checked to be exactly what tools/parameter_sets.py generates."""

import json
import re
from pathlib import Path

import pytest
from openai_compatible import ConnectionSettings, __version__
from openai_compatible.http.transport import USER_AGENT
from openai_compatible.preset_fields import (
    ENDPOINT_FIELDS,
    FIELDS,
    NO_DEFAULT,
    PARAMETER_SETS,
    PER_USER_KEY_SET,
    SHARED_KEY_SET,
)

from tools import parameter_sets

REPO = Path(__file__).resolve().parents[3]
DESCRIPTORS = {set_id: json.loads((REPO / "parameter-sets" / set_id / "parameter-set.json").read_text())
               for set_id in PARAMETER_SETS}
SET_PARAMS = {set_id: {p["name"]: p for p in d["params"] if p["type"] != "SEPARATOR"}
              for set_id, d in DESCRIPTORS.items()}
# every field, from the set that holds it (the shared-key set first): the README table and the dataclass
PARAMS = {**SET_PARAMS[PER_USER_KEY_SET], **SET_PARAMS[SHARED_KEY_SET]}
BOUNDS = {"INT": ("minI", "maxI"), "DOUBLE": ("minD", "maxD")}
SET_FIELDS = [(set_id, name) for set_id, spec in PARAMETER_SETS.items() for name in spec.fields()]


def test_the_descriptor_and_the_code_know_the_same_fields():
    assert set(PARAMS) == set(FIELDS)
    endpoint_params = {p["name"] for p in PARAMS["endpoints"]["subParams"]}
    assert endpoint_params == set(ENDPOINT_FIELDS)
    for set_id, spec in PARAMETER_SETS.items():
        assert set(SET_PARAMS[set_id]) == set(spec.fields()), set_id
        assert {p["name"] for p in SET_PARAMS[set_id]["endpoints"]["subParams"]} == set(spec.endpoint_fields())


def test_the_per_user_set_is_generated_from_the_shared_set():
    committed = (REPO / "parameter-sets" / PER_USER_KEY_SET / "parameter-set.json").read_text()
    assert committed == parameter_sets.generated(REPO), "run: PYTHONPATH=python-lib python tools/parameter_sets.py"
    assert parameter_sets.main(["--check"]) == 0


def test_only_the_per_user_set_asks_users_for_a_credential():
    # DSS asks every user for a CREDENTIAL_REQUEST of every preset of the set (params.rst, "Credential requests")
    kinds = {set_id: [p["name"] for p in d["params"] if p["type"] == "CREDENTIAL_REQUEST"]
             for set_id, d in DESCRIPTORS.items()}
    assert kinds == {SHARED_KEY_SET: [], PER_USER_KEY_SET: ["per_user_key"]}
    assert all(p["type"] != "CREDENTIAL_REQUEST" for d in DESCRIPTORS.values() for p in d["pluginParams"])


@pytest.mark.parametrize(("set_id", "name"), SET_FIELDS)
def test_each_default_bound_and_choice_matches_the_descriptor(set_id, name):
    param, spec = SET_PARAMS[set_id][name], PARAMETER_SETS[set_id].fields()[name]
    if spec.default is NO_DEFAULT:
        assert "defaultValue" not in param
    else:
        assert param["defaultValue"] == spec.default
        assert type(param["defaultValue"]) in (type(spec.default), int)  # JSON has no 10.0: 10 stands for it
    low, high = BOUNDS.get(param["type"], (None, None))
    assert param.get(low) == spec.minimum if low else spec.minimum is None
    assert param.get(high) == spec.maximum if high else spec.maximum is None
    choices = tuple(c["value"] for c in param.get("selectChoices", []))
    assert choices == spec.choices


@pytest.mark.parametrize(("set_id", "name"), [(s, n) for s, spec in PARAMETER_SETS.items()
                                              for n in spec.endpoint_fields()])
def test_endpoint_defaults_and_choices_match_the_descriptor(set_id, name):
    param = {p["name"]: p for p in SET_PARAMS[set_id]["endpoints"]["subParams"]}[name]
    spec = ENDPOINT_FIELDS[name]
    assert param.get("defaultValue", NO_DEFAULT) == spec.default
    assert tuple(c["value"] for c in param.get("selectChoices", [])) == spec.choices


def test_the_dataclass_defaults_are_the_descriptor_defaults():
    # settings built in code (no preset) behave as a preset left at its defaults
    settings = ConnectionSettings()
    renamed = {"use_per_user_key": "per_user_key"}
    for name, spec in FIELDS.items():
        attribute = renamed.get(name, name)
        if spec.default is NO_DEFAULT or isinstance(spec.default, list) or not hasattr(settings, attribute):
            continue
        assert getattr(settings, attribute) == spec.default, name


def test_a_preset_with_only_the_mandatory_fields_gets_every_default():
    settings = ConnectionSettings.from_preset({"base_url": "http://h/v1", "models": ["m"]})
    assert settings == ConnectionSettings(base_url="http://h/v1", models=("m",))


def test_the_version_is_written_once():
    manifest = json.loads((REPO / "plugin.json").read_text())
    assert manifest["version"] == __version__
    assert USER_AGENT.endswith("/" + __version__)
    latest = re.search(r"^## \[Version ([0-9.]+)\]", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert latest and latest.group(1) == __version__


def test_the_readme_table_of_fields_shows_the_same_defaults():
    rows = re.findall(r"^\| `(\w+)` \| ([A-Z_]+)[^|]*\|([^|]*)\|", (REPO / "README.md").read_text(), re.MULTILINE)
    table = {name: (ptype, cell.strip()) for name, ptype, cell in rows if name in FIELDS}
    assert set(table) == set(FIELDS)
    for name, (ptype, cell) in table.items():
        assert ptype == PARAMS[name]["type"], name
        spec = FIELDS[name].default
        if spec is NO_DEFAULT:
            assert cell == "", name
        else:
            shown = json.loads(cell.strip("`")) if cell not in ("", "`" + str(spec) + "`") else spec
            assert shown == spec, name
