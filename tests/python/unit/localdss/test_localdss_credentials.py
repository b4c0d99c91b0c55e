"""Where presets and per-user credentials may live, as strict as DSS: credential requests only in a set's params,
every preset of such a set asks every user, no per-user credential for a project-level preset, no inline values
for a set that forbids them. In process (no child)."""

from __future__ import annotations

import json
import shutil

import pytest
from localdss_testkit import FIXTURE, REPO, SECRET, USER_SECRET

import localdss
from localdss.config import Preset, resolve_config
from localdss.errors import ConfigError
from localdss.jsonc import load_json_object
from localdss.plugin import load_plugin

CONN = {"base_url": "http://h/v1"}


def problems_of(plugin, kind, component_id, config, presets) -> list[str]:
    component = plugin.component(kind, component_id)
    try:
        resolve_config(plugin, component, config, presets, [])
    except ConfigError as exc:
        return list(exc.problems)
    return []


def copy_fixture(tmp_path, change):
    root = tmp_path / "plugin"
    shutil.copytree(FIXTURE, root)
    path = root / "parameter-sets" / "conn" / "parameter-set.json"
    descriptor = load_json_object(path, "parameter set")
    change(descriptor)
    path.write_text(json.dumps(descriptor))
    return root


@pytest.mark.parametrize("where", ["pluginParams", "subParams"])
def test_a_credential_request_outside_a_sets_params_is_refused(tmp_path, where):
    request = {"name": "k2", "type": "CREDENTIAL_REQUEST", "credentialRequestSettings": {"type": "SINGLE_FIELD"}}

    def change(descriptor):
        if where == "pluginParams":
            descriptor["pluginParams"].append(request)
        else:
            next(p for p in descriptor["params"] if p.get("name") == "endpoints")["subParams"].append(request)

    root = copy_fixture(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        load_plugin(root).parameter_set("conn")
    assert any("only allowed in parameter sets, directly in their 'params'" in p for p in caught.value.problems)


def test_every_preset_of_a_set_with_a_credential_request_asks_every_user():
    fixture = localdss.profile_credentials({"conn": ["gw-a", "gw-b"]}, plugin_root=str(FIXTURE))
    assert [(c.preset, c.param, c.kind) for c in fixture] == [
        ("gw-a", "user_key", "SINGLE_FIELD"), ("gw-a", "basic_login", "BASIC"),
        ("gw-b", "user_key", "SINGLE_FIELD"), ("gw-b", "basic_login", "BASIC")]
    assert fixture[0].key == ("PLUGIN", "fixture-plugin", "conn", "gw-a", "user_key")


def test_the_plugins_shared_key_presets_ask_nobody():
    assert localdss.profile_credentials({"connection": ["shared-gw", "team-gw"]}, plugin_root=str(REPO)) == []
    asked = localdss.profile_credentials({"connection": ["shared-gw"], "connection-per-user": ["personal-gw"]},
                                         plugin_root=str(REPO))
    assert [c.key for c in asked] == [("PLUGIN", "openai-compatible", "connection-per-user", "personal-gw",
                                       "per_user_key")]
    assert asked[0].kind == "SINGLE_FIELD"


def test_a_project_level_preset_gets_no_per_user_credential():
    plugin = load_plugin(FIXTURE)
    shared = Preset(dict(CONN, api_key=SECRET), level="project")
    assert problems_of(plugin, "macro", "fixture-report", {"title": "t"}, {"connection": shared}) == []
    personal = Preset(dict(CONN, user_key=USER_SECRET), level="project")
    problems = problems_of(plugin, "macro", "fixture-report", {"title": "t"}, {"connection": personal})
    assert len(problems) == 1 and "cannot receive the per-user credential 'user_key'" in problems[0]
    assert USER_SECRET not in problems[0]
    instance = Preset(dict(CONN, user_key=USER_SECRET))
    assert problems_of(plugin, "macro", "fixture-report", {"title": "t"}, {"connection": instance}) == []


def test_a_set_not_definable_at_project_level_has_no_project_presets():
    plugin = load_plugin(REPO)
    personal = Preset({"base_url": "http://h/v1", "models": ["m"], "per_user_key": "sk-mine"}, level="project")
    problems = problems_of(plugin, "macro", "openai-compatible-test-connection", {"connection_keys": "per_user"},
                           {"connection_per_user": personal})
    assert any("not definable at project level" in p for p in problems), problems
    shared = Preset({"base_url": "http://h/v1", "models": ["m"]}, level="project")
    assert problems_of(plugin, "macro", "openai-compatible-test-connection", {}, {"connection": shared}) == []


def test_inline_values_need_a_set_definable_inline(tmp_path):
    plugin = load_plugin(REPO)
    inline = {"connection": {"base_url": "http://h/v1", "models": ["m"]}}
    problems = problems_of(plugin, "macro", "openai-compatible-test-connection", inline, {})
    assert len(problems) == 1 and "not definable inline" in problems[0]
    root = copy_fixture(tmp_path, lambda d: d.update(defaultDefinableInline=True))
    assert problems_of(load_plugin(root), "macro", "fixture-report", {"title": "t", "connection": CONN}, {}) == []


def test_an_unknown_level_is_refused():
    problems = problems_of(load_plugin(FIXTURE), "macro", "fixture-report", {"title": "t"},
                           {"connection": Preset(CONN, level="global")})
    assert any("level 'global' is not one of" in p for p in problems)


def test_the_cli_takes_the_presets_level(tmp_path):
    from localdss_testkit import run_cli, write_json

    preset = write_json(tmp_path / "p.json", dict(CONN, user_key=USER_SECRET))
    config = write_json(tmp_path / "c.json", {"title": "t"})
    done = run_cli("macro", "fixture-report", "--config", str(config), "--preset", f"connection={preset}",
                   "--preset-level", "connection=project")
    assert done.returncode == 2
    assert "cannot receive the per-user credential 'user_key'" in done.stderr and USER_SECRET not in done.stderr
    done = run_cli("macro", "fixture-report", "--config", str(config), "--preset", f"connection={preset}",
                   "--preset-level", "other=project")
    assert done.returncode == 2 and "--preset-level other=... has no --preset" in done.stderr
