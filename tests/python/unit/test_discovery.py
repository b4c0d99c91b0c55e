"""Model discovery: reading a GET /models answer, its errors, and where it is not offered."""
from __future__ import annotations

import pytest
from openai_compatible import Client, OpenAICompatibleError, SettingsError, UnknownModelError
from openai_compatible.http.discovery import model_entries

from tests.servers.fault_server import Fault


def test_a_model_is_named_by_its_id_else_its_model_field_else_its_name():
    answer = {"data": [{"id": "a", "model": "b", "name": "c"}, {"model": "llama3", "name": "Llama 3"},
                       {"name": "only-a-name"}, "bare-string", {"object": "model"}]}
    assert [m["id"] for m in model_entries(answer)] == ["a", "llama3", "only-a-name", "bare-string"]
    assert model_entries(answer)[1]["name"] == "Llama 3"  # the other fields are kept


def test_a_failed_discovery_says_it_was_the_models_list(fault_server):
    fault_server.add_rule(Fault.error(500), when=lambda req: req.route == "models")
    with Client.from_preset({"base_url": fault_server.url, "discover_models": True, "max_retries": 0}) as client:
        with pytest.raises(OpenAICompatibleError, match="GET /models"):
            client.discover_models()


def test_azure_style_presets_offer_no_discovery():
    preset = {"style": "azure", "target_uri": "https://res.example.com",
              "endpoints": [{"name": "gpt", "deployment": "gpt-4o"}]}
    with Client.from_preset(preset) as client, pytest.raises(SettingsError) as caught:
        client.discover_models()
    assert str(caught.value) == ("Model discovery needs an OpenAI-style preset; Azure-style presets list "
                                 "endpoints.")


def test_a_failed_discovery_with_listed_models_warns_and_keeps_the_list(fault_server, caplog):
    fault_server.add_rule(Fault.error(500), when=lambda req: req.route == "models")
    preset = {"base_url": fault_server.url, "models": ["listed"], "discover_models": True, "max_retries": 0}
    with caplog.at_level("WARNING", logger="openai_compatible"), Client.from_preset(preset) as client:
        assert client.models() == ["listed"]
    assert "Model discovery failed; using the preset's list only." in [r.getMessage() for r in caplog.records]


def test_a_models_list_sent_as_a_bare_json_array_is_read(fault_server):
    # some servers answer GET /models with the list itself instead of {"data": [...]}
    fault_server.add_rule(Fault.error(200, [{"id": "alpha"}, {"id": "beta"}]), when=lambda req: req.route == "models")
    with Client.from_preset({"base_url": fault_server.url, "discover_models": True, "max_retries": 0}) as client:
        assert [m["id"] for m in client.discover_models()] == ["alpha", "beta"]


def test_a_model_the_refreshed_list_no_longer_offers_is_unknown_while_a_listed_one_stays(fault_server):
    fault_server.add_rule(Fault.error(200, {"data": [{"id": "alpha"}]}), when=lambda req: req.route == "models",
                          times=1)
    fault_server.add_rule(Fault.error(200, {"data": [{"id": "beta"}]}), when=lambda req: req.route == "models")
    preset = {"base_url": fault_server.url, "models": ["listed"], "discover_models": True, "max_retries": 0}
    with Client.from_preset(preset) as client:
        assert client.endpoint_for("alpha").name == "alpha"
        assert client.endpoint_for("listed") is client.endpoint_for("listed")  # found once, kept
        client.discover_models(refresh=True)
        with pytest.raises(UnknownModelError, match="alpha"):
            client.endpoint_for("alpha")
        assert client.endpoint_for("listed").name == "listed"


@pytest.mark.parametrize("model", [["listed"], None, ("listed",), ""])
@pytest.mark.parametrize("discover", [False, True])
def test_a_model_that_is_not_a_name_is_refused_as_no_model_given_each_time(fault_server, model, discover):
    preset = {"base_url": fault_server.url, "models": ["listed"], "discover_models": discover, "max_retries": 0}
    with Client.from_preset(preset) as client:
        for _ in range(2):  # the second time too: nothing about it was kept
            with pytest.raises(SettingsError, match="No model given"):
                client.endpoint_for(model)
        assert client.endpoint_for("listed").name == "listed"


def test_a_model_name_of_a_str_subclass_is_served_like_its_text(fault_server):
    class Name(str):  # as numpy.str_ or a pandas cell may hand it over
        pass

    preset = {"base_url": fault_server.url, "models": ["listed"], "max_retries": 0}
    with Client.from_preset(preset) as client:
        assert client.endpoint_for(Name("listed")) == client.endpoint_for("listed")
        assert client.endpoint_for(Name("listed")).name == "listed"
