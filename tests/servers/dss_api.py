"""A loopback stand-in for the few DSS public API routes this plugin uses, for the real ``dataikuapi``.

Routes (under ``/dip/publicapi``, HTTP Basic auth with the API key as user name, as ``DSSClient`` sends):

* ``GET /auth/info?withSecrets=``: ``authIdentifier``, ``groups``, and the user's ``secrets`` (``key``/``value``);
* ``GET /plugins/``; ``POST /plugins/actions/installFromZip`` and ``.../future/installFromZip`` (multipart
  ``file``); ``POST /plugins/{id}/actions/updateFromZip`` and ``.../future/updateFromZip``;
* ``GET /plugins/{id}/settings[?projectKey=]``, ``POST /plugins/{id}/settings[?projectKey=]``,
  ``POST /plugins/{id}/settings/future`` (project-level save);
* ``POST /plugins/{id}/code-env/actions/create|update`` (futures), ``GET /futures/{jobId}?peek=``;
* ``GET /projects/{key}/llms?purpose=``, ``POST /projects/{key}/llms/completions``,
  ``.../streamed-completion`` (SSE ``completion-chunk`` / ``completion-end`` / ``error-chunk``) and
  ``.../embeddings``.

Bodies follow reference/dss-platform.md section 5 and the ``dataikuapi`` 15.2.0 source. LLM Mesh calls on
``custom:<connection>:<model id>`` run the plugin's ``python-llms`` component through ``localdss``, with the
model entry's params, the PRESET param resolved to the preset's flat dict and the calling user's
CREDENTIAL_REQUEST value filled in, as DSS does.

Not DSS: where DSS's exact wording or field is unknown, this stand-in picks one and says so:
* errors are ``{"errorType", "message"}`` with status 401 (unknown key), 403 (not allowed), 404, 400;
* a preset's ``type`` is ``parameter-set-<plugin id>-<set id>``;
* a per-user plugin credential is stored in the user's ``credentials`` under the key dataikuapi's
  ``set_basic_plugin_credential`` builds, as ``{"type": "SINGLE_FIELD", "value": ...}`` (or BASIC);
* an update refused because the plugin is in use answers 409 with "... is in use ...".
"""
from __future__ import annotations

import base64
import dataclasses
import email.parser
import email.policy
import io
import itertools
import json
import os
import re
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.servers.request_body import read_body

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "/dip/publicapi"


class APIError(Exception):
    """An error answer of the stand-in."""

    def __init__(self, status: int, message: str, error_type: str = "com.dataiku.dip.exceptions.DKUException"):
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, "com.dataiku.dip.exceptions.UnauthorizedException")


def _forbidden(message: str) -> APIError:
    return APIError(403, message, "com.dataiku.dip.exceptions.UnauthorizedException")


@dataclasses.dataclass
class User:
    """A DSS user and what the API shows of it."""

    login: str
    admin: bool = False
    groups: List[str] = dataclasses.field(default_factory=list)
    project_admin: List[str] = dataclasses.field(default_factory=list)
    plugin_admin: List[str] = dataclasses.field(default_factory=list)  # plugin ids this user administers
    secrets: List[Dict[str, str]] = dataclasses.field(default_factory=list)
    credentials: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)


def plugin_credential_key(plugin_id: str, param_set_id: str, preset: str, param: str) -> str:
    """The key of a per-user plugin credential, as dataikuapi's ``set_basic_plugin_credential`` builds it."""
    return json.dumps(["PLUGIN", plugin_id, param_set_id, preset, param])[1:-1]


def read_plugin_dir(root: str) -> Dict[str, Any]:
    """plugin.json and the parameter sets of a plugin directory, as the stand-in stores an installed plugin."""
    with open(os.path.join(root, "plugin.json"), encoding="utf-8") as handle:
        desc = json.load(handle)
    sets = {}
    folder = os.path.join(root, "parameter-sets")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name, "parameter-set.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                sets[name] = json.load(handle)
    return {"desc": desc, "parameter_sets": sets}


def read_plugin_zip(data: bytes) -> Dict[str, Any]:
    """The same from a plugin zip (files at the root, or under one top folder)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise APIError(400, "The uploaded file is not a zip archive") from None
    names = archive.namelist()
    descriptor = next((n for n in names if n.split("/")[-1] == "plugin.json" and n.count("/") <= 1), None)
    if descriptor is None:
        raise APIError(400, "Invalid plugin archive: no plugin.json")
    top = descriptor[: -len("plugin.json")]
    desc = json.loads(archive.read(descriptor))
    sets = {}
    for name in names:
        match = re.fullmatch(re.escape(top) + r"parameter-sets/([^/]+)/parameter-set\.json", name)
        if match:
            sets[match.group(1)] = json.loads(archive.read(name))
    return {"desc": desc, "parameter_sets": sets}


class DSSAPIServer:
    """The stand-in, on 127.0.0.1 and a free port. Use as a context manager; ``url`` is the DSS base URL.

    Seed it with ``add_user``, ``install_plugin_dir`` (as if installed), ``add_preset`` and
    ``add_llm_connection``; ``calls`` records ``(method, path)`` of every request.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, plugin_root: str = REPO_ROOT,
                 llm_timeout: float = 120.0) -> None:
        self.plugin_root = plugin_root
        self.llm_timeout = llm_timeout
        self.users: Dict[str, User] = {}
        self.plugins: Dict[str, Dict[str, Any]] = {}
        self.project_presets: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
        self.llm_connections: Dict[str, List[Dict[str, Any]]] = {}
        self.futures: Dict[str, Dict[str, Any]] = {}
        self.in_use: set = set()
        self.code_env_error: Optional[str] = None
        self.calls: List[Tuple[str, str]] = []
        self.llm_runs: List[Dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DSSAPIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="dss-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> DSSAPIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- seeding ----------------------------------------------------------------------------------

    def add_user(self, api_key: str, login: str, *, admin: bool = False, **fields: Any) -> User:
        user = User(login=login, admin=admin, **fields)
        self.users[api_key] = user
        return user

    def install_plugin_dir(self, root: Optional[str] = None) -> str:
        """Installs a plugin from a directory (default: this repository); returns its id."""
        return self._install(read_plugin_dir(root or self.plugin_root))

    def _install(self, content: Dict[str, Any]) -> str:
        desc = content["desc"]
        plugin_id = desc.get("id")
        if not plugin_id:
            raise APIError(400, "Invalid plugin archive: plugin.json has no id")
        sets = content["parameter_sets"]
        previous = self.plugins.get(plugin_id)
        settings = previous["settings"] if previous else {"codeEnvName": None, "presets": [], "config": {}}
        settings["accessibleParameterSetDescs"] = [
            {"id": set_id, "elementType": self._set_type(plugin_id, set_id), "desc": set_desc}
            for set_id, set_desc in sets.items()]
        known = {p["name"] for p in settings.get("parameterSets", [])}
        settings["parameterSets"] = settings.get("parameterSets", []) + [
            {"name": set_id, "type": self._set_type(plugin_id, set_id),
             "defaultPermission": {"definableInline": bool(set_desc.get("defaultDefinableInline")),
                                   "definableAtProjectLevel": bool(set_desc.get("defaultDefinableAtProjectLevel"))}}
            for set_id, set_desc in sets.items() if set_id not in known]
        self.plugins[plugin_id] = {"id": plugin_id, "desc": desc, "parameter_sets": sets, "settings": settings}
        return plugin_id

    @staticmethod
    def _set_type(plugin_id: str, set_id: str) -> str:
        return f"parameter-set-{plugin_id}-{set_id}"

    def add_preset(self, plugin_id: str, set_id: str, name: str, config: Dict[str, Any], *,
                   project_key: Optional[str] = None, usable_by_all: bool = True) -> Dict[str, Any]:
        preset = {"name": name, "type": self._set_type(plugin_id, set_id), "config": dict(config),
                  "pluginConfig": {}, "defaultPermission": {"use": usable_by_all}, "permissions": [],
                  "owner": "admin"}
        if project_key:
            self.project_presets.setdefault((plugin_id, project_key), []).append(preset)
        else:
            self.plugins[plugin_id]["settings"]["presets"].append(preset)
        return preset

    def set_user_credential(self, api_key: str, plugin_id: str, set_id: str, preset: str, param: str,
                            value: str) -> None:
        """What a user does in Profile & Settings > Credentials for a preset's CREDENTIAL_REQUEST param."""
        key = plugin_credential_key(plugin_id, set_id, preset, param)
        self.users[api_key].credentials[key] = {"type": "SINGLE_FIELD", "value": value}

    def add_llm_connection(self, name: str, models: List[Dict[str, Any]]) -> None:
        """A Custom LLM connection: each model ``{"id", "type" (python-llms id), "capability", "config"}``;
        in ``config`` the PRESET param holds a preset name."""
        self.llm_connections[name] = models

    # --- request handling -------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        body = read_body(h)
        if body is None:  # the client went away mid-body
            return
        with self._lock:
            self.calls.append((h.command, parts.path))
        try:
            if not parts.path.startswith(PREFIX):
                raise APIError(404, f"Not found: {parts.path}", "com.dataiku.dip.server.controllers.NotFoundException")
            user = self._authenticate(h.headers.get("Authorization"))
            query = dict(parse_qsl(parts.query))
            result = self._route(h, user, h.command, parts.path[len(PREFIX):], query, body,
                                 h.headers.get("Content-Type") or "")
            if result is _STREAMED:
                return
            self._send(h, 200, result)
        except APIError as exc:
            self._send(h, exc.status, {"errorType": exc.error_type, "message": exc.message,
                                       "detailedMessage": exc.message})
        except Exception as exc:  # a bug in the stand-in: show it to the test
            self._send(h, 500, {"errorType": "java.lang.IllegalStateException",
                                "message": f"stand-in failure: {type(exc).__name__}: {exc}"})

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _authenticate(self, header: Optional[str]) -> User:
        if not header or not header.startswith("Basic "):
            raise _unauthorized("Not authenticated: no API key")
        try:
            key = base64.b64decode(header[6:]).decode("utf-8").split(":", 1)[0]
        except Exception:
            raise _unauthorized("Not authenticated: malformed credentials") from None
        user = self.users.get(key)
        if user is None:
            raise _unauthorized("Not authenticated: invalid API key")
        return user

    def _route(self, h: BaseHTTPRequestHandler, user: User, method: str, path: str, query: Dict[str, str],
               body: bytes, content_type: str) -> Any:
        route = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and route == ["auth", "info"]:
            info: Dict[str, Any] = {"authIdentifier": user.login, "groups": user.groups}
            if query.get("withSecrets", "false").lower() == "true":
                info["secrets"] = [dict(s) for s in user.secrets]
            return info
        if method == "GET" and route == ["futures", route[-1]] and len(route) == 2:
            return self._future_state(route[1])
        if route[0] == "plugins":
            return self._plugins(user, method, route[1:], query, body, content_type)
        if route[0] == "projects" and len(route) >= 3 and route[2] == "llms":
            return self._llms(h, user, method, route[1], route[3:], query, body)
        raise APIError(404, f"No such API route: {method} {path}",
                       "com.dataiku.dip.server.controllers.NotFoundException")

    # --- plugins ----------------------------------------------------------------------------------

    def _require_admin(self, user: User, what: str) -> None:
        if not user.admin:
            raise _forbidden(f"Action forbidden: you need admin rights on DSS to {what}")

    def _plugin(self, plugin_id: str) -> Dict[str, Any]:
        if plugin_id not in self.plugins:
            raise APIError(404, f"Plugin not found: {plugin_id}", "com.dataiku.dip.exceptions.UnknownObjectException")
        return self.plugins[plugin_id]

    def _plugins(self, user: User, method: str, route: List[str], query: Dict[str, str], body: bytes,
                 content_type: str) -> Any:
        if method == "GET" and route in ([], [""]):
            return [{"id": p["id"], "version": p["desc"].get("version"), "meta": p["desc"].get("meta", {}),
                     "isDev": False} for p in self.plugins.values()]
        if method == "POST" and route in (["actions", "installFromZip"], ["actions", "future", "installFromZip"]):
            self._require_admin(user, "install plugins")
            content = read_plugin_zip(_multipart_file(body, content_type))
            plugin_id = content["desc"].get("id")
            if plugin_id in self.plugins:
                raise APIError(400, f"Plugin {plugin_id} is already installed; update it instead")
            self._install(content)
            return self._future({"pluginId": plugin_id}) if "future" in route else {"pluginId": plugin_id}
        plugin_id, rest = route[0], route[1:]
        if method == "POST" and rest in (["actions", "updateFromZip"], ["actions", "future", "updateFromZip"]):
            self._require_admin(user, "update plugins")
            self._plugin(plugin_id)
            content = read_plugin_zip(_multipart_file(body, content_type))
            if content["desc"].get("id") != plugin_id:
                raise APIError(400, f"The archive holds plugin {content['desc'].get('id')}, not {plugin_id}")
            if plugin_id in self.in_use:
                raise APIError(409, f"Plugin {plugin_id} is in use by running jobs and cannot be updated now")
            self._install(content)
            return self._future({"pluginId": plugin_id}) if "future" in rest else {"pluginId": plugin_id}
        if rest == ["settings"] and method == "GET":
            return self._get_settings(user, plugin_id, query.get("projectKey"))
        if rest == ["settings"] and method == "POST":
            self._save_settings(user, plugin_id, query.get("projectKey"), json.loads(body or b"{}"))
            return {}
        if rest == ["settings", "future"] and method == "POST":
            data = json.loads(body or b"{}")
            self._save_settings(user, plugin_id, data.get("projectKey") or query.get("projectKey"), data)
            return self._future({})
        if rest in (["code-env", "actions", "create"], ["code-env", "actions", "update"]) and method == "POST":
            self._require_admin(user, "manage plugin code environments")
            plugin = self._plugin(plugin_id)
            if rest[-1] == "update":
                name = plugin["settings"].get("codeEnvName")
                if not name:
                    raise APIError(400, f"Plugin {plugin_id} has no code env to update")
                if plugin_id in self.in_use:
                    raise APIError(409, f"Code env {name} is in use by a running kernel and cannot be updated now")
            else:
                name = f"plugin_{plugin_id}_managed"
            if self.code_env_error:
                result = {"envName": name, "messages": {"error": True, "messages": [
                    {"severity": "ERROR", "message": self.code_env_error}]}}
            else:
                result = {"envName": name, "messages": {"error": False, "warning": False, "messages": []}}
            return self._future(result)
        raise APIError(404, f"No such plugin route: {method} /plugins/{'/'.join(route)}",
                       "com.dataiku.dip.server.controllers.NotFoundException")

    def _get_settings(self, user: User, plugin_id: str, project_key: Optional[str]) -> Dict[str, Any]:
        plugin = self._plugin(plugin_id)
        descs = plugin["settings"]["accessibleParameterSetDescs"]
        if project_key:
            if not (user.admin or project_key in user.project_admin):
                raise _forbidden(f"Action forbidden: you need admin rights on project {project_key}")
            presets = self.project_presets.get((plugin_id, project_key), [])
            return {"projectKey": project_key, "presets": json.loads(json.dumps(presets)),
                    "accessibleParameterSetDescs": descs}
        if plugin_id not in user.plugin_admin:  # DSS: admins, plugin developers, admins of the plugin
            self._require_admin(user, "read plugin settings")
        return json.loads(json.dumps(plugin["settings"]))

    def _save_settings(self, user: User, plugin_id: str, project_key: Optional[str], data: Dict[str, Any]) -> None:
        plugin = self._plugin(plugin_id)
        if project_key:
            if not (user.admin or project_key in user.project_admin):
                raise _forbidden(f"Action forbidden: you need admin rights on project {project_key}")
            presets = list(data.get("presets") or [])
            for preset in presets:
                # a set's presets exist at project level only where it allows it (defaultDefinableAtProjectLevel;
                # DSS docs plugins/reference/params.rst, "Preset parameters")
                set_id = next((k for k in plugin["parameter_sets"]
                               if self._set_type(plugin_id, k) == preset.get("type")), None)
                if set_id and not plugin["parameter_sets"][set_id].get("defaultDefinableAtProjectLevel"):
                    raise APIError(400, f"Presets of parameter set {set_id} cannot be defined at project level")
            self.project_presets[(plugin_id, project_key)] = presets
            return
        self._require_admin(user, "change plugin settings")
        settings = plugin["settings"]
        for key in ("codeEnvName", "presets", "parameterSets", "config"):
            if key in data:
                settings[key] = data[key]

    def _future(self, result: Any) -> Dict[str, Any]:
        job_id = f"future-{next(self._ids)}"
        self.futures[job_id] = {"result": result, "polls": 0}
        return {"jobId": job_id, "hasResult": False, "alive": True, "progress": {}}

    def _future_state(self, job_id: str) -> Dict[str, Any]:
        future = self.futures.get(job_id)
        if future is None:
            raise APIError(404, f"Future not found: {job_id}")
        future["polls"] += 1
        if future["polls"] < 2:  # the first poll finds it still running, as a real future would be
            return {"jobId": job_id, "hasResult": False, "alive": True, "progress": {}}
        return {"jobId": job_id, "hasResult": True, "alive": False, "result": future["result"]}

    # --- LLM Mesh ---------------------------------------------------------------------------------

    def _llms(self, h: BaseHTTPRequestHandler, user: User, method: str, project_key: str, route: List[str],
              query: Dict[str, str], body: bytes) -> Any:
        # dataikuapi dss/project.py DSSProject.list_llms: GET /projects/{key}/llms?purpose=, items with id, type
        # and friendlyName (read by DSSLLMListItem.id/.type/.description). Any project user may list them: no
        # admin right is checked, unlike the plugin settings routes above.
        if method == "GET" and route == []:
            purpose = query.get("purpose", "GENERIC_COMPLETION")
            wanted = "Text embedding" if purpose == "TEXT_EMBEDDING_EXTRACTION" else "Chat completion"
            return [{"id": f"custom:{conn}:{m['id']}", "type": "CUSTOM", "friendlyName": f"{conn} {m['id']}"}
                    for conn, models in self.llm_connections.items() for m in models
                    if m.get("capability", "Chat completion") == wanted]
        data = json.loads(body or b"{}")
        # dataikuapi dss/llm.py DSSLLMCompletionQuery.execute: POST .../llms/completions with
        # {"queries": [query], "settings", "llmId"}; answers {"responses": [...]}, each with "ok" (read by
        # DSSLLMCompletionResponse.success) and, when not ok, errorMessage/errorType (LLMException).
        if route == ["completions"] and method == "POST":
            responses = []
            for single in data.get("queries") or []:
                responses.append(self._complete(user, data.get("llmId"), single, data.get("settings") or {}))
            return {"responses": responses}
        # dataikuapi dss/llm.py DSSLLMCompletionQuery._get_execute_streamed_producer: POST
        # .../llms/streamed-completion with {"query", "settings", "llmId", "emitErrorChunk": true}; SSE events
        # completion-chunk, completion-end (the footer) and error-chunk (raised as LLMException).
        if route == ["streamed-completion"] and method == "POST":
            self._stream(h, user, data)
            return _STREAMED
        # dataikuapi dss/llm.py DSSLLMEmbeddingsQuery.execute: POST .../llms/embeddings with {"queries": [{"text"}
        # | {"inlineImage"}], "llmId", "settings": {"textOverflowMode"}}; DSSLLMEmbeddingsResponse.get_embeddings
        # reads {"responses": [{"embedding"} | {"errorMessage"}]}, per item.
        if route == ["embeddings"] and method == "POST":
            return self._embed(user, data)
        raise APIError(404, f"No such LLM route: {method} {'/'.join(route)}")

    def _model_entry(self, llm_id: Any) -> Dict[str, Any]:
        match = re.fullmatch(r"custom:([^:]+):(.+)", str(llm_id or ""))
        if not match or match.group(1) not in self.llm_connections:
            raise APIError(400, f"LLM not found: {llm_id}")
        for model in self.llm_connections[match.group(1)]:
            if model["id"] == match.group(2):
                return model
        raise APIError(400, f"LLM not found: {llm_id}")

    def _resolve(self, user: User, component: str, config: Dict[str, Any]) -> Tuple[Dict, Dict]:
        """The component's config (PRESET params as preset names dropped) and the resolved presets."""
        with open(os.path.join(self.plugin_root, "python-llms", component, "llm.json"), encoding="utf-8") as f:
            params = json.load(f).get("params") or []
        with open(os.path.join(self.plugin_root, "plugin.json"), encoding="utf-8") as f:
            plugin_id = json.load(f)["id"]
        plugin = self._plugin(plugin_id)
        plain, presets = dict(config), {}
        for param in params:
            if param.get("type") != "PRESET":
                continue
            chosen = plain.pop(param["name"], None)
            if chosen is None:  # the other PRESET param of a component that offers two (only one is shown)
                continue
            name = chosen.get("name") if isinstance(chosen, dict) else chosen
            set_id = param["parameterSetId"]
            found = next((p for p in plugin["settings"]["presets"]
                          if p["name"] == name and p["type"] == self._set_type(plugin_id, set_id)), None)
            if found is None:
                raise APIError(400, f"Preset not found: {name}")
            values = dict(found.get("pluginConfig") or {})
            values.update(found.get("config") or {})
            set_desc = plugin["parameter_sets"][set_id]
            for set_param in set_desc.get("params") or []:
                if set_param.get("type") == "CREDENTIAL_REQUEST":
                    stored = user.credentials.get(plugin_credential_key(plugin_id, set_id, name, set_param["name"]))
                    if stored:
                        values[set_param["name"]] = stored.get("value") or {"user": stored.get("user"),
                                                                            "password": stored.get("password")}
            presets[param["name"]] = values
        return plain, presets

    def _run_llm(self, user: User, llm_id: Any, query: Any, settings: Any, stream: bool) -> Tuple[List[Any], str]:
        """Runs the component through localdss; returns (JSON results, error line or '')."""
        from localdss import api

        entry = self._model_entry(llm_id)
        config, presets = self._resolve(user, entry["type"], entry.get("config") or {})
        run = api.run_llm(entry["type"], config, presets, query=query, settings=settings, stream=stream,
                          plugin_root=self.plugin_root, timeout=self.llm_timeout)
        self.llm_runs.append({"llm_id": llm_id, "stream": stream, "returncode": run.returncode})
        lines = api.parse_json_lines(run.stdout or "")
        error = ""
        if run.returncode != 0:
            tail = [line for line in (run.stderr or "").splitlines() if line.strip()]
            error = tail[-1] if tail else f"the component failed (exit {run.returncode})"
        return lines, error

    @staticmethod
    def _error_fields(line: str) -> Dict[str, str]:
        text = re.sub(r"^\[localdss\] (Job failed|Component failed|error):\s*", "", line)
        match = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception)):\s*(.*)$", text, re.DOTALL)
        kind, message = (match.group(1).split(".")[-1], match.group(2)) if match else ("PythonError", text)
        return {"errorMessage": message, "errorType": kind, "errorCode": kind, "errorSource": "LLM"}

    def _complete(self, user: User, llm_id: Any, query: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
        lines, error = self._run_llm(user, llm_id, query, settings, stream=False)
        if error:
            return dict({"ok": False}, **self._error_fields(error))
        response = dict(lines[-1]) if lines else {}
        response["ok"] = True
        return response

    def _stream(self, h: BaseHTTPRequestHandler, user: User, data: Dict[str, Any]) -> None:
        lines, error = self._run_llm(user, data.get("llmId"), data.get("query") or {}, data.get("settings") or {},
                                     stream=True)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        for item in lines:
            if "chunk" in item:
                h.wfile.write(b"event: completion-chunk\ndata: " + json.dumps(item["chunk"]).encode() + b"\n\n")
            elif "footer" in item:
                h.wfile.write(b"event: completion-end\ndata: " + json.dumps(item["footer"]).encode() + b"\n\n")
        if error:
            h.wfile.write(b"event: error-chunk\ndata: " + json.dumps(self._error_fields(error)).encode() + b"\n\n")
        h.wfile.flush()

    def _embed(self, user: User, data: Dict[str, Any]) -> Dict[str, Any]:
        queries = data.get("queries") or []
        lines, error = self._run_llm(user, data.get("llmId"), {"queries": queries}, data.get("settings") or {},
                                     stream=False)
        if error:
            return {"responses": [{"errorMessage": self._error_fields(error)["errorMessage"]} for _ in queries]}
        return lines[-1] if lines else {"responses": []}


_STREAMED = object()


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The ``file`` part of a multipart/form-data body."""
    if "multipart/form-data" not in content_type:
        raise APIError(400, "Expected a multipart upload with a 'file' part")
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True) or b""
    raise APIError(400, "Expected a multipart upload with a 'file' part")


def main(argv: Optional[List[str]] = None) -> int:  # pragma: no cover - manual use
    """``python tests/servers/dss_api.py`` serves the stand-in with an admin key ``admin-key`` until Ctrl-C."""
    server = DSSAPIServer()
    server.add_user("admin-key", "admin", admin=True)
    server.install_plugin_dir()
    with server:
        print(f"READY {server.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
