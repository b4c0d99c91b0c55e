"""The fault server in a process of its own, so that its CPU time and its GIL are not the client's."""
from __future__ import annotations

import ast
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
from typing import Any, Optional

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULT_SERVER = os.path.join(ROOT, "tests", "servers", "fault_server")
_SUMMARY = re.compile(r"calls=(\d+) injected=(\{.*\})")


class ServerProcess:
    """``python tests/servers/fault_server`` (its ``__main__``) on a free port; ``url`` once started.

    ``latency_ms`` is added to every answer; ``rpm_limit`` makes the server answer 429 above that many
    requests per minute. ``stop()`` returns what the server counted: calls and injected faults.
    """

    def __init__(self, latency_ms: float = 0.0, rpm_limit: Optional[float] = None) -> None:
        self.latency_ms = latency_ms
        self.rpm_limit = rpm_limit
        self.url = ""
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Any = None

    def start(self) -> ServerProcess:
        command = [sys.executable, FAULT_SERVER, "--port", "0", "--latency-ms", f"{self.latency_ms:g}"]
        if self.rpm_limit:
            command += ["--rpm-limit", f"{self.rpm_limit:g}"]
        # a file, not a pipe: a long run must never block on a full stderr pipe
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 30)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the fault server did not start: {line!r} {self._read_stderr()}")
        self.url = line.split()[1]
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read())

    def stop(self) -> dict[str, Any]:
        """Stops the server; returns ``{"calls": N, "injected": {label: count}}`` as it reported them."""
        out: dict[str, Any] = {"calls": None, "injected": {}}
        if self._proc is None:
            return out
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        match = _SUMMARY.search(self._read_stderr())
        if match:
            out = {"calls": int(match.group(1)), "injected": ast.literal_eval(match.group(2))}
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None
        return out

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self.stop()
