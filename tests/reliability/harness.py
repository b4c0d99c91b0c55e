"""Running the plugin's recipes the way DSS does (``python -m localdss``) against the fault server, and
reading what came out: rows answered, rows with an error, rows lost, HTTP calls, memory, and every text
a run produced (scanned for the canary key).

Two ways to run a recipe, with the same validation and the same outcome:

* ``process`` (the default): ``python -m localdss recipe ...`` in a new process group, as a user runs it.
  It can be killed (SIGKILL) and its recipe process's memory sampled.
* ``inproc``: ``localdss.run_recipe`` with its launcher swapped for one that runs the same child entry
  point (``_localdss_child.main``) in this process, so that tables of many small cases stay fast. The
  descriptor, config and preset checks are localdss's own; only the process boundary is gone.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence
from unittest import mock
from urllib.parse import quote, quote_plus

REPO = Path(__file__).resolve().parents[2]
for _path in (str(REPO), str(REPO / "python-lib")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import localdss  # noqa: E402
from localdss import api as localdss_api  # noqa: E402
from localdss import launcher as localdss_launcher  # noqa: E402
from tests.servers.fault_server import FaultServer, embedding_vector  # noqa: E402

# Recognisable, with characters URL encoding changes (query-parameter auth puts it in the URL). Every run of the
# report and of the tests built on this module carries it; no text a run produces may contain it.
CANARY_PREFIX = "sk-RELIABILITY-canary-"  # says what the key is; the rest is the secret part
CANARY = CANARY_PREFIX + "5f1e9d27/a8+c3=b64e"
CANARY_WINDOW = 12  # no fragment this long of the key may appear: a key cut in two is caught too
AUTH_SCHEMES = {  # preset fields, and the fault server's matching require_auth scheme
    "bearer": ({"auth_scheme": "bearer"}, "bearer"),
    "api_key_header": ({"auth_scheme": "api_key_header"}, "api-key"),
    "custom_header": ({"auth_scheme": "custom_header", "auth_header_name": "X-Gateway-Key"}, "header:X-Gateway-Key"),
    "query_param": ({"auth_scheme": "query_param", "auth_query_param": "key"}, "query:key"),
}
CHAT_MODEL, EMBED_MODEL = "fault-chat", "fault-embed"
RECIPES = {"prompt": "openai-compatible-prompt", "embed": "openai-compatible-embed"}
csv.field_size_limit(2**31 - 1)  # outputs hold multi-megabyte cells
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _fragments(secret: str, stride: int = 1, public: str = CANARY_PREFIX) -> set[str]:
    """Windows of ``CANARY_WINDOW`` characters of ``secret`` as it is, URL-encoded and form-encoded, starting every
    ``stride`` characters: any piece of ``CANARY_WINDOW + stride - 1`` characters holds one. A fragment inside
    ``public`` (the part of a secret that only says what it is) is not one."""
    out: set[str] = set()
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        out.update(form[i:i + CANARY_WINDOW] for i in range(0, len(form) - CANARY_WINDOW + 1, stride))
    return {fragment for fragment in out if fragment not in public}  # naming the key is not leaking it


_CANARY_FRAGMENTS = _fragments(CANARY)


def leaks(text: str) -> list[str]:
    """Fragments of the canary key found in ``text`` (empty: no leak)."""
    return sorted(f for f in _CANARY_FRAGMENTS if f in text)


def basic_credentials(client_id: str, secret: str) -> str:
    """The value after ``Basic `` of an HTTP Basic header carrying an OAuth2 client's id and secret (RFC 6749
    2.3.1 form-encodes both first): the form a client secret takes in a token request, so in a leaked header."""
    import base64

    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return base64.b64encode(pair.encode("utf-8")).decode("ascii")


class SecretSet:
    """Secrets only known at run time (the access tokens an OAuth2 server issued, a client secret's Basic form),
    looked for in texts as the canary is. A leak is reported by what leaked (``access token 3``), never by the
    fragment found, so that a report of the leak holds no part of the secret."""

    def __init__(self) -> None:
        self._fragments: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, secret: str, what: str, stride: int = 1) -> None:
        """Looks for ``secret`` from now on; ``stride`` > 1 for long ones (a 800-character JWT): a leaked piece
        of ``CANARY_WINDOW + stride - 1`` characters is still found."""
        fragments = _fragments(secret, stride, public="")
        with self._lock:
            for fragment in fragments:
                self._fragments.setdefault(fragment, what)

    def __len__(self) -> int:
        return len(set(self._fragments.values()))

    def find(self, text: str) -> list[str]:
        """What leaked into ``text`` (empty: nothing)."""
        with self._lock:
            fragments = list(self._fragments.items())
        return sorted({what for fragment, what in fragments if fragment in text})


# the access tokens of every OAuth2 run of a report: the report itself is scanned for them before it is written
RUN_SECRETS = SecretSet()


class SecretAudit:
    """Counts every text and file scanned for the canary over a whole report, and where it leaked."""

    def __init__(self, secrets: Optional[SecretSet] = None) -> None:
        self.texts = 0
        self.files = 0
        self.bytes = 0
        self.leaks: list[str] = []
        self.secrets = secrets  # looked for too (OAuth2 tokens of the run), once they are known
        self._lock = threading.Lock()

    def text(self, where: str, text: str) -> None:
        found = leaks(text)
        others = self.secrets.find(text) if self.secrets is not None else []
        with self._lock:
            self.texts += 1
            self.bytes += len(text)
            if found:
                self.leaks.append(f"{where}: {found[0]!r}")
            self.leaks += [f"{where}: {what}" for what in others]

    def file(self, path: Path) -> None:
        if not path.is_file():
            return
        data = path.read_bytes().decode("utf-8", errors="replace")
        with self._lock:
            self.files += 1
        self.text(str(path.name), data)

    def as_dict(self) -> dict:
        return {"texts": self.texts, "files": self.files, "bytes": self.bytes, "leaks": list(self.leaks)}


AUDIT = SecretAudit()


# --- presets and configs -------------------------------------------------------------------------------------------

def preset_for(server: FaultServer, scheme: str = "bearer", *, require: bool = True, **extra: Any) -> dict:
    """An OpenAI-style preset for ``server`` with the canary key under ``scheme``; the server then refuses any
    request without it, so every answered row proves the key was sent."""
    fields, server_scheme = AUTH_SCHEMES[scheme]
    if require:
        server.require_auth(CANARY, server_scheme)
    return {"style": "openai", "base_url": server.url, "models": [CHAT_MODEL, EMBED_MODEL], "api_key": CANARY,
            **fields, **extra}


def recipe_config(recipe: str, **extra: Any) -> dict:
    if recipe == "prompt":
        return {"model": CHAT_MODEL, "prompt_template": "Say {{text}}", **extra}
    return {"model": EMBED_MODEL, "text_column": "text", "batch_size": 8, **extra}


def expected_value(recipe: str, text: str) -> str:
    """The answer the fault server gives a row (``*_response`` or ``*_embedding``), as the output CSV holds it."""
    if recipe == "prompt":
        return f"echo: Say {text}"
    return json.dumps(embedding_vector(text))


def answer_column(recipe: str, prefix: str = "llm") -> str:
    return f"{prefix}_response" if recipe == "prompt" else f"{prefix}_embedding"


def numbered_rows(count: int, tag: str = "row") -> list[dict]:
    return [{"id": str(i), "text": f"{tag} {i}"} for i in range(count)]


# --- files ---------------------------------------------------------------------------------------------------------

def write_csv(path: Path, rows: Sequence[dict], columns: Optional[Sequence[str]] = None) -> Path:
    columns = list(columns or (rows[0].keys() if rows else ["id", "text"]))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_numbered_csv(path: Path, count: int, tag: str = "row") -> Path:
    """``count`` rows ``id,text`` written as a stream (100k rows without holding them)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for start in range(0, count, 10000):
            handle.write("".join(f"{i},{tag} {i}\n" for i in range(start, min(count, start + 10000))))
    return path


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


# --- running -------------------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    """One recipe run: exit status (0 ok, 1 the recipe failed, 2 refused by the config checks), its job log,
    its output, the wall time and, in process mode, the recipe process's memory samples."""

    returncode: Optional[int]
    stdout: str
    stderr: str
    seconds: float
    output: Path
    killed: bool = False
    rss_samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, RSS bytes, server calls)

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    @property
    def error(self) -> str:
        """The error a DSS user sees: localdss's ``Job failed`` line, or the config problems."""
        lines = self.stderr.strip().splitlines()
        for index, line in enumerate(lines):
            if line.startswith("localdss: error:"):
                return " ".join(part.strip() for part in lines[index:]).replace("localdss: error: ", "")
        failed = [line for line in lines if "[localdss] Job failed:" in line]
        return failed[-1].split("Job failed: ", 1)[1] if failed else ""

    def summary(self) -> dict:
        """Figures of the recipe's closing summary line (HTTP calls, retries, 429s), when it logged one."""
        match = re.search(r"(\d+) HTTP calls, (\d+) retries, (\d+) rate-limited", self.log)
        if not match:
            return {}
        return {"http_calls": int(match.group(1)), "retries": int(match.group(2)), "rate_limited": int(match.group(3))}

    def engine_seconds(self) -> Optional[float]:
        """Time from the recipe's 'Running on' line to its summary (the job minus process start-up)."""
        start = end = None
        for line in self.log.splitlines():
            match = _STAMP.match(line)
            if not match:
                continue
            if "Running on " in line and start is None:
                start = match.group(1)
            elif "Summary: " in line:
                end = match.group(1)
        if not start or not end:
            return None
        fmt = "%Y-%m-%d %H:%M:%S,%f"
        from datetime import datetime

        return (datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds()


def _arguments(recipe_id: str, work: Path, config: dict, preset: Optional[dict], source: Path, output: Path,
               cache: Optional[Path]) -> list[str]:
    args = ["recipe", recipe_id, "--config", str(write_json(work / "config.json", config)),
            "--input", f"input={source}", "--output", f"output={output}"]
    if preset is not None:
        args += ["--preset", f"connection={write_json(work / 'preset.json', preset)}"]
    if cache is not None:
        args += ["--folder", f"cache={cache}"]
    return args


def recipe_process(pid: int) -> Optional[Any]:
    """The recipe's own process (localdss's child running the component) under the CLI process ``pid``."""
    import psutil

    try:
        for child in psutil.Process(pid).children(recursive=True):
            if any("localdss_boot" in part for part in child.cmdline()):
                return child
    except psutil.Error:
        return None
    return None


def run_recipe(recipe: str, work: Path, config: dict, preset: Optional[dict], source: Path, *,
               cache: Optional[Path] = None, mode: str = "process", timeout: float = 900,
               output_name: str = "out.csv", sample_rss: bool = False, server: Optional[FaultServer] = None,
               kill_when: Optional[Callable[[float], bool]] = None, audit: bool = True) -> RunResult:
    """Runs ``recipe`` ("prompt", "embed" or a recipe id) on ``source``. ``kill_when(elapsed)`` is polled in
    process mode: when it returns True the whole job is killed with SIGKILL."""
    recipe_id = RECIPES.get(recipe, recipe)
    work.mkdir(parents=True, exist_ok=True)
    output = work / output_name
    if mode == "inproc":
        result = _run_inprocess(recipe_id, config, preset, source, output, cache, timeout)
    else:
        result = _run_process(recipe_id, work, config, preset, source, output, cache, timeout, sample_rss,
                              server, kill_when)
    if audit:
        scan_run(result, cache)
    return result


def scan_run(result: RunResult, cache: Optional[Path] = None) -> None:
    """Feeds everything a run left behind to the audit: job log, output dataset, schema file, answer cache."""
    AUDIT.text("job log", result.log)
    AUDIT.file(result.output)
    AUDIT.file(result.output.with_name(result.output.stem + ".schema.json"))
    if cache is not None and cache.is_dir():
        for path in cache.iterdir():
            AUDIT.file(path)


def _run_process(recipe_id: str, work: Path, config: dict, preset: Optional[dict], source: Path, output: Path,
                 cache: Optional[Path], timeout: float, sample_rss: bool, server: Optional[FaultServer],
                 kill_when: Optional[Callable[[float], bool]]) -> RunResult:
    import psutil

    command = [sys.executable, "-m", "localdss", *_arguments(recipe_id, work, config, preset, source, output, cache)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "python-lib")]))
    started = time.monotonic()
    samples: list[tuple[float, int, int]] = []
    killed = False
    with open(work / "stdout.log", "w+", encoding="utf-8") as out, open(work / "stderr.log", "w+",
                                                                         encoding="utf-8") as err:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
        worker: Any = None
        try:
            while child.poll() is None:
                elapsed = time.monotonic() - started
                if kill_when is not None and kill_when(elapsed):
                    os.killpg(child.pid, signal.SIGKILL)
                    killed = True
                    break
                if elapsed > timeout:
                    os.killpg(child.pid, signal.SIGKILL)
                    break
                if sample_rss:
                    worker = worker or recipe_process(child.pid)
                    if worker is not None:
                        try:
                            samples.append((elapsed, worker.memory_info().rss, server.calls if server else 0))
                        except psutil.Error:
                            pass
                time.sleep(0.2 if sample_rss else 0.02)
            child.wait(timeout=60)  # it ended or was killed: only reaping is left
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = None if killed else child.returncode
    return RunResult(code, stdout, stderr, time.monotonic() - started, output, killed=killed, rss_samples=samples)


# --- in-process runs -----------------------------------------------------------------------------------------------

_INPROC_LOCK = threading.Lock()


def _launch_in_this_process(job: Any, *, capture: bool = True, timeout: Optional[float] = None,
                            env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """localdss's ``launch`` without the process: the same child entry point, environment, and failure line."""
    runtime = str(localdss_launcher.RUNTIME_DIR)
    with tempfile.TemporaryDirectory(prefix="reliability-job-") as workdir:
        child_env = localdss_launcher.child_env(job, Path(workdir), env)
        names = [name for name in child_env if name.startswith(("DKU", "LOCALDSS"))]
        saved = {name: os.environ.get(name) for name in names}
        saved_argv = list(sys.argv)
        buffer_out, buffer_err = io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(buffer_err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        if runtime not in sys.path:
            sys.path.insert(0, runtime)
        try:
            os.environ.update({name: child_env[name] for name in names})
            from _localdss_child import main as child_main

            with contextlib.redirect_stdout(buffer_out), contextlib.redirect_stderr(buffer_err):
                code = child_main.main()
            result_file = Path(workdir) / "result.json"
            outcome = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
        finally:
            root.removeHandler(handler)
            sys.argv[:] = saved_argv
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    head = "".join(f"[localdss] {note}\n" for note in job.notes)
    tail = f"[localdss] {localdss_launcher._failure(outcome, code, timeout)}\n" if code != 0 else ""
    return subprocess.CompletedProcess(["inproc"], 1 if tail else 0, stdout=buffer_out.getvalue(),
                                       stderr=head + buffer_err.getvalue() + tail)


def _run_inprocess(recipe_id: str, config: dict, preset: Optional[dict], source: Path, output: Path,
                   cache: Optional[Path], timeout: float) -> RunResult:
    started = time.monotonic()
    presets = {"connection": preset} if preset is not None else None
    with _INPROC_LOCK, mock.patch.object(localdss_api, "launch", _launch_in_this_process):
        done = localdss.run_recipe(recipe_id, config=config, presets=presets, inputs={"input": str(source)},
                                   outputs={"output": str(output)},
                                   folders={"cache": str(cache)} if cache is not None else None, timeout=timeout)
    return RunResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started, output)


# --- servers -------------------------------------------------------------------------------------------------------

def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting to it is refused."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fault_server(**options: Any) -> Iterator[FaultServer]:
    with FaultServer(**options) as server:
        yield server


# --- reading outcomes ----------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What became of the input rows."""

    rows_in: int
    rows_out: int
    answered: int
    errors: dict
    wrong: int  # rows without an error whose answer is not the one the server gave
    lost: int  # input rows without their output row (missing, out of order, or neither answer nor error)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "answered": self.answered, "errors": self.failed,
                "errors_by_type": dict(self.errors), "wrong": self.wrong, "lost": self.lost}


def outcome(recipe: str, rows: Iterable[dict], output_rows: Sequence[dict], prefix: str = "llm") -> Outcome:
    """Compares input rows (``id``, ``text``) with the output, position by position."""
    column, error_column = answer_column(recipe, prefix), f"{prefix}_error_type"
    answered = wrong = lost = rows_in = 0
    errors: dict[str, int] = {}
    for index, row in enumerate(rows):
        rows_in += 1
        out = output_rows[index] if index < len(output_rows) else None
        if out is None or out.get("id") != row["id"]:
            lost += 1
            continue
        kind = out.get(error_column) or ""
        if kind:
            if not out.get(f"{prefix}_error_message"):
                lost += 1  # an error without its message is not a usable row
            errors[kind] = errors.get(kind, 0) + 1
        elif out.get(column) == expected_value(recipe, row["text"]):
            answered += 1
        elif out.get(column):
            wrong += 1
        else:
            lost += 1
    return Outcome(rows_in, len(output_rows), answered, dict(sorted(errors.items())), wrong, lost)


def numbered(count: int, tag: str = "row") -> Iterator[dict]:
    """The rows ``write_numbered_csv`` writes, as a stream."""
    for i in range(count):
        yield {"id": str(i), "text": f"{tag} {i}"}


def count_outcome_streaming(recipe: str, count: int, path: Path, tag: str = "row") -> Outcome:
    """:func:`outcome` over a large output file, reading it as a stream."""
    column = answer_column(recipe)
    answered = wrong = lost = rows_out = 0
    errors: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        expected = numbered(count, tag)
        for out in reader:
            rows_out += 1
            row = next(expected, None)
            if row is None or out.get("id") != row["id"]:
                lost += 1
                continue
            kind = out.get("llm_error_type") or ""
            if kind:
                errors[kind] = errors.get(kind, 0) + 1
            elif out.get(column) == expected_value(recipe, row["text"]):
                answered += 1
            else:
                wrong += 1
    lost += max(0, count - rows_out)
    return Outcome(count, rows_out, answered, errors, wrong, lost)
