"""tools/check_descriptors.py: the repository is clean, and each kind of broken descriptor is reported."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_descriptors", REPO / "tools" / "check_descriptors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def test_repository_descriptors_are_clean():
    assert checker.check_all(REPO) == []


def test_connection_preset_contract():
    """The preset's parameter names and choice values are a public contract (the per-user key lives in the
    per-user-key set, every other field in the shared-key set)."""
    data = json.loads((REPO / "parameter-sets" / "connection" / "parameter-set.json").read_text())
    per_user = json.loads((REPO / "parameter-sets" / "connection-per-user" / "parameter-set.json").read_text())
    params = {p["name"]: p for p in data["params"] if p["type"] != "SEPARATOR"}
    assert "per_user_key" not in params  # a CREDENTIAL_REQUEST makes DSS ask every user, for every preset
    params["per_user_key"] = next(p for p in per_user["params"] if p.get("name") == "per_user_key")
    expected_types = {
        "style": "SELECT",
        "base_url": "STRING",
        "replica_urls": "STRINGS",
        "models": "STRINGS",
        "discover_models": "BOOLEAN",
        "organization": "STRING",
        "target_uri": "STRING",
        "replica_target_uris": "STRINGS",
        "api_version": "STRING",
        "endpoints": "OBJECT_LIST",
        "auth_scheme": "SELECT",
        "auth_header_name": "STRING",
        "auth_query_param": "STRING",
        "entra_tenant_id": "STRING",
        "oauth2_token_url": "STRING",
        "oauth2_client_id": "STRING",
        "oauth2_client_secret": "PASSWORD",
        "oauth2_scope": "STRING",
        "oauth2_audience": "STRING",
        "oauth2_client_auth": "SELECT",
        "api_key": "PASSWORD",
        "use_per_user_key": "BOOLEAN",
        "per_user_key": "CREDENTIAL_REQUEST",
        "extra_headers": "KEY_VALUE_LIST",
        "extra_query": "KEY_VALUE_LIST",
        "connect_timeout_s": "DOUBLE",
        "read_timeout_s": "DOUBLE",
        "verify_tls": "BOOLEAN",
        "ca_bundle": "STRING",
        "client_cert": "STRING",
        "client_key": "STRING",
        "proxy": "STRING",
        "max_concurrency": "INT",
        "concurrency_upper_bound": "INT",
        "requests_per_minute": "INT",
        "tokens_per_minute": "INT",
        "max_retries": "INT",
        "prices": "OBJECT_LIST",
        "streaming": "SELECT",
        "stream_usage": "BOOLEAN",
        "max_tokens_field": "SELECT",
        "system_role": "SELECT",
        "json_mode": "SELECT",
    }
    assert {name: p["type"] for name, p in params.items()} == expected_types

    def values(param):
        return [c["value"] for c in param["selectChoices"]]

    assert values(params["style"]) == ["openai", "azure"]
    assert values(params["auth_scheme"]) == [
        "bearer",
        "api_key_header",
        "custom_header",
        "query_param",
        "none",
        "oauth2_client_credentials",
        "entra_id",
    ]
    assert values(params["oauth2_client_auth"]) == ["basic", "body"]
    assert values(params["streaming"]) == ["auto", "yes", "no"]
    assert values(params["max_tokens_field"]) == ["auto", "max_tokens", "max_completion_tokens"]
    assert values(params["system_role"]) == ["system", "developer", "user"]
    assert values(params["json_mode"]) == ["auto", "json_schema", "json_object", "none"]
    sub = {p["name"]: p for p in params["endpoints"]["subParams"]}
    assert list(sub) == ["name", "kind", "deployment", "target_uri", "api_key"]
    assert values(sub["kind"]) == ["azure_deployment", "openai_v1"]
    assert params["per_user_key"]["credentialRequestSettings"]["type"] == "SINGLE_FIELD"
    defaults = {name: p.get("defaultValue") for name, p in params.items()}
    assert defaults["style"] == "openai"
    assert defaults["auth_scheme"] == "bearer"
    assert defaults["api_version"] == "2024-10-21"
    assert (defaults["connect_timeout_s"], defaults["read_timeout_s"]) == (10, 120)
    assert defaults["verify_tls"] is True and defaults["stream_usage"] is True
    assert (defaults["max_concurrency"], defaults["max_retries"]) == (0, 5)  # 0: automatic
    assert defaults["concurrency_upper_bound"] == 256
    assert (defaults["requests_per_minute"], defaults["tokens_per_minute"]) == (0, 0)
    assert data["defaultDefinableAtProjectLevel"] is True and data["defaultDefinableInline"] is False
    assert per_user["defaultDefinableAtProjectLevel"] is False and per_user["defaultDefinableInline"] is False


def test_every_component_offers_both_connection_sets_the_same_way():
    """One SELECT chooses which PRESET param is shown, one PRESET param per parameter set (the pattern of
    Dataiku's api-connect plugin); the dss layer reads the same names (preset_fields.PRESET_PARAMS)."""
    from openai_compatible.preset_fields import KEY_CHOICE_PARAM, KEY_CHOICES, PRESET_PARAMS

    paths = [p for pattern in ("custom-recipes/*/recipe.json", "python-connectors/*/connector.json",
                               "python-runnables/*/runnable.json", "python-llms/*/llm.json")
             for p in sorted(REPO.glob(pattern))]
    assert len(paths) == 8
    for path in paths:
        params = {p.get("name"): p for p in json.loads(path.read_text())["params"]}
        choice = params[KEY_CHOICE_PARAM]
        assert [c["value"] for c in choice["selectChoices"]] == list(KEY_CHOICES), path
        assert choice["defaultValue"] == "shared", path  # configs saved before the choice keep their preset
        presets = {name: p for name, p in params.items() if p["type"] == "PRESET"}
        assert {p["parameterSetId"]: name for name, p in presets.items()} == PRESET_PARAMS, path
        assert presets["connection"]["visibilityCondition"] == "model.connection_keys != 'per_user'", path
        assert presets["connection_per_user"]["visibilityCondition"] == "model.connection_keys == 'per_user'", path
        for param in params.values():
            if param.get("getChoicesFromPython"):
                assert set(param["triggerParameters"]) >= {KEY_CHOICE_PARAM, *PRESET_PARAMS.values()}, path


# A small, valid plugin; each case below breaks one thing in a copy of it.
VALID = {
    "plugin.json": {"id": "demo", "version": "0.1.0", "meta": {"label": "Demo"}},
    "parameter-sets/conn/parameter-set.json": {
        "meta": {"label": "Conn"},
        "defaultDefinableInline": False,
        "pluginParams": [],
        "params": [
            {"name": "sep", "type": "SEPARATOR", "label": "Connection"},
            {"name": "url", "type": "STRING", "label": "URL"},
            {
                "name": "key",
                "type": "CREDENTIAL_REQUEST",
                "credentialRequestSettings": {"type": "SINGLE_FIELD"},
            },
        ],
    },
    "custom-recipes/demo-prompt/recipe.json": {
        "meta": {"label": "Prompt"},
        "kind": "PYTHON",
        "selectableFromDataset": "input",
        "inputRoles": [{"name": "input", "arity": "UNARY", "required": True}],
        "outputRoles": [{"name": "output", "arity": "UNARY", "required": True}],
        "paramsPythonSetup": "choices.py",
        "params": [
            {"name": "connection", "type": "PRESET", "parameterSetId": "conn", "mandatory": True},
            {"name": "text_column", "type": "COLUMN", "columnRole": "input"},
            {"name": "model", "type": "SELECT", "getChoicesFromPython": True},
            {
                "name": "mode",
                "type": "SELECT",
                "selectChoices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
                "defaultValue": "a",
            },
        ],
    },
    "python-connectors/demo_models/connector.json": {
        "meta": {"label": "Models"},
        "readable": True,
        "params": [{"name": "connection", "type": "PRESET", "parameterSetId": "conn"}],
    },
}
CODE_FILES = [
    "custom-recipes/demo-prompt/recipe.py",
    "python-connectors/demo_models/connector.py",
    "resource/choices.py",
]


def _write_plugin(root, descriptors, raw=None, skip=()):
    for rel, data in descriptors.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=4))
    for rel, text in (raw or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel in CODE_FILES:
        if rel not in skip:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("# stub\n")


def test_valid_plugin_is_clean(tmp_path):
    _write_plugin(tmp_path, VALID)
    assert checker.check_all(tmp_path) == []


def _recipe(d):
    return d["custom-recipes/demo-prompt/recipe.json"]


def _pset(d):
    return d["parameter-sets/conn/parameter-set.json"]


def _conn(d):
    return d["python-connectors/demo_models/connector.json"]


def _unknown_type(d):
    _recipe(d)["params"][1]["type"] = "COLUMNZ"


def _duplicate_name(d):
    _recipe(d)["params"].append({"name": "mode", "type": "STRING"})


def _missing_name(d):
    _recipe(d)["params"].append({"type": "STRING", "label": "nameless"})


def _select_without_choices(d):
    del _recipe(d)["params"][3]["selectChoices"]


def _select_bad_default(d):
    _recipe(d)["params"][3]["defaultValue"] = "c"


def _preset_missing_set(d):
    _conn(d)["params"][0]["parameterSetId"] = "nope"


def _credential_request_in_recipe(d):
    _recipe(d)["params"].append(
        {"name": "k", "type": "CREDENTIAL_REQUEST", "credentialRequestSettings": {"type": "SINGLE_FIELD"}}
    )


def _duplicate_role(d):
    _recipe(d)["outputRoles"].append({"name": "input"})


def _selectable_from_missing_role(d):
    _recipe(d)["selectableFromDataset"] = "inputs"


def _column_role_missing(d):
    _recipe(d)["params"][1]["columnRole"] = "output"


def _missing_label(d):
    del _conn(d)["meta"]["label"]


def _missing_meta(d):
    del _pset(d)["meta"]


def _bad_default_type(d):
    _pset(d)["params"][1]["defaultValue"] = 3


def _python_setup_missing(d):
    _recipe(d)["paramsPythonSetup"] = "other.py"


def _choices_from_python_without_setup(d):
    del _recipe(d)["paramsPythonSetup"]


def _empty_object_list(d):
    _pset(d)["params"].append({"name": "endpoints", "type": "OBJECT_LIST"})


def _duplicate_sub_param(d):
    _pset(d)["params"].append(
        {
            "name": "endpoints",
            "type": "OBJECT_LIST",
            "subParams": [{"name": "a", "type": "STRING"}, {"name": "a", "type": "INT"}],
        }
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_unknown_type, "unknown parameter type 'COLUMNZ'"),
        (_duplicate_name, "'mode': duplicate parameter name"),
        (_missing_name, "missing 'name'"),
        (_select_without_choices, "needs 'selectChoices' or getChoicesFromPython"),
        (_select_bad_default, "not one of the choices"),
        (_preset_missing_set, "parameterSetId 'nope'"),
        (_credential_request_in_recipe, "CREDENTIAL_REQUEST is only allowed"),
        (_duplicate_role, "'input': duplicate role name"),
        (_selectable_from_missing_role, "selectableFromDataset 'inputs' is not an input role"),
        (_column_role_missing, "columnRole 'output' is not an input role"),
        (_missing_label, "missing meta.label"),
        (_missing_meta, "missing 'meta'"),
        (_bad_default_type, "does not fit type STRING"),
        (_python_setup_missing, "resource/other.py does not exist"),
        (_choices_from_python_without_setup, "getChoicesFromPython needs 'paramsPythonSetup'"),
        (_empty_object_list, "OBJECT_LIST needs a non-empty 'subParams'"),
        (_duplicate_sub_param, "subParams 'a': duplicate parameter name"),
    ],
    ids=lambda v: v.__name__.lstrip("_") if callable(v) else None,
)
def test_broken_descriptor_is_reported(tmp_path, mutate, expected):
    descriptors = copy.deepcopy(VALID)
    mutate(descriptors)
    _write_plugin(tmp_path, descriptors)
    problems = checker.check_all(tmp_path)
    assert any(expected in p for p in problems), problems


RECIPE = "custom-recipes/demo-prompt/recipe.json"
STRICT_CASES = {
    "comment": '{\n  // a comment\n  "meta": {"label": "Prompt"}, "outputRoles": [{"name": "o"}]\n}',
    "trailing_comma": '{"meta": {"label": "Prompt"}, "outputRoles": [{"name": "o"}],}',
    "nan": '{"meta": {"label": "Prompt"}, "outputRoles": [{"name": "o"}], "x": NaN}',
}


@pytest.mark.parametrize("case", sorted(STRICT_CASES))
def test_non_strict_json_is_reported(tmp_path, case):
    descriptors = {k: v for k, v in VALID.items() if k != RECIPE}
    _write_plugin(tmp_path, descriptors, raw={RECIPE: STRICT_CASES[case]})
    problems = checker.check_all(tmp_path)
    assert any(p.startswith(f"{RECIPE}: not strict JSON") for p in problems), problems


def test_duplicate_key_is_reported(tmp_path):
    text = '{"meta": {"label": "A", "label": "B"}, "outputRoles": [{"name": "o"}]}'
    descriptors = {k: v for k, v in VALID.items() if k != RECIPE}
    _write_plugin(tmp_path, descriptors, raw={RECIPE: text})
    assert f"{RECIPE}: duplicate key 'label'" in checker.check_all(tmp_path)


def test_missing_code_file_is_reported(tmp_path):
    _write_plugin(tmp_path, VALID, skip={"python-connectors/demo_models/connector.py"})
    assert "python-connectors/demo_models: missing connector.py" in checker.check_all(tmp_path)


def test_folder_without_descriptor_is_reported(tmp_path):
    _write_plugin(tmp_path, VALID)
    (tmp_path / "python-llms" / "demo-chat").mkdir(parents=True)
    assert "python-llms/demo-chat: missing llm.json" in checker.check_all(tmp_path)


def test_main_exit_codes(tmp_path, capsys):
    _write_plugin(tmp_path, VALID)
    assert checker.main([str(tmp_path)]) == 0
    assert "OK" in capsys.readouterr().out
    (tmp_path / "plugin.json").write_text('{"id": "demo", "version": "0.1.0", "meta": {}}')
    assert checker.main([str(tmp_path)]) == 1
    assert "plugin.json: missing meta.label" in capsys.readouterr().out


# --- one parameter-type list for both checkers ------------------------------------------------------------------------

def test_both_checkers_use_one_type_list():
    from localdss import params as localdss_params

    assert checker.KNOWN_PARAM_TYPES == localdss_params.KNOWN_TYPES
    assert {"STRING", "PASSWORD", "LLM", "PRESET", "CREDENTIAL_REQUEST", "KNOWLEDGE_BANK"} <= checker.KNOWN_PARAM_TYPES


@pytest.mark.parametrize("ptype", ["AGENT", "AGENT_TOOL", "MODEL_EVALUATION_STORE"])
def test_a_type_outside_the_dss_reference_is_unknown_to_both(tmp_path, ptype):
    from localdss import params as localdss_params

    descriptors = copy.deepcopy(VALID)
    _recipe(descriptors)["params"].append({"name": "picked", "type": ptype, "label": "Picked"})
    _write_plugin(tmp_path, descriptors)
    assert any(f"unknown parameter type '{ptype}'" in p for p in checker.check_all(tmp_path))
    problems = []
    localdss_params.check_descriptors([{"name": "picked", "type": ptype}], "recipe", in_parameter_set=False,
                                      problems=problems)
    assert any(f"unknown type '{ptype}'" in p for p in problems), problems
