"""Python API mirroring the CLI: each run_* validates like DSS, then runs the component in a child.

Every function returns a subprocess.CompletedProcess with the CLI's exit status: 0 success,
1 the component failed (the error is the last line of stderr), 2 invalid configuration (nothing
ran). With capture=True (the default) stdout/stderr are returned as text; with capture=False they
stream to this process's own streams.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

from localdss.columns import check_column_params
from localdss.config import Preset, resolve_config, resolve_plugin_config
from localdss.errors import EXIT_CONFIG_ERROR, ConfigError
from localdss.jsonc import load_json_object, load_jsonc
from localdss.launcher import Job, launch
from localdss.masking import mask_values
from localdss.plugin import load_plugin
from localdss.roles import RoleMap, build_flow, dataset_location

PathLike = Union[str, Path]
ObjectArg = Union[Mapping[str, Any], PathLike, None]


def _object(value: ObjectArg, what: str) -> dict[str, Any]:
    """A dict given directly, or read from a JSON file path."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return load_json_object(Path(value), what)


def _preset(value: Union[ObjectArg, Preset], name: str) -> Preset:
    """A :class:`Preset` with its values read (a bare dict or path is an instance-level preset)."""
    if isinstance(value, Preset):
        return replace(value, values=_object(value.values, f"preset file for '{name}'"))
    return Preset(_object(value, f"preset file for '{name}'"))


def _json_value(value: Any, what: str) -> Any:
    """A JSON value given directly, or read from a file when given as a pathlib.Path."""
    return load_jsonc(value, what) if isinstance(value, Path) else value


def _prepare(
    kind: str,
    component_id: str,
    config: ObjectArg,
    presets: Optional[Mapping[str, Union[ObjectArg, Preset]]],
    plugin_root: Optional[PathLike],
    plugin_config: ObjectArg,
) -> Job:
    """The job for a component: its config and presets resolved and checked as DSS does (ConfigError if not)."""
    plugin = load_plugin(plugin_root)
    component = plugin.component(kind, component_id)
    warnings: list[str] = []
    preset_values = {name: _preset(value, name) for name, value in (presets or {}).items()}
    resolved = resolve_config(plugin, component, _object(config, "config file"), preset_values, warnings)
    plugin_values = resolve_plugin_config(plugin, _object(plugin_config, "plugin config file"), warnings)
    job = Job(plugin, component, resolved, plugin_values)
    job.notes.append(f"running {component.label} of plugin '{plugin.plugin_id}' ({plugin.root})")
    job.notes.append("config: " + json.dumps(mask_values(resolved, component.params, plugin), default=str))
    job.notes.extend(f"warning: {w}" for w in warnings)
    return job


def _run(prepare: Callable[[], Job], capture: bool, timeout: Optional[float],
         env: Optional[dict[str, str]]) -> subprocess.CompletedProcess:
    """What every run_* shares: build the job (``prepare`` raises ConfigError for anything DSS would refuse),
    then run it in a child; a refused job runs nothing and exits with status 2 and the problems on stderr."""
    try:
        job = prepare()
    except ConfigError as exc:
        message = f"localdss: error: {exc}\n"
        if not capture:
            sys.stderr.write(message)
            return subprocess.CompletedProcess([], EXIT_CONFIG_ERROR)
        return subprocess.CompletedProcess([], EXIT_CONFIG_ERROR, stdout="", stderr=message)
    return launch(job, capture=capture, timeout=timeout, env=env)


def run_recipe(
    recipe_id: str,
    config: ObjectArg = None,
    presets: Optional[Mapping[str, Union[ObjectArg, Preset]]] = None,
    inputs: Optional[RoleMap] = None,
    outputs: Optional[RoleMap] = None,
    folders: Optional[RoleMap] = None,
    *,
    plugin_root: Optional[PathLike] = None,
    plugin_config: ObjectArg = None,
    capture: bool = True,
    timeout: Optional[float] = None,
    env: Optional[dict[str, str]] = None,
    partitioning: Optional[Mapping[str, Any]] = None,
    partition: Optional[str] = None,
    read_partitions: Optional[Mapping[str, Any]] = None,
    container: Optional[str] = None,
) -> subprocess.CompletedProcess:
    """Run custom-recipes/<recipe_id>/recipe.py on files. Roles map to a path or a list of paths.

    Partitions: `partitioning` maps a role to its dimension names, `partition` is the output
    partition this activity builds, `read_partitions` the partitions a partitioned input reads
    (default: the same one). `container` runs as in containerized execution: "no-path" makes
    `Folder.get_path()` raise, "missing-path" makes it return a path that does not exist here."""

    def prepare() -> Job:
        plugin = load_plugin(plugin_root)
        component = plugin.component("recipe", recipe_id)
        problems: list[str] = []
        if container not in (None, "no-path", "missing-path"):
            problems.append(f"container must be 'no-path' or 'missing-path', not {container!r}")
        try:
            flow = build_flow(component, inputs, outputs, folders, partitioning, partition, read_partitions)
        except ConfigError as exc:
            problems.extend(exc.problems)
        try:
            job = _prepare("recipe", recipe_id, config, presets, plugin_root, plugin_config)
        except ConfigError as exc:
            problems = exc.problems + problems
        if problems:
            raise ConfigError(f"invalid configuration for {component.label}", problems)
        job.flow = flow
        job.locations = flow.locations
        job.container = container
        if partition is not None:
            job.notes.append(f"building partition {partition!r}; flow variables {flow.variables}")
        warnings: list[str] = []
        check_column_params(job.component, job.config, job.flow, warnings)
        job.notes.extend(f"warning: {w}" for w in warnings)
        for location in job.locations.values():
            side = "input" if location["io"] == "in" else "output"
            job.notes.append(f"{side} role '{location['role']}': {location['fullName']} = {location['path']}")
        return job

    return _run(prepare, capture, timeout, env)


def run_partitions(recipe_id: str, partitions: Sequence[str], **kwargs: Any) -> dict[str, subprocess.CompletedProcess]:
    """Build several partitions of one recipe at once, one process each, as DSS runs one activity
    per partition in parallel. Takes run_recipe's arguments (without `partition`); returns
    {partition: result}."""
    if "partition" in kwargs:
        raise TypeError("run_partitions builds the given partitions; do not pass partition=")
    with ThreadPoolExecutor(max_workers=max(1, len(partitions))) as pool:
        futures = {p: pool.submit(run_recipe, recipe_id, partition=p, **kwargs) for p in partitions}
        return {p: f.result() for p, f in futures.items()}


def run_connector(
    connector_id: str,
    config: ObjectArg = None,
    presets: Optional[Mapping[str, Union[ObjectArg, Preset]]] = None,
    output: PathLike = "",
    limit: Optional[int] = None,
    *,
    plugin_root: Optional[PathLike] = None,
    plugin_config: ObjectArg = None,
    capture: bool = True,
    timeout: Optional[float] = None,
    env: Optional[dict[str, str]] = None,
) -> subprocess.CompletedProcess:
    """Read python-connectors/<connector_id> into `output` (.csv/.parquet + .schema.json)."""

    def prepare() -> Job:
        if not output:
            raise ConfigError("the connector needs an output file (--output OUT.csv)")
        if limit is not None and int(limit) <= 0:
            raise ConfigError(f"--limit must be a positive number of rows, got {limit}")
        job = _prepare("connector", connector_id, config, presets, plugin_root, plugin_config)
        location = dataset_location(Path(output).resolve(), "out", None)
        job.options = {"limit": int(limit) if limit else -1, "output": location}
        return job

    return _run(prepare, capture, timeout, env)


def run_macro(
    runnable_id: str,
    config: ObjectArg = None,
    presets: Optional[Mapping[str, Union[ObjectArg, Preset]]] = None,
    output: Optional[PathLike] = None,
    *,
    plugin_root: Optional[PathLike] = None,
    plugin_config: ObjectArg = None,
    capture: bool = True,
    timeout: Optional[float] = None,
    env: Optional[dict[str, str]] = None,
) -> subprocess.CompletedProcess:
    """Run python-runnables/<runnable_id>; its result goes to `output` (HTML; JSON for a .json
    table), or to stdout when no output is given."""

    def prepare() -> Job:
        job = _prepare("macro", runnable_id, config, presets, plugin_root, plugin_config)
        target = None
        if output:
            target = Path(output).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
        job.options = {"output": str(target) if target else None,
                       "result_type": job.component.descriptor.get("resultType", "HTML")}
        return job

    return _run(prepare, capture, timeout, env)


def run_llm(
    llm_id: str,
    config: ObjectArg = None,
    presets: Optional[Mapping[str, Union[ObjectArg, Preset]]] = None,
    query: Any = None,
    settings: Any = None,
    stream: bool = False,
    *,
    trace_file: Optional[PathLike] = None,
    plugin_root: Optional[PathLike] = None,
    plugin_config: ObjectArg = None,
    capture: bool = True,
    timeout: Optional[float] = None,
    env: Optional[dict[str, str]] = None,
) -> subprocess.CompletedProcess:
    """Query python-llms/<llm_id>; stdout holds one JSON result per line (see parse_json_lines).

    `query` and `settings` are JSON values (a pathlib.Path is read as a JSON file). A completion
    query is {"messages": [...]} (a bare string becomes one user message); an embedding query is
    {"queries": [{"text"}]} (a string, a list of strings or {"text"} are accepted too).
    """

    def prepare() -> Job:
        job = _prepare("llm", llm_id, config, presets, plugin_root, plugin_config)
        query_value = _json_value(query, "query file")
        if query_value is None:
            raise ConfigError("the llm command needs a query (--query QUERY.json)")
        settings_value = _json_value(settings, "settings file") or {}
        if not isinstance(settings_value, dict):
            raise ConfigError("settings must be a JSON object")
        _check_image_inputs(job.component.descriptor, query_value, llm_id)
        job.options = {"query": query_value, "settings": settings_value, "stream": bool(stream),
                       "trace_file": str(Path(trace_file).resolve()) if trace_file else None}
        return job

    return _run(prepare, capture, timeout, env)


def _check_image_inputs(descriptor: Mapping[str, Any], query: Any, llm_id: str) -> None:
    """Refuses image parts for a component whose descriptor does not declare ``"supportsImageInputs": true``.

    DSS 13.5.0 "Added support for image inputs on Custom LLM connections that implement it" (DSS release notes
    13), and the descriptor of the sibling component kind, agent.json, carries ``supportsImageInputs``
    (developer guide, plugin agent tutorial, ``agent.json``): DSS decides from the descriptor, so a component
    that does not declare it never sees an image.
    """
    if descriptor.get("supportsImageInputs") is True or not isinstance(query, dict):
        return
    for message in query.get("messages") or []:
        parts = message.get("parts") if isinstance(message, dict) else None
        for part in parts or []:
            if isinstance(part, dict) and str(part.get("type") or "").upper() in ("IMAGE_INLINE", "IMAGE_URI"):
                raise ConfigError(f"python-llms/{llm_id}/llm.json does not declare \"supportsImageInputs\": true, "
                                  "so DSS would not send it a query with images")


def parse_json_lines(text: str) -> list[Any]:
    """The results an llm run printed on stdout, one JSON value per non-empty line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def list_components(plugin_root: Optional[PathLike] = None) -> dict[str, list[str]]:
    """The plugin's component ids by kind (recipe, connector, macro, llm)."""
    from localdss.plugin import KINDS

    plugin = load_plugin(plugin_root)
    return {kind: plugin.component_ids(kind) for kind in KINDS}
