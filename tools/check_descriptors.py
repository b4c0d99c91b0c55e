#!/usr/bin/env python3
"""Check the plugin's DSS descriptors before packaging.

Usage: python tools/check_descriptors.py [PLUGIN_ROOT]

DSS itself tolerates comments in descriptors, but this project keeps them strict JSON, and DSS only
reports most descriptor mistakes (a PRESET pointing at a missing parameter set, a SELECT without
choices, a recipe role that does not exist...) when someone opens the component in the UI. This
script finds them at build time. It prints one line per problem, ``path: what is wrong``, and exits
with status 1, or prints a one-line summary and exits 0.

Importable: ``check_all(root) -> list[str]``. Standard library only.
"""

import json
import re
import sys
from pathlib import Path

# Parameter types: one list, shared with localdss (tools/dss_param_types.py); this folder is put on the path so
# that the import works both when this file runs as a script and when a test loads it by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dss_param_types import KNOWN_TYPES as KNOWN_PARAM_TYPES  # noqa: E402

CHOICE_TYPES = frozenset({"SELECT", "MULTISELECT"})
CREDENTIAL_TYPES = frozenset({"SINGLE_FIELD", "BASIC", "OAUTH2"})
LLM_PURPOSES = frozenset(
    {
        "GENERIC_COMPLETION",
        "TEXT_EMBEDDING_EXTRACTION",
        "IMAGE_EMBEDDING_EXTRACTION",
        "IMAGE_GENERATION",
        "IMAGE_INPUT",
    }
)
RESULT_TYPES = frozenset({"NONE", "HTML", "FOLDER_FILE", "FILE", "URL", "RESULT_TABLE"})
MACRO_ROLE_TYPES = frozenset(
    {
        "DATASET",
        "DATASETS",
        "API_SERVICE",
        "API_SERVICE_VERSION",
        "BUNDLE",
        "VISUAL_ANALYSIS",
        "SAVED_MODEL",
        "MANAGED_FOLDER",
        "PROJECT_MACROS",
        "PROJECT_CREATOR",
    }
)
ROLE_ARITIES = frozenset({"UNARY", "NARY"})
SELECTABLE_FROM = ("selectableFromDataset", "selectableFromFolder", "selectableFromSavedModel")

PLUGIN_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$")

# (folder, descriptor file, code file) for every kind of component folder.
COMPONENT_KINDS = (
    ("parameter-sets", "parameter-set.json", None),
    ("custom-recipes", "recipe.json", "recipe.py"),
    ("python-connectors", "connector.json", "connector.py"),
    ("python-runnables", "runnable.json", "runnable.py"),
    ("python-llms", "llm.json", "llm.py"),
)


class _Component:
    """What the checks of one descriptor need to know."""

    def __init__(self, rel, kind, folder, data):
        self.rel = rel
        self.kind = kind  # "plugin", "parameter-set", "recipe", "connector", "runnable", "llm"
        self.folder = folder
        self.data = data


def _load_strict(path, problems, rel):
    """Parse ``path`` as strict JSON; report every problem under ``rel``. Returns the value or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{rel}: not UTF-8 ({exc})")
        return None
    except OSError as exc:
        problems.append(f"{rel}: cannot be read ({exc})")
        return None

    duplicates = []

    def pairs_hook(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    def reject_constant(name):
        raise ValueError(f"{name} is not valid JSON")

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        hint = ""
        if re.search(r"^\s*(//|/\*)", text, flags=re.MULTILINE):
            hint = " (comments are not allowed)"
        elif re.search(r",\s*[}\]]", text):
            hint = " (trailing comma?)"
        problems.append(f"{rel}: not strict JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}")
        return None
    except ValueError as exc:
        problems.append(f"{rel}: not strict JSON: {exc}")
        return None
    for key in duplicates:
        problems.append(f"{rel}: duplicate key {key!r}")
    if not isinstance(value, dict):
        problems.append(f"{rel}: top level must be a JSON object")
        return None
    return value


def _check_meta(comp, problems):
    meta = comp.data.get("meta")
    if not isinstance(meta, dict):
        problems.append(f"{comp.rel}: missing 'meta' object")
        return
    label = meta.get("label")
    if not isinstance(label, str) or not label.strip():
        problems.append(f"{comp.rel}: missing meta.label")


def _check_plugin_json(comp, problems):
    data = comp.data
    plugin_id = data.get("id")
    if not isinstance(plugin_id, str) or not PLUGIN_ID_RE.match(plugin_id):
        problems.append(f"{comp.rel}: 'id' must be a non-empty string of letters, digits, '-' and '_'")
    version = data.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        problems.append(f"{comp.rel}: 'version' must look like X.Y.Z, got {version!r}")


def _default_type_ok(ptype, value):
    """Whether a defaultValue has the JSON shape DSS hands over for this parameter type."""
    if value is None:
        return True
    number = (int, float)
    if ptype in ("STRING", "TEXTAREA", "PASSWORD", "DATE"):
        return isinstance(value, str)
    if ptype == "BOOLEAN":
        return isinstance(value, bool)
    if ptype == "INT":
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "DOUBLE":
        return isinstance(value, number) and not isinstance(value, bool)
    if ptype == "STRINGS":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if ptype in ("INTS", "DOUBLES", "ARRAY", "MULTISELECT", "COLUMNS", "OBJECT_LIST", "KEY_VALUE_LIST"):
        return isinstance(value, list)
    if ptype == "MAP":
        return isinstance(value, dict)
    return True


def _check_params(comp, params, where, ctx, problems):
    """Check one list of parameters (``where`` names it in messages, e.g. 'params')."""
    if params is None:
        return
    if not isinstance(params, list):
        problems.append(f"{comp.rel}: '{where}' must be a list")
        return
    names = {}
    for index, param in enumerate(params):
        if not isinstance(param, dict):
            problems.append(f"{comp.rel}: {where}[{index}] must be an object")
            continue
        ptype = param.get("type")
        name = param.get("name")
        label = f"{where}[{index}]" if not isinstance(name, str) else f"{where} '{name}'"
        if ptype not in KNOWN_PARAM_TYPES:
            problems.append(f"{comp.rel}: {label}: unknown parameter type {ptype!r}")
        if name is None:
            if ptype != "SEPARATOR":
                problems.append(f"{comp.rel}: {label}: missing 'name'")
        elif not isinstance(name, str) or not name:
            problems.append(f"{comp.rel}: {label}: 'name' must be a non-empty string")
        elif name in names:
            problems.append(f"{comp.rel}: {label}: duplicate parameter name")
        else:
            names[name] = param
        for key in ("mandatory", "getChoicesFromPython", "disableAutoReload"):
            if key in param and not isinstance(param[key], bool):
                problems.append(f"{comp.rel}: {label}: '{key}' must be true or false")
        visibility = param.get("visibilityCondition")
        if visibility is not None and not isinstance(visibility, (str, bool)):
            problems.append(f"{comp.rel}: {label}: 'visibilityCondition' must be a string or a boolean")
        if ptype in KNOWN_PARAM_TYPES and "defaultValue" in param:
            if not _default_type_ok(ptype, param["defaultValue"]):
                problems.append(
                    f"{comp.rel}: {label}: defaultValue {param['defaultValue']!r} does not fit type {ptype}"
                )
        _check_param_kind(comp, param, ptype, label, ctx, problems)

    for param in names.values():
        if param.get("type") in ("DATASET_COLUMN", "DATASET_COLUMNS"):
            ref = param.get("datasetParamName")
            if ref not in names or names[ref].get("type") not in ("DATASET", "DATASETS"):
                problems.append(
                    f"{comp.rel}: {where} '{param['name']}': datasetParamName {ref!r} is not a DATASET "
                    "parameter of this component"
                )


def _check_param_kind(comp, param, ptype, label, ctx, problems):
    """Checks that depend on the parameter's type."""
    if ptype in CHOICE_TYPES:
        choices = param.get("selectChoices")
        if param.get("getChoicesFromPython") is True:
            if not comp.data.get("paramsPythonSetup"):
                problems.append(
                    f"{comp.rel}: {label}: getChoicesFromPython needs 'paramsPythonSetup' in the descriptor"
                )
        elif not isinstance(choices, list) or not choices:
            problems.append(f"{comp.rel}: {label}: {ptype} needs 'selectChoices' or getChoicesFromPython")
        if isinstance(choices, list):
            values = []
            for choice in choices:
                if not isinstance(choice, dict) or "value" not in choice:
                    problems.append(f"{comp.rel}: {label}: every choice needs a 'value'")
                    continue
                if choice["value"] in values:
                    problems.append(f"{comp.rel}: {label}: duplicate choice value {choice['value']!r}")
                values.append(choice["value"])
            default = param.get("defaultValue")
            if ptype == "SELECT" and default is not None and values and default not in values:
                problems.append(f"{comp.rel}: {label}: defaultValue {default!r} is not one of the choices")
    elif ptype in ("PRESET", "PRESETS"):
        set_id = param.get("parameterSetId")
        if not isinstance(set_id, str) or not set_id:
            problems.append(f"{comp.rel}: {label}: {ptype} needs 'parameterSetId'")
        elif set_id not in ctx["parameter_sets"]:
            problems.append(
                f"{comp.rel}: {label}: parameterSetId {set_id!r} has no parameter-sets/{set_id}/parameter-set.json"
            )
    elif ptype == "CREDENTIAL_REQUEST":
        if comp.kind != "parameter-set" or ctx.get("scope") != "params":
            problems.append(f"{comp.rel}: {label}: CREDENTIAL_REQUEST is only allowed in a parameter set's params")
        settings = param.get("credentialRequestSettings")
        if not isinstance(settings, dict) or settings.get("type") not in CREDENTIAL_TYPES:
            problems.append(
                f"{comp.rel}: {label}: credentialRequestSettings.type must be one of "
                f"{', '.join(sorted(CREDENTIAL_TYPES))}"
            )
    elif ptype in ("COLUMN", "COLUMNS"):
        role = param.get("columnRole")
        if comp.kind != "recipe":
            problems.append(f"{comp.rel}: {label}: {ptype} parameters only work in recipes")
        elif not isinstance(role, str) or role not in ctx["input_roles"]:
            problems.append(f"{comp.rel}: {label}: columnRole {role!r} is not an input role of this recipe")
    elif ptype == "OBJECT_LIST":
        sub = param.get("subParams")
        if not isinstance(sub, list) or not sub:
            problems.append(f"{comp.rel}: {label}: OBJECT_LIST needs a non-empty 'subParams' list")
        else:
            _check_params(comp, sub, f"{label} subParams", dict(ctx, scope="subParams"), problems)
    elif ptype == "LLM":
        purpose = param.get("llmUsagePurpose")
        if purpose is not None and purpose not in LLM_PURPOSES:
            problems.append(f"{comp.rel}: {label}: unknown llmUsagePurpose {purpose!r}")


def _check_roles(comp, problems):
    """Recipe roles; returns the set of input role names."""
    data = comp.data
    inputs = set()
    seen = set()
    for key in ("inputRoles", "outputRoles"):
        roles = data.get(key, [])
        if not isinstance(roles, list):
            problems.append(f"{comp.rel}: '{key}' must be a list")
            continue
        for index, role in enumerate(roles):
            if not isinstance(role, dict):
                problems.append(f"{comp.rel}: {key}[{index}] must be an object")
                continue
            name = role.get("name")
            if not isinstance(name, str) or not name:
                problems.append(f"{comp.rel}: {key}[{index}]: missing role 'name'")
                continue
            if name in seen:
                problems.append(f"{comp.rel}: {key} '{name}': duplicate role name")
            seen.add(name)
            if key == "inputRoles":
                inputs.add(name)
            arity = role.get("arity")
            if arity is not None and arity not in ROLE_ARITIES:
                problems.append(f"{comp.rel}: {key} '{name}': arity must be UNARY or NARY, got {arity!r}")
    if not data.get("outputRoles"):
        problems.append(f"{comp.rel}: a recipe needs at least one output role")
    for key in SELECTABLE_FROM:
        if key in data and data[key] not in inputs:
            problems.append(f"{comp.rel}: {key} {data[key]!r} is not an input role")
    return inputs


def _check_runnable(comp, problems):
    data = comp.data
    result_type = data.get("resultType")
    if result_type is not None and result_type not in RESULT_TYPES:
        problems.append(f"{comp.rel}: unknown resultType {result_type!r}")
    roles = data.get("macroRoles", [])
    if not isinstance(roles, list):
        problems.append(f"{comp.rel}: 'macroRoles' must be a list")
        return
    for index, role in enumerate(roles):
        if not isinstance(role, dict) or role.get("type") not in MACRO_ROLE_TYPES:
            problems.append(f"{comp.rel}: macroRoles[{index}]: unknown macro role type")


def _check_python_setup(comp, root, problems):
    setup = comp.data.get("paramsPythonSetup")
    if setup is None:
        return
    if not isinstance(setup, str) or not setup:
        problems.append(f"{comp.rel}: 'paramsPythonSetup' must be a file name in resource/")
    elif not (root / "resource" / setup).is_file():
        problems.append(f"{comp.rel}: paramsPythonSetup file resource/{setup} does not exist")


def _discover(root, problems):
    """Find every descriptor; returns a list of (rel, kind, folder, path)."""
    found = [("plugin.json", "plugin", root, root / "plugin.json")]
    if not (root / "plugin.json").is_file():
        problems.append("plugin.json: missing")
        found = []
    kinds = {
        "parameter-sets": "parameter-set",
        "custom-recipes": "recipe",
        "python-connectors": "connector",
        "python-runnables": "runnable",
        "python-llms": "llm",
    }
    for folder_name, descriptor, code in COMPONENT_KINDS:
        base = root / folder_name
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
            rel_folder = f"{folder_name}/{folder.name}"
            path = folder / descriptor
            if not path.is_file():
                problems.append(f"{rel_folder}: missing {descriptor}")
                continue
            if code and not (folder / code).is_file():
                problems.append(f"{rel_folder}: missing {code}")
            found.append((f"{rel_folder}/{descriptor}", kinds[folder_name], folder, path))
    return found


def check_all(root):
    """Check every descriptor under the plugin root; returns the problems as 'path: what is wrong'."""
    root = Path(root)
    problems = []
    components = []
    for rel, kind, folder, path in _discover(root, problems):
        data = _load_strict(path, problems, rel)
        if data is not None:
            components.append(_Component(rel, kind, folder, data))
    desc = root / "code-env" / "python" / "desc.json"
    if desc.is_file():
        _load_strict(desc, problems, "code-env/python/desc.json")

    parameter_sets = {c.folder.name for c in components if c.kind == "parameter-set"}
    for comp in components:
        _check_meta(comp, problems)
        input_roles = set()
        if comp.kind == "plugin":
            _check_plugin_json(comp, problems)
        elif comp.kind == "recipe":
            input_roles = _check_roles(comp, problems)
        elif comp.kind == "runnable":
            _check_runnable(comp, problems)
        _check_python_setup(comp, root, problems)
        ctx = {"parameter_sets": parameter_sets, "input_roles": input_roles}
        _check_params(comp, comp.data.get("params"), "params", dict(ctx, scope="params"), problems)
        if comp.kind == "parameter-set":
            _check_params(
                comp, comp.data.get("pluginParams"), "pluginParams", dict(ctx, scope="pluginParams"), problems
            )
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    problems = check_all(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_descriptors: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_descriptors: OK, {len(_discover(root, []))} descriptors checked in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
