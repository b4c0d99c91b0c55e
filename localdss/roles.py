"""Map `--input/--output/--folder ROLE=PATH` onto a recipe's roles: the flow spec and file locations.

A dataset is named after its file stem (characters DSS refuses become `_`); its full name is
`LOCALPROJECT.<name>`. A dataset is a .csv or .parquet file; its schema lives beside it in
`<stem>.schema.json`. A managed folder is a directory named after its basename.

Partitions (discrete dimensions): a partitioned dataset is a directory holding one `<partition
id>.csv` file per partition (its schema in `<dir>.schema.json` beside it); a partitioned folder
keeps each partition under `<values joined by />/`, the default layout Dataiku's dkulib assumes when
no file path pattern is set (`partitions_handling.complete_file_path_pattern`). A partition id
joins the dimension values with `|`, as DSS does. One activity builds one output partition and reads
its dependencies (by default the same partition: DSS's "Equals" dependency).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
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


def partitioning_of(dimensions: Sequence[str] | str | None) -> dict[str, Any] | None:
    """DSS's partitioning record for discrete dimensions given as names (or "a,b")."""
    if not dimensions:
        return None
    names = [d.strip() for d in (dimensions.split(",") if isinstance(dimensions, str) else dimensions)]
    if not all(re.fullmatch(r"[A-Za-z0-9_]+", d) for d in names):
        raise ConfigError(f"partition dimension names {names} must be letters, digits or _")
    return {"dimensions": [{"name": d, "type": "value"} for d in names]}


def dataset_location(path: Path, io: str, role: str | None = None,
                     partitioning: dict[str, Any] | None = None) -> dict[str, Any]:
    """The location record the stand-in `dataiku` package reads for one dataset."""
    fmt = "csv" if partitioning else FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"dataset file {path} must end in .csv or .parquet")
    name = object_name(path.stem)
    location = {
        "type": "DATASET", "name": name, "fullName": f"{PROJECT_KEY}.{name}", "path": str(path),
        "format": fmt, "schemaPath": str(schema_path(path)), "io": io, "role": role,
    }
    if partitioning:
        location["partitioning"] = partitioning
    return location


def folder_location(path: Path, io: str, role: str | None = None,
                    partitioning: dict[str, Any] | None = None) -> dict[str, Any]:
    """The location record for one managed folder."""
    name = object_name(path.name)
    location = {"type": "MANAGED_FOLDER", "name": name, "fullName": f"{PROJECT_KEY}.{name}", "path": str(path),
                "io": io, "role": role}
    if partitioning:
        location["partitioning"] = partitioning
    return location


def dimension_values(partition: str, partitioning: dict[str, Any], what: str) -> dict[str, str]:
    """{dimension: value} of a partition id ("FR" or "FR|2024"); ConfigError when it does not fit."""
    names = [d["name"] for d in partitioning["dimensions"]]
    values = str(partition).split("|")
    if len(values) != len(names) or not all(values):
        raise ConfigError(f"partition {partition!r} of {what} needs one value per dimension {names}, joined by '|'")
    return dict(zip(names, values))


@dataclass
class Flow:
    """What a recipe run reads and writes: the DSS flow spec plus where each object lives."""

    spec: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"in": [], "out": []})
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # DSS's flow variables (DKUFLOW_VARIABLES)

    def add(self, location: dict[str, Any], partitions: Any = None) -> None:
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
            self.spec["in"].append({**entry, "partitions": partitions})
        else:
            self.spec["out"].append({**entry, "partition": partitions})


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
    component: Component, inputs: RoleMap | None, outputs: RoleMap | None, folders: RoleMap | None,
    partitioning: Mapping[str, Sequence[str] | str] | None = None, partition: str | None = None,
    read_partitions: Mapping[str, Sequence[str]] | None = None,
) -> Flow:
    """Check the mapping against recipe.json's roles and return the flow; ConfigError on any mismatch.

    `partitioning` maps a role to its dimension names, `partition` is the output partition this
    activity builds, `read_partitions` maps a partitioned input role to the partitions it reads
    (default: `[partition]`, DSS's "Equals" dependency)."""
    in_roles, out_roles = _roles(component, "inputRoles"), _roles(component, "outputRoles")
    problems: list[str] = []
    flow = Flow()
    given: dict[tuple[str, str], int] = {}
    try:
        parts = {role: partitioning_of(dims) for role, dims in (partitioning or {}).items()}
    except ConfigError as exc:
        raise ConfigError(f"invalid partitioning for {component.label}", [str(exc)]) from None
    unknown = sorted(set(parts) - set(in_roles) - set(out_roles))
    if unknown:
        problems.append(f"partitioning given for unknown role(s) {unknown}")

    def partitions_for(io: str, role_name: str) -> Any:
        if not parts.get(role_name):
            return None
        if io == "out":
            return partition
        reads = (read_partitions or {}).get(role_name)
        return list(reads) if reads else ([partition] if partition else None)

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
                exists = path.is_dir() if parts.get(role_name) else path.is_file()
                if io == "in" and not exists:
                    kind = "directory of partitions" if parts.get(role_name) else "file"
                    problems.append(f"input dataset {kind} not found for role {role_name!r}: {path}")
                    continue
                try:
                    flow.add(dataset_location(path, io, role_name, parts.get(role_name)),
                             partitions_for(io, role_name))
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
                flow.add(folder_location(path, io, role_name, parts.get(role_name)), partitions_for(io, role_name))
            except ConfigError as exc:
                problems.append(str(exc))

    for io, roles in (("in", in_roles), ("out", out_roles)):
        for role_name, role in roles.items():
            if role.get("required", False) and not given.get((io, role_name)):
                option = "--input" if io == "in" else "--output"
                option = option if role.get("acceptsDataset", True) else "--folder"
                problems.append(f"{'input' if io == 'in' else 'output'} role {role_name!r} is required: "
                                f"give {option} {role_name}=PATH")
    _check_partitions(flow, partition, problems)
    if problems:
        raise ConfigError(f"invalid inputs/outputs for {component.label}", problems)
    return flow


def _check_partitions(flow: Flow, partition: str | None, problems: list[str]) -> None:
    """DSS's partitioning rules for one activity, and the flow variables it sets."""
    entries = {e["fullName"]: e for e in flow.spec["in"] + flow.spec["out"]}
    outputs = [loc for loc in flow.locations.values() if loc["io"] == "out"]
    partitioned_out = [loc for loc in outputs if loc.get("partitioning")]
    # DSS, partitions/recipes.rst: "all output datasets must have the same partitioning schema;
    # the same partition will be computed for all target datasets".
    schemes = {json.dumps(loc.get("partitioning")) for loc in outputs if loc["type"] == "DATASET"}
    if len(schemes) > 1:
        problems.append("all output datasets of a recipe must have the same partitioning (DSS builds the same "
                        "partition of each); partition them alike")
    if partition is not None and not partitioned_out:
        problems.append(f"partition {partition!r} given but no output is partitioned")
    if partitioned_out and partition is None:
        problems.append(f"output role {partitioned_out[0]['role']!r} is partitioned: give the partition to build")
    for loc in flow.locations.values():
        if not loc.get("partitioning"):
            continue
        ids = [entries[loc["fullName"]].get("partition")] if loc["io"] == "out" else \
            entries[loc["fullName"]].get("partitions")
        if loc["io"] == "in" and not ids:
            problems.append(f"input role {loc['role']!r} is partitioned: give the partitions it reads")
            continue
        try:
            values = [dimension_values(i, loc["partitioning"], f"role {loc['role']!r}") for i in ids if i is not None]
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        # DSS, partitions/variables.rst: DKU_DST_<dimension> for the target partition;
        # DKU_SRC_<dataset>_<dimension> for an input read on one partition, and DKU_SRC_<dimension>
        # when there is only one source dataset.
        if loc["io"] == "out" and values:
            flow.variables.update({f"DKU_DST_{d}": v for d, v in values[0].items()})
        elif loc["io"] == "in" and len(values) == 1:
            flow.variables.update({f"DKU_SRC_{loc['name']}_{d}": v for d, v in values[0].items()})
            if sum(1 for x in flow.locations.values() if x["io"] == "in" and x["type"] == "DATASET") == 1:
                flow.variables.update({f"DKU_SRC_{d}": v for d, v in values[0].items()})
