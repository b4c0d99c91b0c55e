"""In-process use of the stand-in `dataiku`, for unit tests of code that imports it (e.g. python-lib's
DSS layer) without spawning a component.

    with localdss.session(inputs={"input": "in.csv"}, outputs={"output": "out.csv"}) as flow:
        import dataiku
        df = dataiku.Dataset(flow.names["input"][0]).get_dataframe()

The environment variables and sys.path entry are restored on exit; imported modules stay (they
read the environment when called, so the next session sees its own datasets).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from localdss.launcher import RUNTIME_DIR
from localdss.roles import PROJECT_KEY, Flow, RoleMap, _paths, dataset_location, folder_location, partitioning_of


@dataclass
class Session:
    """The flow of an in-process session; `names[role]` lists the full names given for a role."""

    flow: Flow
    names: dict[str, list[str]] = field(default_factory=dict)


def _add(session: Session, roles: Optional[RoleMap], io: str, folder: bool,
         partitioning: Mapping[str, Any], partition: Optional[str]) -> None:
    for role, value in (roles or {}).items():
        part = partitioning_of(partitioning.get(role))
        for path in _paths(value):
            location = (folder_location if folder else dataset_location)(path, io, role, part)
            session.flow.add(location, None if not part or partition is None else
                             (partition if io == "out" else [partition]))
            session.names.setdefault(role, []).append(location["fullName"])


@contextlib.contextmanager
def session(
    inputs: Optional[RoleMap] = None,
    outputs: Optional[RoleMap] = None,
    input_folders: Optional[RoleMap] = None,
    output_folders: Optional[RoleMap] = None,
    *,
    config: Optional[Mapping[str, Any]] = None,
    plugin_config: Optional[Mapping[str, Any]] = None,
    resource_folder: Optional[str] = None,
    in_recipe: bool = True,
    partitioning: Optional[Mapping[str, Any]] = None,
    partition: Optional[str] = None,
) -> Iterator[Session]:
    """Make `import dataiku` give the stand-in, with these roles backed by files (no validation).
    `partitioning` maps roles to dimension names; `partition` is the partition the flow reads and
    writes (None: the whole dataset, as outside a recipe)."""
    current = Session(Flow())
    _add(current, inputs, "in", False, partitioning or {}, partition)
    _add(current, outputs, "out", False, partitioning or {}, partition)
    _add(current, input_folders, "in", True, partitioning or {}, partition)
    _add(current, output_folders, "out", True, partitioning or {}, partition)
    values = {
        "DKU_CURRENT_PROJECT_KEY": PROJECT_KEY,
        "LOCALDSS_LOCATIONS": json.dumps(current.flow.locations),
        "DKU_CUSTOM_RECIPE_CONFIG": json.dumps(dict(config or {})),
        "DKU_CUSTOM_RECIPE_PLUGIN_CONFIG": json.dumps(dict(plugin_config or {})),
        "DKU_CUSTOM_RESOURCE_FOLDER": str(Path(resource_folder).resolve()) if resource_folder else "",
        "DKUFLOW_SPEC": json.dumps(current.flow.spec) if in_recipe else None,
    }
    saved = {name: os.environ.get(name) for name in values}
    added_path = str(RUNTIME_DIR) not in sys.path
    if added_path:
        sys.path.insert(0, str(RUNTIME_DIR))
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield current
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if added_path and str(RUNTIME_DIR) in sys.path:
            sys.path.remove(str(RUNTIME_DIR))
