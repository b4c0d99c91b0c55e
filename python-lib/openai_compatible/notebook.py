"""The notebook API: a connection preset by name, with no key to copy.

    import openai_compatible as oc

    client = oc.connect("my-preset")                   # the preset, looked up through the DSS API
    client.chat([{"role": "user", "content": "Hi"}], model="llama3").text
    for piece in client.stream([{"role": "user", "content": "Tell me a story"}], model="llama3"):
        print(piece, end="")
    vectors = client.embed(["a text", "another"], model="bge-m3")
    out = client.apply(df, template="Summarise: {{text}}", model="llama3")   # the prompt recipe's engine
    sdk = client.openai()                              # the official SDK, same URL, headers and key

Inside DSS the preset is read with ``dataiku.api_client()``; outside DSS, set ``DKU_DSS_URL`` and
``DKU_API_KEY``. Presets of the notebook's project come first, then instance-level ones.

Per-user keys: DSS gives a preset's per-user credential (the key each user enters under Profile &
Settings > Credentials) only to the plugin components it runs (recipes, macros, LLM Mesh models);
the public API does not return it. For a notebook, each user stores their key once as a *user
secret* (Profile > My Account > Other credentials) named ``openai-compatible:<preset name>``;
``connect`` reads it through the API client, for the user running the notebook only.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Union

from .client import Client
from .columns import ColumnLayout, typed_column
from .engine import RowEngine
from .errors import SettingsError
from .oauth2 import OAUTH2_SCHEMES
from .settings import ConnectionSettings
from .tasks.prompt import PromptSpec, PromptTask

log = logging.getLogger("openai_compatible")

_APPLY_OPTIONS = ("system_prompt", "examples", "temperature", "max_output_tokens", "top_p", "stop", "seed",
                  "output_format", "json_schema", "raw_response")


class NotebookClient(Client):
    """A :class:`Client` with notebook conveniences: :meth:`apply` on a DataFrame, and where the preset
    came from (``preset_name``, ``found_in``)."""

    preset_name: Optional[str] = None
    found_in: Optional[str] = None

    def __repr__(self) -> str:
        base = super().__repr__()
        if self.preset_name:
            return base[:-1] + f" preset={self.preset_name!r} ({self.found_in})>"
        return base

    def apply(self, df: Any, template: str, model: str, *, prefix: str = "llm", on_error: str = "record",
              concurrency: Optional[int] = None, chunk_rows: int = 1000, **options: Any) -> Any:
        """Prompts every row of ``df`` and returns a copy with the prompt recipe's output columns.

        ``template`` refers to columns as ``{{column}}``. ``options`` are the recipe's settings:
        ``system_prompt``, ``examples`` (a list of ``{"input", "output"}``), ``temperature``,
        ``max_output_tokens``, ``top_p``, ``stop``, ``seed``, ``output_format`` (``text``,
        ``json_object`` or ``json_schema``), ``json_schema`` and ``raw_response``. The added columns
        are ``<prefix>_response``, ``<prefix>_error_message``, ``<prefix>_error_type``,
        ``<prefix>_finish_reason``, token counts, model and latency (plus one column per property for
        JSON-schema output). A failed row gets its error in the error columns; ``on_error="fail"``
        raises at the first one instead. Rows keep their order and index.
        """
        import pandas as pd

        unknown = sorted(set(options) - set(_APPLY_OPTIONS))
        if unknown:
            raise SettingsError(f"apply(): unknown option(s) {', '.join(unknown)}. Known: {', '.join(_APPLY_OPTIONS)}.")
        if not isinstance(df, pd.DataFrame):
            raise SettingsError(f"apply() takes a pandas DataFrame, not {type(df).__name__}.")
        columns = [str(c) for c in df.columns]
        stop = options.get("stop") or []
        spec = PromptSpec(
            model=model, prompt_template=template, system_prompt=options.get("system_prompt") or "",
            examples=list(options.get("examples") or []), temperature=options.get("temperature"),
            max_output_tokens=options.get("max_output_tokens"), top_p=options.get("top_p"),
            stop=[stop] if isinstance(stop, str) else list(stop), seed=options.get("seed"),
            output_format=options.get("output_format") or "text", json_schema=options.get("json_schema"),
            raw_response=bool(options.get("raw_response")))
        task = PromptTask(spec, columns)
        task.check(self)  # an unknown model fails here, before any row is sent
        layout = ColumnLayout(prefix, columns, task.output_columns())
        workers = min(int(concurrency or self.settings.max_concurrency), self.settings.max_concurrency)
        engine = RowEngine(task, self, concurrency=workers, on_error=on_error, total_rows=len(df))
        records = df.rename(columns=str).to_dict("records")
        chunks = (records[i:i + chunk_rows] for i in range(0, len(records), max(1, chunk_rows)))
        outputs: list[dict] = []
        for values in engine.run(chunks):
            outputs.extend(layout.rename(v) for v in values)
        log.info("apply(): %s", engine.summary.describe())
        out = df.copy()
        for column in layout.schema():
            out[column["name"]] = typed_column([row[column["name"]] for row in outputs], column["type"], df.index)
        return out


def connect(preset: Union[str, Mapping[str, Any]], project_key: Optional[str] = None, *,
            api_client: Any = None, api_key: Optional[str] = None, **overrides: Any) -> NotebookClient:
    """A client for a connection preset.

    ``preset`` is a preset name, looked up through the DSS API (project-level presets of
    ``project_key``, by default the notebook's project, then instance-level ones), or a preset dict
    (no DSS involved). ``api_client`` is a ``dataikuapi.DSSClient`` to use instead of the default one.
    ``overrides`` replace preset fields, e.g. ``max_concurrency=4``.

    For a preset with per-user keys, your key comes from your user secret named
    ``openai-compatible:<preset name>`` (Profile > My Account > Other credentials); ``api_key``
    passes one explicitly instead (avoid pasting keys in notebooks).
    """
    if isinstance(preset, Mapping):
        config = dict(preset)
        name, where = None, "given dict"
        if api_key:
            config["per_user_key" if config.get("use_per_user_key") else "api_key"] = api_key
    elif isinstance(preset, str) and preset.strip():
        name = preset.strip()
        config, where = _lookup(name, project_key, api_client, api_key)
    else:
        raise SettingsError("connect() takes a preset name (as shown in the plugin's settings) or a preset dict.")
    settings = ConnectionSettings.from_preset(config)
    if overrides:
        settings = settings.with_overrides(**overrides)
    client = NotebookClient(settings)
    client.preset_name, client.found_in = name, where
    return client


def _lookup(name: str, project_key: Optional[str], api_client: Any, api_key: Optional[str]) -> tuple[dict, str]:
    from . import dss  # imports dataiku only when there is no other way to reach DSS

    client = dss.dss_api_client(api_client)
    key_project = dss.current_project_key(project_key)
    config, where = dss.find_connection_preset(client, name, key_project)
    secret_name = dss.user_secret_name(name)
    if api_key:
        secret = api_key
    else:
        try:
            secret = dss.user_secret(client, secret_name)
        except Exception as exc:  # secrets need a personal key (not a global API key)
            log.info("Could not read your user secrets (%s).", dss._api_error_text(exc))
            secret = None
    if _truthy(config.get("use_per_user_key")) and config.get("auth_scheme") not in ("none", *OAUTH2_SCHEMES):
        if not secret:
            raise SettingsError(
                f"The preset '{name}' ({where}) uses per-user keys. DSS hands your per-user credential only to the "
                "plugin's recipes, macros and LLM Mesh models, not to notebooks: add your key as a user secret "
                f"named '{secret_name}' (Profile > My Account > Other credentials) and call connect() again.")
        config["per_user_key"] = secret
    elif secret:
        config["api_key"] = secret  # your own key for this preset takes precedence over the shared one
    return config, where


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")

