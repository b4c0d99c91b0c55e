"""Rules: a fault applied to the requests a predicate picks, the predicates, and the gate that holds requests.

Every predicate reads only the request (its route, body, text or number), never the clock, so what a run gets
does not depend on how fast the machine is.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Optional

from .faults import Fault
from .recorded import RecordedRequest

Predicate = Callable[[RecordedRequest], bool]


@dataclasses.dataclass
class Rule:
    """A persistent (or ``times``-limited) fault applied when ``when(request)`` is true."""

    fault: Fault
    when: Optional[Predicate] = None
    times: Optional[int] = None
    hits: int = 0
    always: bool = False  # added by FaultServer.always(): the next always() replaces it


def when_param(name: str) -> Predicate:
    """The JSON body has this top-level key."""
    return lambda req: name in req.json


def when_stream(req: RecordedRequest) -> bool:
    """The request asks for streaming."""
    return req.stream


def when_role(role: str) -> Predicate:
    """A message has this role."""
    return lambda req: any(isinstance(m, dict) and m.get("role") == role for m in req.json.get("messages") or ())


def when_route(*routes: str) -> Predicate:
    """The request is for one of these routes ("chat", "embeddings", "models")."""
    return lambda req: req.route in routes


def when_text(substring: str) -> Predicate:
    """The request's text (see ``RecordedRequest.text``) contains substring."""
    return lambda req: substring in req.text


def when_path(path: str) -> Predicate:
    """The request's URL path (without the query) is exactly ``path``."""
    return lambda req: req.path == path


def when_numbered(first: int, last: Optional[int] = None) -> Predicate:
    """The request's number (1 for the first since start or reset) is in ``first..last`` (no end if None)."""
    return lambda req: req.number >= first and (last is None or req.number <= last)


class Gate:
    """Holds every request numbered above ``after`` before it is answered, until ``release()``: a test that
    must act while a run is in progress (kill it, say) waits for ``reached`` instead of racing the run.

    A held request waits at most ``deadline_s`` seconds, then is answered as usual, so a test that forgets to
    release never hangs the server; ``FaultServer.stop()`` and ``reset()`` release it too."""

    def __init__(self, after: int, deadline_s: float = 120.0) -> None:
        self.after = after
        self.deadline_s = deadline_s
        self.reached = threading.Event()  # set when the first request is held
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.held = 0  # requests held so far

    def holds(self, req: RecordedRequest) -> bool:
        return req.number > self.after and not self._released.is_set()

    def hold(self) -> None:
        """Called by the server for a request this gate holds: blocks until release or the deadline."""
        with self._lock:
            self.held += 1
        self.reached.set()
        self._released.wait(self.deadline_s)

    def wait(self, timeout: float = 120.0) -> bool:
        """True once a request is held; False after ``timeout`` seconds (the run ended or never got there)."""
        return self.reached.wait(timeout)

    def release(self) -> None:
        """Let every held request, and every later one, through."""
        self._released.set()
