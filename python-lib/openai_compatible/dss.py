"""The bridge to DSS: the only module of the plugin that imports ``dataiku`` (lazily, so that notebooks
outside DSS only need ``dataikuapi``).

It turns a component's config into validated settings, runs a task over an input dataset in chunks
(writing the output progressively, with column descriptions), and keeps the answer cache in a managed
folder. Components call one function here and stay a few lines long.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from .client import Client
from .columns import ColumnLayout, typed_column
from .dss_cache import FolderStore
from .dss_io import input_frames, write_output_schema
from .engine import RowEngine
from .errors import SettingsError
from .tasks.base import Task

log = logging.getLogger("openai_compatible")


def setup_logging() -> None:
    """Job-log friendly logging for the plugin's own messages."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("openai_compatible").setLevel(logging.INFO)


def preset_from_config(config: Mapping[str, Any], name: str = "connection") -> dict:
    """The resolved preset of the ``name`` PRESET parameter, or a clear error when none is chosen."""
    preset = config.get(name)
    if not preset:
        raise SettingsError(f"Parameter '{name}' is empty: choose an 'OpenAI-compatible connection' preset "
                            "(an admin defines presets in the plugin's settings, or a project admin in the "
                            "project's plugin presets).")
    if not isinstance(preset, Mapping):
        raise SettingsError(f"Parameter '{name}' must be a preset, not {type(preset).__name__}.")
    return dict(preset)


def optional_int(config: Mapping[str, Any], name: str, minimum: int = 0) -> Optional[int]:
    """An INT parameter, None when unset (DSS sends unset INTs as None, '' or 0, and INTs as floats)."""
    value = config.get(name)
    if value in (None, "", 0, 0.0):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"Parameter '{name}' must be a whole number, not {value!r}.") from None
    if not number.is_integer() or number < minimum:
        raise SettingsError(f"Parameter '{name}' must be a whole number of at least {minimum}, not {value!r}.")
    return int(number)


def optional_float(config: Mapping[str, Any], name: str, low: float, high: float) -> Optional[float]:
    """A DOUBLE parameter within [low, high], None when unset."""
    value = config.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"Parameter '{name}' must be a number, not {value!r}.") from None
    if not low <= number <= high:
        raise SettingsError(f"Parameter '{name}' must be between {low:g} and {high:g}, not {number:g}.")
    return number


def client_for(config: Mapping[str, Any], name: str = "connection") -> Client:
    """A client for the component's preset, with the component's lower limits applied."""
    client = Client.from_preset(preset_from_config(config, name))
    s = client.settings
    for field, path in (("ca_bundle", s.ca_bundle if s.verify_tls else ""), ("client_cert", s.client_cert),
                        ("client_key", s.client_key)):
        if path and not os.path.exists(path):  # else every row would fail on it, one request attempt at a time
            client.close()
            raise SettingsError(f"Preset field '{field}': there is no file '{path}' on the machine running this job. "
                                "Give a path that exists there (in a container image for containerized execution).")
    overrides: dict[str, int] = {}
    concurrency = optional_int(config, "max_concurrency", 1)
    if concurrency and concurrency < client.settings.max_concurrency:
        overrides["max_concurrency"] = concurrency
    rpm = optional_int(config, "requests_per_minute", 1)
    if rpm and (not client.settings.requests_per_minute or rpm < client.settings.requests_per_minute):
        overrides["requests_per_minute"] = rpm
    if overrides:
        client.close()
        client = Client(client.settings.with_overrides(**overrides))
    return client


def run_row_recipe(build_task: Callable[[Mapping[str, Any], Sequence[str]], Task], *,
                   input_role: str = "input", output_role: str = "output", cache_role: str = "cache",
                   chunk_rows: int = 1000) -> None:
    """Runs a row task from a custom recipe: validates everything, then streams the input through the
    engine and writes the output chunk by chunk. Every input row yields exactly one output row."""
    import pandas as pd

    setup_logging()
    import dataiku
    from dataiku.customrecipe import get_input_names_for_role, get_output_names_for_role, get_recipe_config

    config = get_recipe_config()
    input_dataset = dataiku.Dataset(get_input_names_for_role(input_role)[0])
    output_dataset = dataiku.Dataset(get_output_names_for_role(output_role)[0])
    input_schema = input_dataset.read_schema()
    input_columns = [c["name"] for c in input_schema]
    client = client_for(config)
    task = build_task(config, input_columns)  # validates parameters against the input, before any request
    task.check(client)
    layout = ColumnLayout(config.get("output_prefix") or "llm", input_columns, task.output_columns())
    on_error = config.get("on_error") or "record"
    rows_limit = optional_int(config, "rows_limit", 1)
    concurrency = client.settings.max_concurrency
    input_chunks = input_frames(input_dataset, input_schema, max(chunk_rows, 4 * concurrency), rows_limit)
    cache_names = get_output_names_for_role(cache_role) if cache_role else []
    folder_store = FolderStore(dataiku.Folder(cache_names[0]), output_dataset) if cache_names else None
    engine = RowEngine(task, client, concurrency=concurrency, on_error=on_error, total_rows=rows_limit,
                       store=folder_store.store if folder_store else None)
    log.info("Running on %s with %s, concurrency %d%s%s.", input_dataset.full_name, client, concurrency,
             f", {client.settings.requests_per_minute} requests/min" if client.settings.requests_per_minute else "",
             ", with the answer cache" if folder_store else "")
    write_output_schema(output_dataset, list(input_schema) + layout.schema())
    frames: deque = deque()

    def row_chunks() -> Iterator[list]:
        for frame in input_chunks:
            frame = frame.reset_index(drop=True)
            frames.append(frame)
            yield frame.to_dict("records")

    types = {c["name"]: c["type"] for c in layout.schema()}
    try:
        with output_dataset.get_writer() as writer:
            for outputs in engine.run(row_chunks()):
                frame = frames.popleft()
                renamed = [layout.rename(v) for v in outputs]
                added = pd.DataFrame({name: typed_column([r[name] for r in renamed], types[name]) for name in types})
                writer.write_dataframe(pd.concat([frame, added], axis=1))
    finally:
        client.close()
        if folder_store:
            folder_store.close()
    summary = engine.summary
    log.info("Summary: %s", summary.describe())
    if summary.failed:
        log.warning("%d of %d rows have an error; see the '%s' and '%s' columns.", summary.failed, summary.rows,
                    layout.names["error_message"], layout.names["error_type"])


def prompt_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The prompt recipe's parameters as a validated :class:`PromptTask`."""
    from .tasks.prompt import PromptSpec, PromptTask

    examples = config.get("examples") or []
    if not isinstance(examples, list):
        raise SettingsError("Parameter 'examples' must be a list of input/output pairs.")
    stop = config.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    spec = PromptSpec(
        model=str(config.get("model") or ""),
        prompt_template=config.get("prompt_template") or "",
        system_prompt=config.get("system_prompt") or "",
        examples=examples,
        temperature=optional_float(config, "temperature", 0.0, 2.0),
        max_output_tokens=optional_int(config, "max_output_tokens", 1),
        top_p=optional_float(config, "top_p", 0.0, 1.0),
        stop=[str(s) for s in stop if s],
        seed=optional_int(config, "seed", 0),
        output_format=config.get("output_format") or "text",
        json_schema=config.get("json_schema"),
        raw_response=bool(config.get("raw_response")),
    )
    return PromptTask(spec, input_columns)


def model_choices(config: Mapping[str, Any], purpose: str = "chat") -> dict:
    """Choices for a component's ``model`` parameter: the chosen preset's models or endpoints."""
    from .dss_choices import model_choices as choices

    return choices(config, preset_from_config)


def classify_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The classify recipe's parameters as a validated :class:`ClassifyTask`."""
    from .tasks.classify import ClassifySpec, ClassifyTask

    examples = config.get("examples") or []
    if not isinstance(examples, list):
        raise SettingsError("Parameter 'examples' must be a list of text/label pairs.")
    spec = ClassifySpec(
        model=str(config.get("model") or ""),
        classes=config.get("classes") or [],
        text_column=str(config.get("text_column") or ""),
        text_template=str(config.get("text_template") or ""),
        multi_label=bool(config.get("multi_label")),
        allow_none=bool(config.get("allow_none")),
        explanation=bool(config.get("explanation")),
        examples=examples,
    )
    return ClassifyTask(spec, input_columns)


def embed_task_from_config(config: Mapping[str, Any], input_columns: Sequence[str]) -> Task:
    """The embed recipe's parameters as a validated :class:`EmbedTask`."""
    from .tasks.embed import EmbedSpec, EmbedTask

    spec = EmbedSpec(
        model=str(config.get("model") or ""),
        text_column=str(config.get("text_column") or ""),
        batch_size=optional_int(config, "batch_size", 1) or 32,
        dimensions=optional_int(config, "dimensions", 1),
        too_long=str(config.get("too_long") or "error"),
    )
    return EmbedTask(spec, input_columns)


def generate_task_from_config(config: Mapping[str, Any]) -> Any:
    """The generate connector's parameters as a validated :class:`GenerateTask`."""
    from .tasks.generate import GenerateSpec, GenerateTask

    rows = optional_int(config, "rows", 1)
    if rows is None:
        raise SettingsError("Parameter 'rows' is empty: give the number of rows to generate.")
    spec = GenerateSpec(model=str(config.get("model") or ""), prompt=str(config.get("prompt") or ""),
                        row_schema=config.get("row_schema"), rows=rows)
    return GenerateTask(spec)


# --- connection test macro ------------------------------------------------------------------------

def connection_test_report(config: Mapping[str, Any], progress: Optional[Callable[[int], None]] = None) -> str:
    """The test-connection macro: runs the checks on the config's preset (and optional model) and
    returns the HTML report. A preset that doesn't validate gives a one-row report saying why.
    ``progress(done)`` is the macro's progress callback (out of ``check.CHECK_STEPS``)."""
    from .check import CheckResult, render_html, run_checks

    setup_logging()
    try:
        client = Client.from_preset(preset_from_config(config))
    except SettingsError as exc:
        return render_html([CheckResult("preset", "Preset", "fail", f"The preset is invalid: {exc}",
                                        "fix the preset field named above")])
    model = str(config.get("model") or "").strip()
    with client:
        results = run_checks(client, [model] if model else None, progress)
    return render_html(results, client.settings)


# --- notebook API: presets through the DSS API client ----------------------------------------------

PLUGIN_ID = "openai-compatible"
PARAMETER_SET_ID = "connection"


def user_secret_name(preset_name: str) -> str:
    """The name of the user secret ("Other credentials") holding a notebook user's key for a preset."""
    return f"{PLUGIN_ID}:{preset_name}"


def dss_api_client(api_client: Any = None) -> Any:
    """The DSS API client: ``api_client`` if given; outside DSS a ``dataikuapi.DSSClient`` built from the
    ``DKU_DSS_URL`` and ``DKU_API_KEY`` environment variables; inside DSS ``dataiku.api_client()``."""
    if api_client is not None:
        return api_client
    url, key = os.environ.get("DKU_DSS_URL"), os.environ.get("DKU_API_KEY")
    if url and key:
        import dataikuapi

        return dataikuapi.DSSClient(url, key, no_check_certificate=bool(os.environ.get("DKU_NO_CHECK_CERTIFICATE")))
    try:
        import dataiku
    except ImportError:
        raise SettingsError("Outside DSS, set DKU_DSS_URL and DKU_API_KEY (or pass api_client=) to reach DSS; "
                            "inside DSS the notebook's own credentials are used.") from None
    return dataiku.api_client()


def current_project_key(project_key: Optional[str] = None) -> Optional[str]:
    """``project_key``, else the notebook's project (``DKU_CURRENT_PROJECT_KEY``), else None."""
    if project_key:
        return project_key
    if os.environ.get("DKU_CURRENT_PROJECT_KEY"):
        return os.environ["DKU_CURRENT_PROJECT_KEY"]
    try:
        import dataiku

        return dataiku.default_project_key() or None
    except Exception:  # outside a project (or outside DSS)
        return None


def find_connection_preset(api_client: Any, name: str, project_key: Optional[str] = None,
                           plugin_id: str = PLUGIN_ID) -> tuple[dict, str]:
    """The raw config of the connection preset ``name`` and where it was found ("project KEY" or
    "instance"). Project-level presets come first. Raises :class:`SettingsError` listing the presets
    that exist, or saying which lookup was refused."""
    plugin = api_client.get_plugin(plugin_id)
    problems: list[str] = []
    available: list[str] = []
    places: list[tuple[str, Callable[[], Any]]] = []
    if project_key:
        places.append((f"project {project_key}", lambda: plugin.get_project_settings(project_key)))
    places.append(("instance", plugin.get_settings))
    for where, read in places:
        try:
            parameter_set = read().get_parameter_set(PARAMETER_SET_ID)
        except Exception as exc:  # dataikuapi raises DataikuException (no status) for refusals
            problems.append(f"reading the {where} presets failed ({_api_error_text(exc)})")
            continue
        if parameter_set is None:
            problems.append(f"the plugin '{plugin_id}' has no '{PARAMETER_SET_ID}' parameter set at {where} level")
            continue
        preset = parameter_set.get_preset(name)
        if preset is not None:
            raw = preset.get_raw() if hasattr(preset, "get_raw") else dict(preset)
            config = dict(raw.get("pluginConfig") or {})
            config.update(raw.get("config") or {})
            return config, where
        available += [f"{n} ({where})" for n in parameter_set.list_preset_names()]
    message = f"No OpenAI-compatible connection preset named '{name}'"
    message += f" in project {project_key} or at instance level." if project_key else " at instance level."
    if available:
        message += " Presets you can read: " + ", ".join(available) + "."
    if problems:
        message += " Note: " + "; ".join(problems) + ". Reading presets needs an API key with admin rights, " \
                   "the permission to develop plugins, or admin rights on the plugin (project admin for " \
                   "project-level presets)."
    raise SettingsError(message)


def user_secret(api_client: Any, secret_name: str) -> Optional[str]:
    """The value of the calling user's secret ``secret_name`` (Profile > My Account > Other
    credentials), or None."""
    info = api_client.get_auth_info(with_secrets=True)
    for secret in info.get("secrets") or []:
        if isinstance(secret, Mapping) and (secret.get("key") or secret.get("name")) == secret_name:
            return secret.get("value") or None
    return None


def _api_error_text(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]
