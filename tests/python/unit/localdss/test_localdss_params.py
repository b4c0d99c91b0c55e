"""Descriptor checks and config resolution, in process (no child)."""

from __future__ import annotations

from localdss_testkit import FIXTURE

from localdss.jsonc import strip_comments
from localdss.masking import MASK, mask_values
from localdss.params import check_descriptors, resolve_values
from localdss.plugin import load_plugin


def resolve(params, given, reject_unknown=False):
    problems: list[str] = []
    warnings: list[str] = []
    out = resolve_values(params, given, where="test", reject_unknown=reject_unknown, problems=problems,
                         warnings=warnings)
    return out, problems, warnings


def test_strip_comments_keeps_strings() -> None:
    text = '{"a": "http://x/*y*/", // c\n "b": 1 /* d */}'
    assert strip_comments(text).replace(" ", "").replace("\n", "") == '{"a":"http://x/*y*/","b":1}'


def test_defaults_and_int_as_float() -> None:
    params = [{"name": "n", "type": "INT", "defaultValue": 4}, {"name": "d", "type": "DOUBLE", "defaultValue": 1},
              {"name": "m", "type": "INT"}, {"name": "xs", "type": "INTS"}]
    out, problems, _ = resolve(params, {"m": 3.0, "xs": [1, 2]})
    assert problems == []
    assert out == {"n": 4.0, "d": 1.0, "m": 3.0, "xs": [1.0, 2.0]}
    assert all(isinstance(out[k], float) for k in ("n", "d", "m"))


def test_type_errors_name_the_param() -> None:
    params = [{"name": "n", "type": "INT", "minI": 1, "maxI": 10}, {"name": "b", "type": "BOOLEAN"},
              {"name": "s", "type": "STRING"}, {"name": "k", "type": "PASSWORD"}]
    _, problems, _ = resolve(params, {"n": 2.5, "b": "yes", "s": 3, "k": 12345})
    assert any("'n'" in p and "integer" in p for p in problems)
    assert any("'b'" in p for p in problems)
    assert any("'s'" in p and "string" in p for p in problems)
    assert not any("12345" in p for p in problems)  # a secret's value never shows
    _, problems, _ = resolve(params, {"n": 11})
    assert problems == ["test: parameter 'n' must be <= 10, got 11"]
    _, problems, _ = resolve(params, {"n": True})
    assert "expects a number" in problems[0]


def test_select_choices_and_dynamic_choices() -> None:
    params = [{"name": "c", "type": "SELECT", "selectChoices": [{"value": "a"}, {"value": "b"}]},
              {"name": "dyn", "type": "SELECT", "getChoicesFromPython": True},
              {"name": "multi", "type": "MULTISELECT", "selectChoices": [{"value": "x"}]}]
    _, problems, _ = resolve(params, {"c": "z", "dyn": "anything", "multi": ["x", "y"]})
    assert len(problems) == 2
    assert "'z' is not one of the choices ['a', 'b']" in problems[0]
    assert "'y'" in problems[1]


def test_mandatory_even_when_hidden() -> None:
    # DSS does not document skipping a hidden mandatory param: localdss asks for it, the stricter reading
    choices = [{"value": "a"}, {"value": "b"}]
    params = [{"name": "style", "type": "SELECT", "defaultValue": "a", "selectChoices": choices},
              {"name": "url_a", "type": "STRING", "mandatory": True, "visibilityCondition": "model.style == 'a'"},
              {"name": "url_b", "type": "STRING", "mandatory": True, "visibilityCondition": "model.style == 'b'"}]
    _, problems, _ = resolve(params, {"url_a": "http://a", "url_b": "http://b"})
    assert problems == []
    _, problems, _ = resolve(params, {"url_a": "http://a"})
    assert problems == ["test: parameter 'url_b' is mandatory but has no value"]


def test_unknown_keys_warn_or_reject() -> None:
    params = [{"name": "a", "type": "STRING"}]
    out, problems, warnings = resolve(params, {"a": "x", "old": 1})
    assert out["old"] == 1 and problems == [] and "'old'" in warnings[0]
    _, problems, _ = resolve(params, {"old": 1}, reject_unknown=True)
    assert "unknown parameter 'old'" in problems[0]


def test_object_list_sub_params_and_credentials() -> None:
    params = [
        {"name": "eps", "type": "OBJECT_LIST", "subParams": [{"name": "name", "type": "STRING", "mandatory": True},
                                                             {"name": "w", "type": "INT", "defaultValue": 1}]},
        {"name": "basic", "type": "CREDENTIAL_REQUEST", "credentialRequestSettings": {"type": "BASIC"}},
        {"name": "single", "type": "CREDENTIAL_REQUEST", "credentialRequestSettings": {"type": "SINGLE_FIELD"}},
    ]
    out, problems, _ = resolve(params, {"eps": [{"name": "m1"}, {}], "basic": {"username": "u", "password": "p"},
                                        "single": "tok"})
    assert out["eps"][0] == {"name": "m1", "w": 1.0}
    assert out["basic"] == {"user": "u", "password": "p"}
    assert out["single"] == "tok"
    assert problems == ["test: eps[1]: parameter 'name' is mandatory but has no value"]
    _, problems, _ = resolve(params, {"single": {"value": "x"}})
    assert "SINGLE_FIELD credential expects a string" in problems[0]


def test_descriptor_problems() -> None:
    problems: list[str] = []
    check_descriptors([
        {"name": "a", "type": "STRNG"},
        {"name": "b", "type": "CREDENTIAL_REQUEST", "credentialRequestSettings": {"type": "SINGLE_FIELD"}},
        {"name": "c", "type": "INT", "defaultValue": "4"},
        {"name": "c", "type": "STRING"},
        {"name": "d", "type": "SELECT"},
        {"type": "SEPARATOR", "label": "fine"},
    ], "desc", in_parameter_set=False, problems=problems)
    text = "\n".join(problems)
    assert "unknown type 'STRNG'" in text
    assert "only allowed in parameter sets" in text
    assert "invalid defaultValue" in text
    assert "duplicate param name 'c'" in text
    assert "selectChoices" in text
    assert len(problems) == 5


def test_masking_secrets_in_presets() -> None:
    plugin = load_plugin(FIXTURE)
    component = plugin.component("recipe", "fixture-upper")
    config = {"column": "text", "connection": {
        "api_key": "k1", "user_key": "k2", "basic_login": {"user": "u", "password": "p"}, "base_url": "http://x",
        "extra_headers": [{"from": "Authorization", "to": "Bearer k3"}, {"from": "X-Trace", "to": "on"}],
        "endpoints": [{"name": "m", "api_key": "k4"}]}}
    masked = mask_values(config, component.params, plugin)
    conn = masked["connection"]
    assert conn["api_key"] == conn["user_key"] == conn["basic_login"] == MASK
    assert conn["extra_headers"] == [{"from": "Authorization", "to": MASK}, {"from": "X-Trace", "to": "on"}]
    assert conn["endpoints"] == [{"name": "m", "api_key": MASK}]
    assert conn["base_url"] == "http://x" and masked["column"] == "text"
    assert config["connection"]["api_key"] == "k1"  # the original is untouched
