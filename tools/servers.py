"""Start and stop the real local servers used by the tests, the demo and the benchmarks.

* ``start_llama_server()``: llama.cpp (``tools/llm_server.py``, xllamacpp) serving SmolLM2 as ``smollm2``.
* ``start_litellm(llama_base_url)``: the LiteLLM proxy with the mock models of
  ``tests/servers/litellm.yaml.template`` and ``smollm2``/``smollm2-embed`` routed to llama.cpp.

Both return ``(process, root_url)`` where ``root_url`` is ``http://127.0.0.1:PORT`` without ``/v1``;
both listen on 127.0.0.1 only and log to a file (``process.log_path``). Stop them with
``stop_process(process)`` (or the ``stop_*`` aliases). Errors raise ``ServerStartError`` carrying
the tail of the server's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import selectors
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import IO, Dict, Iterable, Mapping, Optional, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO_ROOT, ".llm", "models", "smollm2-135m-instruct-q4_1.gguf")
LLM_SERVER = os.path.join(REPO_ROOT, "tools", "llm_server.py")
LITELLM_BIN = os.path.join(REPO_ROOT, ".llm", "litellm", "bin", "litellm")
LITELLM_TEMPLATE = os.path.join(REPO_ROOT, "tests", "servers", "litellm.yaml.template")
LITELLM_MASTER_KEY = "sk-test-1234"
HOST = "127.0.0.1"

Started = Tuple["subprocess.Popen[bytes]", str]


class ServerStartError(RuntimeError):
    """A server did not start; the message includes the tail of its log."""


class LlamaServer(str):
    """A running llama.cpp server: the string is its OpenAI base URL ``http://127.0.0.1:PORT/v1``."""

    base_url: str
    target_uri: str
    model: str
    log_path: Optional[str]

    def __new__(cls, target_uri: str, model: str = "smollm2", log_path: Optional[str] = None) -> LlamaServer:
        obj = super().__new__(cls, target_uri.rstrip("/") + "/v1")
        obj.base_url = str(obj)
        obj.target_uri = target_uri.rstrip("/")
        obj.model = model
        obj.log_path = log_path
        return obj


@dataclasses.dataclass(frozen=True)
class LiteLLMProxy:
    """A running LiteLLM proxy; fields also readable as ``proxy["base_url"]``."""

    base_url: str  # http://127.0.0.1:PORT/v1 (OpenAI style)
    target_uri: str  # http://127.0.0.1:PORT (Azure style: /openai/deployments/{model}/...)
    master_key: str
    log_path: Optional[str] = None

    def __getitem__(self, name: str) -> Optional[str]:
        return getattr(self, name)

    @property
    def headers(self) -> Dict[str, str]:
        """Bearer authentication with the master key."""
        return {"Authorization": f"Bearer {self.master_key}"}


def free_port(host: str = HOST) -> int:
    """Return a TCP port that is free right now on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Optional[str], lines: int = 40) -> str:
    """Return the last lines of a log file (or a note if there is none)."""
    if not path or not os.path.exists(path):
        return "(no log)"
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64 * 1024))
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when the parent dies, so no server outlives a killed test run."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(cmd: Sequence[str], log_path: str, env: Optional[Mapping[str, str]] = None,
           stdout: Optional[int] = None) -> subprocess.Popen[bytes]:
    """Start cmd in its own session, stderr (and stdout unless piped) going to log_path."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it; closed below once inherited
    try:
        # PR_SET_PDEATHSIG follows the spawning thread, so only use it from the main thread.
        on_main = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
        proc = subprocess.Popen(
            list(cmd), cwd=REPO_ROOT, env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log, stderr=log,
            start_new_session=True, preexec_fn=_die_with_parent if on_main else None,  # noqa: PLW1509
        )
    finally:
        log.close()
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def _fail(proc: subprocess.Popen[bytes], what: str, reason: str) -> ServerStartError:
    """Stop proc and build the error to raise, with the log tail."""
    log_path = getattr(proc, "log_path", None)
    stop_process(proc)
    return ServerStartError(f"{what} did not start: {reason} (exit code {proc.returncode}, "
                            f"log {log_path})\n--- log tail ---\n{log_tail(log_path)}")


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local http URL
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait_http(proc: subprocess.Popen[bytes], url: str, deadline: float, what: str) -> None:
    """Poll url until it answers 200; fail if proc exits or the deadline passes."""
    while True:
        if _http_ok(url):
            return
        if proc.poll() is not None:
            raise _fail(proc, what, f"process exited before {url} answered")
        if time.monotonic() > deadline:
            raise _fail(proc, what, f"{url} did not answer 200 in time")
        time.sleep(0.1)


def _read_ready_line(proc: subprocess.Popen[bytes], deadline: float, what: str) -> str:
    """Wait for the ``READY <url>`` line on proc's stdout and return the URL."""
    assert proc.stdout is not None
    stream: IO[bytes] = proc.stdout
    buffer = b""
    line = ""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not line.startswith("READY "):
            if b"\n" in buffer:  # skip anything else a library may have printed first
                raw, buffer = buffer.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _fail(proc, what, "no READY line in time")
            if not selector.select(min(remaining, 0.5)):
                continue
            data = os.read(stream.fileno(), 4096)
            if not data:
                proc.wait(timeout=5)
                raise _fail(proc, what, "process exited before printing READY")
            buffer += data
    # Keep draining stdout so the child can never block on (or die of) a full or closed pipe.
    threading.Thread(target=lambda: [None for _ in iter(lambda: stream.read(4096), b"")],
                     name=f"drain-{proc.pid}", daemon=True).start()
    return line.split(" ", 1)[1].strip().rstrip("/")


def _log_path(log_dir: Optional[str], name: str) -> str:
    directory = log_dir or tempfile.mkdtemp(prefix="oaic-servers-")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, name)


def start_llama_server(model: str = DEFAULT_MODEL, *, port: int = 0, alias: str = "smollm2",
                       api_keys: Iterable[str] = (), n_ctx: int = 4096, parallel: int = 2,
                       threads: int = 2, embedding: bool = True, kv_unified: bool = True,
                       extra_args: Sequence[str] = (),
                       log_dir: Optional[str] = None, timeout: float = 60.0,
                       python: Optional[str] = None) -> Started:
    """Start ``tools/llm_server.py`` and wait until it printed READY and ``/health`` answers 200.

    Returns ``(process, "http://127.0.0.1:PORT")``; the OpenAI API is under ``/v1``. With ``kv_unified``
    (default) the slots share one KV cache of ``n_ctx`` tokens, so one request may use all of it.
    """
    if not os.path.isfile(model):
        raise ServerStartError(f"model file not found: {model} (run `make model`)")
    cmd = [python or sys.executable, LLM_SERVER, "--model", model, "--host", HOST, "--port", str(port),
           "--alias", alias, "--n-ctx", str(n_ctx), "--parallel", str(parallel),
           "--threads", str(threads), "--embedding" if embedding else "--no-embedding",
           "--kv-unified" if kv_unified else "--no-kv-unified"]
    for key in api_keys:
        cmd += ["--api-key", key]
    cmd += list(extra_args)
    proc = _spawn(cmd, _log_path(log_dir, "llama-server.log"), stdout=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    url = _read_ready_line(proc, deadline, "llama.cpp server")
    _wait_http(proc, url + "/health", deadline, "llama.cpp server")
    return proc, url


def render_litellm_config(llama_base_url: str, master_key: str = LITELLM_MASTER_KEY,
                          template_path: str = LITELLM_TEMPLATE) -> str:
    """Return the LiteLLM YAML config with smollm2 routed to llama_base_url (``/v1`` added if missing)."""
    api_base = llama_base_url.rstrip("/")
    if not api_base.endswith("/v1"):
        api_base += "/v1"
    with open(template_path, encoding="utf-8") as handle:
        template = string.Template(handle.read())
    return template.substitute(llama_api_base=api_base, master_key=master_key)


def start_litellm(llama_base_url: str, *, port: int = 0, master_key: str = LITELLM_MASTER_KEY,
                  log_dir: Optional[str] = None, timeout: float = 120.0,
                  litellm_bin: str = LITELLM_BIN, attempts: int = 2) -> Started:
    """Start the LiteLLM proxy and wait until ``/health/liveliness`` answers 200.

    The config is rendered from ``tests/servers/litellm.yaml.template`` into the log directory.
    Returns ``(process, "http://127.0.0.1:PORT")``: OpenAI routes under ``/v1``, Azure routes under
    ``/openai/deployments/{model}/...``; the master key is accepted as Bearer, ``api-key`` or ``x-api-key``.
    """
    if not os.path.exists(litellm_bin):
        raise ServerStartError(f"LiteLLM is not installed at {litellm_bin} (run `make litellm`)")
    log_path = _log_path(log_dir, "litellm.log")
    config_path = os.path.join(os.path.dirname(log_path), "litellm.yaml")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(render_litellm_config(llama_base_url, master_key))
    env = dict(os.environ)
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1"})
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        cmd = [litellm_bin, "--config", config_path, "--host", HOST, "--port", str(chosen)]
        proc = _spawn(cmd, log_path, env=env)
        url = f"http://{HOST}:{chosen}"
        try:
            _wait_http(proc, url + "/health/liveliness", time.monotonic() + timeout, "LiteLLM proxy")
        except ServerStartError:
            # A free port can be taken between free_port() and bind(): try another one.
            if port or attempt == attempts or "address already in use" not in log_tail(log_path).lower():
                raise
            continue
        return proc, url
    raise AssertionError("unreachable")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> Optional[int]:
    """Stop a server started here: SIGTERM to its own process group, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)  # start_new_session: its group id is its pid
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
    return proc.returncode


stop_llama_server = stop_process
stop_litellm = stop_process


def main() -> int:
    """Run both servers until Ctrl-C (a manual check: ``python tools/servers.py``)."""
    llama, llama_url = start_llama_server()
    try:
        print(f"llama.cpp: {llama_url}/v1  (log {llama.log_path})", flush=True)  # type: ignore[attr-defined]
        proxy, proxy_url = start_litellm(llama_url)
        try:
            print(f"LiteLLM:   {proxy_url}/v1  key {LITELLM_MASTER_KEY}  (log {proxy.log_path})",  # type: ignore[attr-defined]
                  flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while llama.poll() is None and proxy.poll() is None:
                    time.sleep(0.5)
        finally:
            stop_process(proxy)
    finally:
        stop_process(llama)
    return 0


if __name__ == "__main__":
    sys.exit(main())
