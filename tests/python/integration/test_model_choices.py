"""The model dropdown (paramsPythonSetup) when the service misbehaves: one attempt, a readable notice."""
from __future__ import annotations

from openai_compatible.dss import model_choices

from tests.servers.fault_server import Fault, when_route


def test_service_down_gives_one_readable_choice_after_one_attempt(fault_server):
    fault_server.add_rule(Fault.error(503), when_route("models"))
    preset = {"base_url": fault_server.url, "discover_models": True, "max_retries": 5}
    choices = model_choices({"connection": preset})["choices"]
    assert len(choices) == 1 and choices[0]["value"] == ""
    assert choices[0]["label"].startswith("⚠ Could not list the models") and "503" in choices[0]["label"]
    assert fault_server.calls_to("models") == 1  # no retries while the user waits on the form


def test_listed_models_survive_a_failed_discovery_and_the_dataset_form_wrapper(fault_server):
    fault_server.add_rule(Fault.error(503), when_route("models"))
    preset = {"base_url": fault_server.url, "discover_models": True, "models": ["m1", "m2"]}
    wrapped = {"config": {"connection": preset}}  # the shape Dataiku's osisoft dataset scripts unwrap
    assert [c["value"] for c in model_choices(wrapped)["choices"]] == ["m1", "m2"]


def test_missing_preset_says_so():
    choices = model_choices({})["choices"]
    assert choices[0]["label"].startswith("⚠ Choose or fix the connection first: Parameter 'connection' is empty")
