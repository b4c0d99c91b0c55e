"""Shared keys and per-user keys through localdss, as DSS runs the components: a shared-key preset asks no user for
anything, a per-user-key preset sends each user's own key, and a preset saved with the retired per-user switch
stops every component before its first request."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openai_compatible.dss.config import preset_from_config
from openai_compatible.errors import SettingsError

import localdss
from localdss.config import Preset, resolve_config
from localdss.errors import ConfigError
from localdss.plugin import KINDS, load_plugin

REPO = Path(__file__).resolve().parents[3]
PER_USER = {"connection_keys": "per_user"}


def prompt_rows(tmp_path: Path, name: str, texts: list[str]) -> Path:
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return path


def run_prompt(tmp_path: Path, user: str, config: dict, presets: dict):
    source = prompt_rows(tmp_path, f"in_{user}", [f"{user} row {i}" for i in range(3)])
    out = tmp_path / f"out_{user}.csv"
    done = localdss.run_recipe("openai-compatible-prompt", config=dict({"model": "m", "prompt_template": "{{text}}"},
                                                                       **config),
                               presets=presets, inputs={"input": str(source)}, outputs={"output": str(out)},
                               timeout=300)
    return done, out


def test_a_shared_key_preset_asks_nobody_and_sends_the_shared_key(tmp_path, fault_server):
    assert localdss.profile_credentials({"connection": ["llm-gateway"]}, plugin_root=str(REPO)) == []
    preset = Preset({"base_url": fault_server.url, "models": ["m"], "api_key": "sk-shared-01"}, name="llm-gateway")
    done, out = run_prompt(tmp_path, "anyone", {}, {"connection": preset})
    assert done.returncode == 0, done.stderr
    assert [r.header("authorization") for r in fault_server.requests] == ["Bearer sk-shared-01"] * 3


def test_each_user_sends_their_own_key(tmp_path, fault_server):
    asked = localdss.profile_credentials({"connection-per-user": ["llm-personal"]}, plugin_root=str(REPO))
    assert [(c.preset, c.param) for c in asked] == [("llm-personal", "per_user_key")]
    base = {"base_url": fault_server.url, "models": ["m"], "auth_scheme": "api_key_header"}
    for user, key in (("alice", "sk-alice-02"), ("bob", "sk-bob-03")):
        before = len(fault_server.requests)
        # DSS fills the CREDENTIAL_REQUEST with the value the running user entered in Profile > Credentials
        preset = Preset(dict(base, per_user_key=key), name="llm-personal")
        done, out = run_prompt(tmp_path, user, PER_USER, {"connection_per_user": preset})
        assert done.returncode == 0, done.stderr
        sent = [r.header("api-key") for r in fault_server.requests[before:]]
        assert sent == [key] * 3, user
        with open(out, newline="") as f:
            assert [r["llm_response"] for r in csv.DictReader(f)] == [f"echo: {user} row {i}" for i in range(3)]
        assert key not in done.stderr + done.stdout


def test_a_user_without_a_key_is_told_where_to_enter_it(tmp_path, fault_server):
    preset = Preset({"base_url": fault_server.url, "models": ["m"]}, name="llm-personal")
    done, _ = run_prompt(tmp_path, "carol", PER_USER, {"connection_per_user": preset})
    assert done.returncode == 1
    assert "Profile & Settings > Credentials" in done.stderr.strip().splitlines()[-1]
    assert fault_server.calls == 0


OLD_SHAPE = {"models": ["m"], "api_key": "sk-shared-04", "use_per_user_key": True}


def assert_the_way_out(text: str) -> None:
    for words in ("Per-user keys (retired)", "'OpenAI-compatible connection, per-user keys'",
                  "Profile & Settings > Credentials"):
        assert words in text, words
    assert "sk-shared-04" not in text


def test_the_old_per_user_shape_stops_the_recipe_before_any_request(tmp_path, fault_server):
    done, out = run_prompt(tmp_path, "alice", {}, {"connection": dict(OLD_SHAPE, base_url=fault_server.url)})
    assert done.returncode == 1
    assert_the_way_out(done.stderr.strip().splitlines()[-1])
    assert fault_server.calls == 0 and fault_server.requests == []


def test_the_old_per_user_shape_stops_the_llm_the_connector_and_the_macro(tmp_path, fault_server):
    preset = {"connection": dict(OLD_SHAPE, base_url=fault_server.url)}
    llm = localdss.run_llm("openai-compatible-chat", {"model": "m"}, preset,
                           query={"messages": [{"role": "user", "content": "hi"}]}, timeout=120)
    assert llm.returncode == 1
    assert_the_way_out(llm.stderr)
    connector = localdss.run_connector("openai-compatible_models", {}, preset, output=str(tmp_path / "m.csv"),
                                       timeout=120)
    assert connector.returncode == 1
    assert_the_way_out(connector.stderr)
    report = tmp_path / "report.html"
    macro = localdss.run_macro("openai-compatible-test-connection", {}, preset, output=str(report), timeout=120)
    assert macro.returncode == 0, macro.stderr
    assert_the_way_out(report.read_text().replace("&#x27;", "'").replace("&gt;", ">").replace("&amp;", "&"))
    assert fault_server.calls == 0 and fault_server.requests == []


COMPONENTS = [(kind, cid) for kind in KINDS for cid in load_plugin(REPO).component_ids(kind)]


@pytest.mark.parametrize(("kind", "component_id"), COMPONENTS, ids=[f"{k}:{c}" for k, c in COMPONENTS])
def test_every_component_takes_either_kind_of_preset(kind, component_id):
    plugin = load_plugin(REPO)
    component = plugin.component(kind, component_id)  # its descriptor validates as DSS loads it

    def connection_problems(config, presets):
        try:
            resolved = resolve_config(plugin, component, config, presets, [])
        except ConfigError as exc:
            return [p for p in exc.problems if "connection" in p], None
        return [], resolved

    personal = Preset({"base_url": "http://h/v1", "models": ["m"], "per_user_key": "sk-mine"})
    problems, resolved = connection_problems(PER_USER, {"connection_per_user": personal})
    assert problems == []  # the hidden shared-key PRESET param is not required
    if resolved is not None:
        assert "connection" not in resolved and resolved["connection_per_user"]["per_user_key"] == "sk-mine"
    # neither PRESET parameter is mandatory (DSS does not say it skips a hidden one): the dss layer stops an
    # empty choice before any request, naming the parameter shown
    for config, shown in ((PER_USER, "'connection_per_user' is empty"), ({}, "'connection' is empty")):
        problems, _ = connection_problems(config, {})
        assert problems == []
        with pytest.raises(SettingsError, match=shown):
            preset_from_config(config)
    # a per-user-key preset exists only at instance level, and never inline
    problems, _ = connection_problems(PER_USER, {"connection_per_user": Preset(personal.values, level="project")})
    assert any("not definable at project level" in p for p in problems)
    problems, _ = connection_problems(dict(PER_USER, connection_per_user=dict(personal.values)), {})
    assert any("not definable inline" in p for p in problems)
