"""Map `--input/--output/--folder ROLE=PATH` onto a recipe's roles: the flow spec and file locations.

A dataset is named after its file stem (characters DSS refuses become `_`); its full name is
`LOCALPROJECT.<name>`. A dataset is a .csv or .parquet file; its schema lives beside it in
`<stem>.schema.json`. A managed folder is a directory named after its basename.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from localdss.errors import ConfigError
from localdss.plugin import Component

PROJECT_KEY = "LOCALPROJECT"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

PathLike = Union[str, Path]
RoleMap = Mapping[str, Union[PathLike, Iterable[PathLike]]]


def object_name(text: str) -> str:
    """The DSS name of a dataset or folder made from a file stem or directory name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text) or "unnamed"


def schema_path(path: Path) -> Path:
    """Where a dataset's schema is kept: `<stem>.schema.json` beside the data file."""
    return path.with_name(path.stem + ".schema.json")


def dataset_location(path: Path, io: str, role: str | None = None) -> dict[str, Any]:
    """The location record the stand-in `dataiku` package reads for one dataset."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"dataset file {path} must end in .csv or .parquet")
    name = object_name(path.stem)
    return {
        "type": "DATASET", "name": name, "fullName": f"{PROJECT_KEY}.{name}", "path": str(path),
        "format": fmt, "schemaPath": str(schema_path(path)), "io": io, "role": role,
    }


def folder_location(path: Path, io: str, role: str | None = None) -> dict[str, Any]:
    """The location record for one managed folder."""
    name = object_name(path.name)
    return {"type": "MANAGED_FOLDER", "name": name, "fullName": f"{PROJECT_KEY}.{name}", "path": str(path),
            "io": io, "role": role}


@dataclass
class Flow:
    """What a recipe run reads and writes: the DSS flow spec plus where each object lives."""

    spec: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"in": [], "out": []})
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, location: dict[str, Any]) -> None:
        full_name = location["fullName"]
        if full_name in self.locations:
            raise ConfigError(
                f"two inputs/outputs are both named {location['name']!r} ({self.locations[full_name]['path']} and "
                f"{location['path']}); DSS names must be unique in a project: rename one file"
            )
        self.locations[full_name] = location
        entry = {"role": location["role"], "fullName": full_name, "smartName": location["name"],
                 "type": location["type"]}
        if location["io"] == "in":
            self.spec["in"].append({**entry, "partitions": None})
        else:
            self.spec["out"].append({**entry, "partition": None})


def _paths(value: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(value, (str, Path)):
        return [Path(value).resolve()]
    return [Path(v).resolve() for v in value]


def _roles(component: Component, key: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in component.descriptor.get(key, [])}


def _check_arity(role: dict[str, Any], count: int, what: str, problems: list[str]) -> None:
    if role.get("arity", "UNARY") == "UNARY" and count > 1:
        problems.append(f"{what} role '{role['name']}' takes one item (arity UNARY), got {count}")


def build_flow(
    component: Component, inputs: RoleMap | None, outputs: RoleMap | None, folders: RoleMap | None
) -> Flow:
    """Check the mapping against recipe.json's roles and return the flow; ConfigError on any mismatch."""
    in_roles, out_roles = _roles(component, "inputRoles"), _roles(component, "outputRoles")
    problems: list[str] = []
    flow = Flow()
    given: dict[tuple[str, str], int] = {}

    for io, mapping, roles in (("in", inputs or {}, in_roles), ("out", outputs or {}, out_roles)):
        what = "input" if io == "in" else "output"
        for role_name, value in mapping.items():
            role = roles.get(role_name)
            if role is None:
                problems.append(f"unknown {what} role {role_name!r}; {component.label} {what} roles: "
                                f"{', '.join(roles) or 'none'}")
                continue
            if not role.get("acceptsDataset", True):
                problems.append(f"{what} role {role_name!r} takes managed folders: use --folder {role_name}=DIR")
                continue
            paths = _paths(value)
            _check_arity(role, len(paths), what, problems)
            given[(io, role_name)] = len(paths)
            for path in paths:
                if io == "in" and not path.is_file():
                    problems.append(f"input dataset file not found for role {role_name!r}: {path}")
                    continue
                try:
                    flow.add(dataset_location(path, io, role_name))
                except ConfigError as exc:
                    problems.append(str(exc))

    for role_name, value in (folders or {}).items():
        matches = [(io, roles[role_name]) for io, roles in (("in", in_roles), ("out", out_roles)) if role_name in roles]
        if not matches:
            problems.append(f"unknown folder role {role_name!r}; {component.label} roles: "
                            f"{', '.join([*in_roles, *out_roles]) or 'none'}")
            continue
        if len(matches) > 1:
            problems.append(f"role {role_name!r} is both an input and an output role; cannot tell which")
            continue
        io, role = matches[0]
        if not role.get("acceptsManagedFolder", False):
            option = "--input" if io == "in" else "--output"
            problems.append(f"role {role_name!r} does not accept managed folders: use {option}")
            continue
        paths = _paths(value)
        _check_arity(role, len(paths), "folder", problems)
        given[(io, role_name)] = given.get((io, role_name), 0) + len(paths)
        for path in paths:
            if io == "in" and not path.is_dir():
                problems.append(f"input folder not found for role {role_name!r}: {path}")
                continue
            try:
                flow.add(folder_location(path, io, role_name))
            except ConfigError as exc:
                problems.append(str(exc))

    for io, roles in (("in", in_roles), ("out", out_roles)):
        for role_name, role in roles.items():
            if role.get("required", False) and not given.get((io, role_name)):
                option = "--input" if io == "in" else "--output"
                option = option if role.get("acceptsDataset", True) else "--folder"
                problems.append(f"{'input' if io == 'in' else 'output'} role {role_name!r} is required: "
                                f"give {option} {role_name}=PATH")
    if problems:
        raise ConfigError(f"invalid inputs/outputs for {component.label}", problems)
    return flow
