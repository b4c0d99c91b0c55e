"""Find a plugin's components and parameter sets on disk and check their descriptors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localdss.errors import ConfigError
from localdss.jsonc import load_json_object
from localdss.params import check_descriptors


@dataclass(frozen=True)
class Kind:
    """One component kind: where it lives, its descriptor and the code DSS runs."""

    name: str
    folder: str
    descriptor: str
    code: str


KINDS: dict[str, Kind] = {
    "recipe": Kind("recipe", "custom-recipes", "recipe.json", "recipe.py"),
    "connector": Kind("connector", "python-connectors", "connector.json", "connector.py"),
    "macro": Kind("macro", "python-runnables", "runnable.json", "runnable.py"),
    "llm": Kind("llm", "python-llms", "llm.json", "llm.py"),
}


@dataclass
class Component:
    """A loaded component: its folder, descriptor dict and code file."""

    kind: Kind
    component_id: str
    directory: Path
    descriptor: dict[str, Any]

    @property
    def code_path(self) -> Path:
        return self.directory / self.kind.code

    @property
    def params(self) -> list[dict[str, Any]]:
        return self.descriptor.get("params", [])

    @property
    def label(self) -> str:
        return f"{self.kind.name} '{self.component_id}'"


@dataclass
class ParameterSet:
    """A parameter set: the params a preset of it holds (plus admin-level pluginParams)."""

    set_id: str
    path: Path
    descriptor: dict[str, Any]

    @property
    def params(self) -> list[dict[str, Any]]:
        return list(self.descriptor.get("params", [])) + list(self.descriptor.get("pluginParams", []))

    @property
    def credential_requests(self) -> list[dict[str, Any]]:
        """The set's CREDENTIAL_REQUEST params: each user is asked for each of them, for each preset."""
        return [p for p in self.descriptor.get("params", []) if p.get("type") == "CREDENTIAL_REQUEST"]

    @property
    def definable_inline(self) -> bool:
        """Whether a component may hold this set's values inline instead of choosing a preset. DSS reads
        ``defaultDefinableInline`` (docs: plugins/reference/params.rst, "Preset parameters"; the developer guide's
        parameter-set template); some of Dataiku's older plugins spell it ``definableInline``. Unset counts as
        allowed here, so only a set that says no is held to it."""
        return bool(self.descriptor.get("defaultDefinableInline", self.descriptor.get("definableInline", True)))

    @property
    def definable_at_project_level(self) -> bool:
        """Whether project admins may define presets of this set (``defaultDefinableAtProjectLevel``, same
        sources); unset counts as allowed."""
        return bool(self.descriptor.get("defaultDefinableAtProjectLevel", True))


@dataclass
class Plugin:
    """A plugin tree on disk (the repo root by default)."""

    root: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def plugin_id(self) -> str:
        return str(self.manifest.get("id", self.root.name))

    @property
    def python_lib(self) -> Path:
        return self.root / "python-lib"

    @property
    def resource_folder(self) -> Path:
        return self.root / "resource"

    @property
    def params(self) -> list[dict[str, Any]]:
        return self.manifest.get("params", [])

    def component_ids(self, kind: str) -> list[str]:
        """The ids of the components of a kind (folders holding the kind's descriptor)."""
        spec = KINDS[kind]
        base = self.root / spec.folder
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / spec.descriptor).is_file())

    def component(self, kind: str, component_id: str) -> Component:
        """Load and check a component's descriptor; ConfigError when missing or invalid."""
        spec = KINDS[kind]
        directory = self.root / spec.folder / component_id
        descriptor_path = directory / spec.descriptor
        if not descriptor_path.is_file():
            available = ", ".join(self.component_ids(kind)) or "none"
            raise ConfigError(
                f"no {kind} '{component_id}' in {self.root / spec.folder} (available: {available})"
            )
        descriptor = load_json_object(descriptor_path, f"{kind} descriptor")
        if not (directory / spec.code).is_file():
            raise ConfigError(f"{kind} '{component_id}' has no {spec.code} in {directory}")
        problems: list[str] = []
        where = f"{spec.folder}/{component_id}/{spec.descriptor}"
        check_descriptors(descriptor.get("params", []), where, in_parameter_set=False, problems=problems)
        for desc in descriptor.get("params", []):
            if isinstance(desc, dict) and desc.get("type") in ("PRESET", "PRESETS"):
                set_id = desc.get("parameterSetId")
                if isinstance(set_id, str) and not self._parameter_set_path(set_id).is_file():
                    problems.append(f"{where}: param '{desc.get('name')}' uses unknown parameter set {set_id!r}")
        if kind == "recipe":
            _check_roles(descriptor, where, problems)
        if problems:
            raise ConfigError(f"invalid descriptor {descriptor_path}", problems)
        return Component(spec, component_id, directory, descriptor)

    def _parameter_set_path(self, set_id: str) -> Path:
        return self.root / "parameter-sets" / set_id / "parameter-set.json"

    def parameter_set(self, set_id: str) -> ParameterSet:
        """Load and check a parameter set; ConfigError when missing or invalid."""
        path = self._parameter_set_path(set_id)
        descriptor = load_json_object(path, "parameter set")
        problems: list[str] = []
        where = f"parameter-sets/{set_id}/parameter-set.json"
        for key in ("params", "pluginParams"):  # pluginParams are admin settings: no per-user credential there
            check_descriptors(descriptor.get(key, []), f"{where} {key}", in_parameter_set=key == "params",
                              problems=problems)
        if problems:
            raise ConfigError(f"invalid parameter set {path}", problems)
        return ParameterSet(set_id, path, descriptor)


def _check_roles(descriptor: dict[str, Any], where: str, problems: list[str]) -> None:
    for key in ("inputRoles", "outputRoles"):
        roles = descriptor.get(key, [])
        if not isinstance(roles, list) or not all(isinstance(r, dict) and r.get("name") for r in roles):
            problems.append(f"{where}: '{key}' must be a list of objects with a 'name'")
            continue
        for role in roles:
            if role.get("arity", "UNARY") not in ("UNARY", "NARY"):
                problems.append(f"{where}: role '{role['name']}' has arity {role.get('arity')!r}")


def default_plugin_root() -> Path:
    """The repo root: the parent of the localdss package."""
    return Path(__file__).resolve().parent.parent


def load_plugin(root: str | Path | None = None) -> Plugin:
    """The plugin at `root` (default: the repo root), with plugin.json checked."""
    path = Path(root).resolve() if root is not None else default_plugin_root()
    manifest_path = path / "plugin.json"
    if not manifest_path.is_file():
        raise ConfigError(f"no plugin.json in {path}; pass --plugin-root DIR")
    manifest = load_json_object(manifest_path, "plugin.json")
    problems: list[str] = []
    check_descriptors(manifest.get("params", []), "plugin.json", in_parameter_set=False, problems=problems)
    if problems:
        raise ConfigError(f"invalid {manifest_path}", problems)
    return Plugin(path, manifest)
