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

Reading a preset needs DSS admin, plugin development or plugin admin rights. Without them, ``connect``
goes through the LLM Mesh instead: the same calls are sent to the LLMs ``custom:<connection>:<model>`` of
the notebook's project, where ``<connection>`` is the Custom LLM connection named like the preset (or
``mesh_connection=``) and ``<model>`` the model id given to ``chat``, ``stream``, ``embed`` or ``apply``.
DSS then runs the plugin's own LLM components with the preset and your per-user key: no secret is copied.

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
from .dss.mesh_client import MeshClient
from .dss.presets import PresetAccessError, api_error_text, current_project_key, dss_api_client, notebook_preset
from .engine import RowEngine
from .errors import SettingsError
from .numeric import whole_number
from .settings import ConnectionSettings
from .tasks.prompt import PromptSpec, PromptTask

log = logging.getLogger("openai_compatible")

VIA = ("auto", "preset", "mesh")



class NotebookClient:
    """A connection for notebooks: the :class:`Client` calls (``chat``, ``stream``, ``embed``,
    ``models``, ``openai``...), :meth:`apply` on a DataFrame, and where the preset came from
    (``preset_name``, ``found_in``). ``client`` is the underlying :class:`Client`, for code that needs
    one (tasks, :func:`openai_compatible.models.list_models`).

    Built by :func:`connect`; ``NotebookClient(settings)`` or ``NotebookClient(client)`` also work.
    Close it (or use ``with``) to free its connections.
    """

    def __init__(self, client: Union[Client, MeshClient, ConnectionSettings], *, preset_name: Optional[str] = None,
                 found_in: Optional[str] = None) -> None:
        self.client = client if isinstance(client, (Client, MeshClient)) else Client(client)
        self.preset_name = preset_name
        self.found_in = found_in

    @classmethod
    def from_preset(cls, preset: Optional[Mapping[str, Any]], **overrides: Any) -> NotebookClient:
        """Validates ``preset`` (a preset dict) and connects; ``overrides`` replace preset fields."""
        return cls(Client.from_preset(preset, **overrides))

    @property
    def settings(self) -> Any:
        """The connection's validated settings (secrets masked in their repr); through the LLM Mesh, a
        :class:`~openai_compatible.dss.mesh_client.MeshSettings` (connection, project, concurrency)."""
        return self.client.settings

    @property
    def via_mesh(self) -> bool:
        """True when the calls go through the LLM Mesh (the preset could not be read)."""
        return isinstance(self.client, MeshClient)

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
        """One chat completion: see :meth:`Client.chat`. For a reasoning model, ``reasoning_effort="low"``
        (or ``none``, ``minimal``, ``medium``, ``high``) sets how much it thinks, and ``result.reasoning`` holds
        the thinking, kept out of ``result.text``."""
        return self.client.chat(messages, model, **options)

    def stream(self, messages: Sequence[Mapping[str, Any]], model: str, **options: Any) -> Any:
        """A streamed chat completion: see :meth:`Client.stream` (``reasoning_effort`` as in :meth:`chat`; the
        pieces are the answer only, ``.result.reasoning`` the thinking)."""
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
        if isinstance(self.client, MeshClient):
            return self.client.check(models)  # explains why not, and who can
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
        ``json_object`` or ``json_schema``), ``json_schema``, ``raw_response``, ``reasoning_effort`` (``none``
        to ``high``, for reasoning models) and ``reasoning_column`` (adds ``<prefix>_reasoning``, what a
        reasoning model thought before answering). The added columns
        are ``<prefix>_response``, ``<prefix>_error_message``, ``<prefix>_error_type``,
        ``<prefix>_finish_reason``, token counts, model and latency (plus one column per property for
        JSON-schema output). A failed row gets its error in the error columns; ``on_error="fail"``
        raises at the first one instead. Rows keep their order and index. ``concurrency`` lowers the preset's
        limit for this call (the fixed one, or the automatic one's upper bound); it never raises it.
        """
        import pandas as pd

        spec = PromptSpec.from_options(template, model, options)
        if not isinstance(df, pd.DataFrame):
            raise SettingsError(f"apply() takes a pandas DataFrame, not {type(df).__name__}.")
        cap = None if concurrency is None else whole_number(concurrency, "apply(): parameter 'concurrency'", 1)
        columns = [str(c) for c in df.columns]
        task = PromptTask(spec, columns)
        client = self.client
        if isinstance(client, Client):
            settings = client.settings.capped(cap)
            client = client if settings is client.settings else Client(settings)
            workers = settings.concurrency_ceiling
        else:  # through the LLM Mesh: a fixed limit
            workers = min(cap or self.settings.max_concurrency, self.settings.max_concurrency)
        try:
            task.check(client)  # an unknown model fails here, before any row is sent
            layout = ColumnLayout(prefix, columns, task.output_columns())
            engine = RowEngine(task, client, concurrency=workers, on_error=on_error, total_rows=len(df))
            records = df.rename(columns=str).to_dict("records")
            chunks = (records[i:i + chunk_rows] for i in range(0, len(records), max(1, chunk_rows)))
            outputs: list[dict] = []
            for values in engine.run(chunks):
                outputs.extend(layout.rename(v) for v in values)
        finally:
            if client is not self.client:
                client.close()
        log.info("apply(): %s", engine.summary.describe())
        out = df.copy()
        for column in layout.schema():
            out[column["name"]] = typed_column([row[column["name"]] for row in outputs], column["type"], df.index)
        return out


def preset_config(preset: Union[str, Mapping[str, Any]], project_key: Optional[str] = None, api_client: Any = None,
                  api_key: Optional[str] = None) -> tuple[dict, Optional[str], str]:
    """``(config, name, found_in)`` for ``preset``: a preset dict as given (``name`` None), or a preset
    name looked up through the DSS API (see :func:`connect`). ``api_key`` replaces the preset's key (the
    per-user one for a per-user preset). Raises :class:`SettingsError` for anything else, or a name DSS
    doesn't know."""
    if isinstance(preset, Mapping):
        config = dict(preset)
        if api_key:
            config["per_user_key" if config.get("use_per_user_key") else "api_key"] = api_key
        return config, None, "given dict"
    if isinstance(preset, str) and preset.strip():
        name = preset.strip()
        config, where = notebook_preset(name, project_key, api_client, api_key)
        return dict(config), name, where
    raise SettingsError("connect() takes a preset name (as shown in the plugin's settings) or a preset dict.")


def connect(preset: Union[str, Mapping[str, Any]], project_key: Optional[str] = None, *,
            api_client: Any = None, api_key: Optional[str] = None, via: str = "auto",
            mesh_connection: Optional[str] = None, **overrides: Any) -> NotebookClient:
    """A client for a connection preset.

    ``preset`` is a preset name, looked up through the DSS API (project-level presets of
    ``project_key``, by default the notebook's project, then instance-level ones), or a preset dict
    (no DSS involved). ``api_client`` is a ``dataikuapi.DSSClient`` to use instead of the default one.
    ``overrides`` replace preset fields, e.g. ``max_concurrency=4``.

    ``via`` chooses the route: ``"auto"`` (default) reads the preset, and goes through the LLM Mesh of
    the project when reading it is refused (it needs plugin-admin rights); ``"preset"`` never uses the
    Mesh; ``"mesh"`` always does. Through the Mesh, models are those of the Custom LLM connection
    ``mesh_connection`` (by default named like the preset): ``model="m"`` calls the LLM
    ``custom:<connection>:m``, and a full LLM id is used as is.

    For a preset with per-user keys, your key comes from your user secret named
    ``openai-compatible:<preset name>`` (Profile > My Account > Other credentials); ``api_key``
    passes one explicitly instead (avoid pasting keys in notebooks). Through the Mesh, DSS uses the
    per-user credential you entered under Profile & Settings > Credentials.
    """
    if via not in VIA:
        raise SettingsError(f"connect(via={via!r}): use one of {', '.join(VIA)}.")
    if isinstance(preset, Mapping) and via == "mesh":
        raise SettingsError("connect(via='mesh') takes a preset name (or mesh_connection=), not a preset dict.")
    if isinstance(preset, str) and preset.strip() and via == "mesh":
        return connect_mesh(mesh_connection or preset.strip(), project_key, api_client=api_client, **overrides)
    try:
        config, name, where = preset_config(preset, project_key, api_client, api_key)
    except PresetAccessError as refused:
        if via == "preset":
            raise
        if api_key:
            raise SettingsError(f"{refused} An api_key= cannot be used through the LLM Mesh: drop it to use "
                                "the Mesh, or ask for the rights to read the preset.") from None
        log.info("Cannot read the preset '%s'; going through the LLM Mesh instead.", preset)
        return connect_mesh(mesh_connection or str(preset).strip(), project_key, api_client=api_client,
                            refused=refused, **overrides)
    settings = ConnectionSettings.from_preset(config, **overrides)
    return NotebookClient(settings, preset_name=name, found_in=where)


def connect_mesh(connection: str, project_key: Optional[str] = None, *, api_client: Any = None,
                 refused: Optional[BaseException] = None, max_concurrency: Optional[int] = None,
                 **overrides: Any) -> NotebookClient:
    """A client whose calls go through the LLM Mesh of a project, to the LLMs of the Custom LLM connection
    ``connection`` (``custom:<connection>:<model>``): what ``connect`` falls back to without the rights to
    read a preset. Needs only the project's rights. ``project_key`` defaults to the notebook's project.

    Raises :class:`SettingsError` when the project's Mesh has no LLM of that connection, listing the
    LLM ids the user can use (and why the preset could not be read, when ``refused`` is given).
    """
    why = f"{refused} " if refused is not None else ""
    if overrides:
        raise SettingsError(f"{why}Through the LLM Mesh, only max_concurrency= can be set here: "
                            f"{', '.join(sorted(overrides))} are settings of the preset, which the Mesh model's "
                            "owner sets.")
    key = current_project_key(project_key)
    if not key:
        raise SettingsError(f"{why}The LLM Mesh route needs a project: pass project_key= (the notebook's own "
                            "project is used inside DSS).")
    client = dss_api_client(api_client)
    mesh = MeshClient(client.get_project(key), connection,
                      max_concurrency=int(max_concurrency) if max_concurrency else 4)
    try:
        models = mesh.models()
    except Exception as exc:  # dataikuapi raises DataikuException for refusals
        raise SettingsError(f"{why}Listing the LLMs of project {key} failed ({api_error_text(exc)}).") from None
    if not models:
        known = mesh.llm_ids()
        raise SettingsError(
            f"{why}The LLM Mesh of project {key} has no LLM of a Custom LLM connection named '{connection}'. "
            f"LLMs you can use: {', '.join(known) or 'none'}. Pass mesh_connection='<name>' (the part after "
            "'custom:' in an LLM id), or ask your DSS admin to create a Custom LLM connection named after the "
            "preset, with one model per model id of the provider.")
    return NotebookClient(mesh, preset_name=connection, found_in=f"LLM Mesh connection {connection} (project {key})")
