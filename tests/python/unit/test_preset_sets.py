"""The two connection parameter sets in the dss layer: which PRESET param a component's config chooses, a
per-user-key preset read as one, and a shared-key preset saved with the retired per-user switch refused."""
from __future__ import annotations

import pytest
from openai_compatible import ConnectionSettings
from openai_compatible.dss import model_choices, preset_from_config
from openai_compatible.dss.choices import form_config
from openai_compatible.dss.preset_sets import chosen_set, settings_dict
from openai_compatible.errors import SettingsError

BASE = {"base_url": "http://gw.example:8000/v1", "models": ["m"]}


def test_the_shared_key_preset_is_the_default_choice():
    assert chosen_set({}) == ("connection", "connection")
    assert chosen_set({"connection_keys": "shared"}) == ("connection", "connection")
    assert chosen_set({"connection_keys": "per_user"}) == ("connection_per_user", "connection-per-user")
    with pytest.raises(SettingsError, match="'connection_keys' is 'mine'"):
        chosen_set({"connection_keys": "mine"})


def test_a_config_saved_before_the_choice_keeps_its_preset():
    preset = preset_from_config({"connection": dict(BASE, api_key="sk-shared")})
    assert ConnectionSettings.from_preset(preset).api_key == "sk-shared"


def test_the_per_user_preset_sends_the_users_key():
    config = {"connection_keys": "per_user", "connection": dict(BASE, api_key="sk-shared"),
              "connection_per_user": dict(BASE, per_user_key="sk-alice")}
    settings = ConnectionSettings.from_preset(preset_from_config(config))
    assert settings.per_user_key and settings.api_key == "sk-alice"


def test_a_per_user_preset_without_the_users_key_says_where_to_enter_it():
    config = {"connection_keys": "per_user", "connection_per_user": dict(BASE)}
    with pytest.raises(SettingsError, match="Profile & Settings > Credentials"):
        ConnectionSettings.from_preset(preset_from_config(config))


@pytest.mark.parametrize(("config", "words"), [
    ({}, ["'connection' is empty", "'OpenAI-compatible connection'", "project's plugin presets"]),
    ({"connection_keys": "per_user", "connection": BASE},
     ["'connection_per_user' is empty", "'OpenAI-compatible connection, per-user keys'", "Credentials"]),
])
def test_an_empty_choice_names_the_param_and_the_set(config, words):
    with pytest.raises(SettingsError) as caught:
        preset_from_config(config)
    assert all(w in str(caught.value) for w in words), str(caught.value)


@pytest.mark.parametrize("flag", [True, "true"])
def test_a_shared_key_preset_with_the_retired_switch_is_refused(flag):
    preset = dict(BASE, base_url="https://user:pw-0001@gw.example:8443/v1", api_key="sk-shared-0002",
                  use_per_user_key=flag)
    with pytest.raises(SettingsError) as caught:
        preset_from_config({"connection": preset})
    message = str(caught.value)
    for words in ("chosen in parameter 'connection'", "https://gw.example:8443/v1", "Per-user keys (retired)",
                  "'OpenAI-compatible connection, per-user keys'", "Profile & Settings > Credentials",
                  "'connection_keys': 'per_user'", "untick", "nothing was sent"):
        assert words in message, words
    assert "pw-0001" not in message and "sk-shared-0002" not in message


def test_the_retired_switch_names_the_preset_when_its_name_is_known():
    expected = (r"^The preset 'old-gw' \(instance; service http://gw.example:8000/v1\) "
                r"is an 'OpenAI-compatible connection'")
    with pytest.raises(SettingsError, match=expected):
        settings_dict(dict(BASE, use_per_user_key=True), "connection", name="old-gw", where="instance")
    assert settings_dict(dict(BASE, use_per_user_key=False), "connection") == dict(BASE, use_per_user_key=False)
    # the per-user-key set has no such switch: its presets are per-user by being in it
    assert settings_dict(BASE, "connection-per-user")["use_per_user_key"] is True


def test_the_model_list_reads_the_chosen_preset():
    config = {"connection_keys": "per_user", "connection_per_user": dict(BASE, models=["mine-1"],
                                                                         per_user_key="sk-alice")}
    assert form_config({"config": config}) is config  # the dataset form's wrapping is undone
    assert model_choices(config) == {"choices": [{"value": "mine-1", "label": "mine-1"}]}
    refused = model_choices({"connection": dict(BASE, use_per_user_key=True)})["choices"]
    assert len(refused) == 1 and "Per-user keys (retired)" in refused[0]["label"]
