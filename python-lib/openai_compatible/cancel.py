"""A run's stop, seen by the requests it started and has not sent yet.

A run hands its rows to worker threads, which wait for a concurrency slot (hundreds of them in automatic mode) or
for a retry's backoff. When the run stops (Ctrl-C in a notebook, a provider found down, a job that fails), the
threads already waiting would otherwise go on sending, and a paid API would bill answers nobody collects. The run
sets its event; a request checks it once its slot and rate turn come, before it is sent, and a retry's wait ends
at once. Outside a run (a call from a notebook), nothing is checked.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from .errors import OpenAICompatibleError

_stop: ContextVar[Optional[threading.Event]] = ContextVar("openai_compatible_run_stop", default=None)


class RunStoppedError(OpenAICompatibleError):
    """The run that asked for this request stopped before it was sent: nothing was sent, nothing is owed."""

    kind = "stopped"
    retryable = False


@contextmanager
def run_scope(stop: threading.Event) -> Iterator[None]:
    """Requests made in this block (in this thread) belong to the run that sets ``stop`` when it ends."""
    token = _stop.set(stop)
    try:
        yield
    finally:
        _stop.reset(token)


def check() -> None:
    """Raises :class:`RunStoppedError` when the current run has stopped."""
    stop = _stop.get()
    if stop is not None and stop.is_set():
        raise RunStoppedError("not sent: the run stopped before this request's turn came")


def sleep(seconds: float) -> None:
    """Waits ``seconds`` (a retry's backoff), or less if the current run stops meanwhile (then raises
    :class:`RunStoppedError`)."""
    stop = _stop.get()
    if stop is None:
        time.sleep(seconds)
        return
    stop.wait(max(0.0, seconds))
    check()
