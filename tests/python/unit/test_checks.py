"""The connection checks' rules that need no server: the API path, the scheme candidates, the registry."""
from __future__ import annotations

import pytest
from openai_compatible import Client
from openai_compatible.checks import registry
from openai_compatible.checks.auth import COMMON_HEADER
from openai_compatible.checks.context import CheckContext
from openai_compatible.checks.jsonmode import best_mode
from openai_compatible.checks.report import verdict
from openai_compatible.checks.result import CheckResult
from openai_compatible.http.prefix import lacks_version_prefix, prefix_sentence


@pytest.mark.parametrize("url, lacks", [
    ("http://127.0.0.1:8080/v1", False), ("http://h/v1/", False), ("https://h/api/v2", False),
    ("https://h/v1beta", False), ("https://h/openai/v1", False),
    ("http://127.0.0.1:8080", True), ("http://h/", True), ("https://h/v1beta/openai", True),
    ("https://h/inference", True), ("https://h/v1x2/models", True),
])
def test_version_prefix(url, lacks):
    assert lacks_version_prefix(url) is lacks


def test_prefix_sentence_shows_no_credentials():
    sentence = prefix_sentence("https://user:pw@h:8443/v1?key=s3cret")
    assert "s3cret" not in sentence and "pw" not in sentence
    assert "'https://h:8443/v1'" in sentence


def test_best_json_mode():
    assert best_mode(set()) == "auto"
    assert best_mode({"json_schema"}) == "json_object"
    assert best_mode({"json_object"}) == "json_schema"
    assert best_mode({"json_object", "json_schema"}) == "none"


def test_verdict_never_says_everything_works_after_a_failure():
    ok, fail = CheckResult("a", "A", "ok", ""), CheckResult("b", "B", "fail", "")
    assert verdict([ok]) == "Everything this preset needs works."
    assert "Everything" not in verdict([ok, fail])


def test_every_step_has_a_label_per_name_and_names_are_unique():
    names = [name for step in registry.CHECKS for name in step.names]
    assert len(names) == len(set(names))
    for step in registry.CHECKS:
        assert len(step.names) == len(step.labels) and step.names


def test_schemecandidate_schemes_skip_the_preset_scheme():
    from openai_compatible.checks.auth import candidate_schemes

    client = Client.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "api_key": "k"})
    schemes = [c[0] for c in candidate_schemes(CheckContext(client, None))]
    assert "bearer" not in schemes and "none" not in schemes
    assert schemes.count("custom_header") == 2  # the preset's header name, and x-api-key
    custom = Client.from_preset({"base_url": "http://127.0.0.1:9/v1", "models": ["m"], "api_key": "k",
                                 "auth_scheme": "custom_header", "auth_header_name": COMMON_HEADER})
    tried = candidate_schemes(CheckContext(custom, None))
    assert ("custom_header", COMMON_HEADER) not in [(c[0], c[1]) for c in tried]
    assert "bearer" in [c[0] for c in tried]
