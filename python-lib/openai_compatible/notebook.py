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
from typing import Any, Mapping, Optional, Sequence, Union

from .client import Client
from .columns import ColumnLayout, typed_column
from .dss.presets import notebook_preset
from .engine import RowEngine
from .errors import SettingsError
from .settings import ConnectionSettings
from .tasks.prompt import PromptSpec, PromptTask

log = logging.getLogger("openai_compatible")

_APPLY_OPTIONS = ("system_prompt", "examples", "temperature", "max_output_tokens", "top_p", "stop", "seed",
                  "output_format", "json_schema", "raw_response")


class NotebookClient:
    """A connection for notebooks: the :class:`Client` calls (``chat``, ``stream``, ``embed``,
    ``models``, ``openai``...), :meth:`apply` on a DataFrame, and where the preset came from
    (``preset_name``, ``found_in``). ``client`` is the underlying :class:`Client`, for code that needs
    one (tasks, :func:`openai_compatible.models.list_models`).

    Built by :func:`connect`; ``NotebookClient(settings)`` or ``NotebookClient(client)`` also work.
    Close it (or use ``with``) to free its connections.
    """

    def __init__(self, client: Union[Client, ConnectionSettings], *, preset_name: Optional[str] = None,
                 found_in: Optional[str] = None) -> None:
        self.client = client if isinstance(client, Client) else Client(client)
        self.preset_name = preset_name
        self.found_in = found_in

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]], **overrides: Any) -> NotebookClient:
        """Validates ``preset`` (a preset dict) and connects; ``overrides`` replace preset fields."""
        return cls(Client.from_preset(preset, **overrides))

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's validated settings (secrets masked in their repr)."""
        return self.client.settings

    def __repr__(self) -> str:
        base = repr(self.client)
        if self.preset_name and base.endswith(">"):
            return base[:-1] + f" preset={self.preset_name!r} ({self.found_in})>"
        return base

    def __enter__(self) -> NotebookClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the client's calls -------------------------------------------------------------------------

    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, **options: Any) -> Any:
        """One chat completion: see :meth:`Client.chat`."""
        return self.client.chat(messages, model, **options)

    def stream(self, messages: Sequence[Mapping[str, Any]], model: str, **options: Any) -> Any:
        """A streamed chat completion: see :meth:`Client.stream`."""
        return self.client.stream(messages, model, **options)

    def embed(self, texts: Sequence[str], model: str, **options: Any) -> list[list[float]]:
        """One vector per text: see :meth:`Client.embed`."""
        return self.client.embed(texts, model, **options)

    def embed_result(self, texts: Sequence[str], model: str, **options: Any) -> Any:
        """Vectors with usage, model and latency: see :meth:`Client.embed_result`."""
        return self.client.embed_result(texts, model, **options)

    def models(self) -> list[str]:
        """The model IDs this connection offers: see :meth:`Client.models`."""
        return self.client.models()

    def discover_models(self, refresh: bool = False) -> list[dict]:
        """The provider's ``GET /models`` list: see :meth:`Client.discover_models`."""
        return self.client.discover_models(refresh=refresh)

    def openai(self, model: Optional[str] = None, **kwargs: Any) -> Any:
        """The official SDK's client with this connection's settings: see :meth:`Client.openai`."""
        return self.client.openai(model, **kwargs)

    def check(self, models: Optional[Sequence[str]] = None) -> list:
        """What the provider supports and which preset setting to change: a list of ``CheckResult``
        (see :func:`openai_compatible.run_checks`)."""
        from .checks import run_checks

        return run_checks(self.client, models)

    def close(self) -> None:
        """Frees the connection pool."""
        self.client.close()

    # --- DataFrames ---------------------------------------------------------------------------------

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
        task.check(self.client)  # an unknown model fails here, before any row is sent
        layout = ColumnLayout(prefix, columns, task.output_columns())
        workers = min(int(concurrency or self.settings.max_concurrency), self.settings.max_concurrency)
        engine = RowEngine(task, self.client, concurrency=workers, on_error=on_error, total_rows=len(df))
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
        config, where = notebook_preset(name, project_key, api_client, api_key)
    else:
        raise SettingsError("connect() takes a preset name (as shown in the plugin's settings) or a preset dict.")
    settings = ConnectionSettings.from_preset(config)
    if overrides:
        settings = settings.with_overrides(**overrides)
    return NotebookClient(settings, preset_name=name, found_in=where)
