"""The row engine: applies a task to a stream of row chunks with bounded concurrency.

Output order is input order and every input row yields exactly one output row: an answer or an error.
Identical requests are sent once; answers are committed to the store before their rows are released,
so a rerun with a persistent store never pays twice. Memory stays flat: only a few chunks are in flight.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

from . import cancel
from .client import Client
from .errors import OpenAICompatibleError
from .progress import ProgressReporter, RunSummary
from .redact import redact_everywhere
from .store import AnswerStore
from .tasks.base import RowInputError, Task, error_values

log = logging.getLogger("openai_compatible")


class RowFailedError(RuntimeError):
    """Raised in 'fail' mode: the first row error stops the job."""


# Failures that say nothing about the row: the provider can't be reached or is too slow, refuses the key, or doesn't
# know the model. When a run's first requests all end with one of them, no row can succeed.
PROVIDER_WIDE_ERRORS = frozenset({"connection", "timeout", "authentication", "permission", "unknown_model",
                                  "quota_exhausted"})


class ProviderUnavailableError(RuntimeError):
    """The first requests of a run all failed with provider-wide errors and none was answered: the job stops
    rather than record (and retry) the same error on every row."""


class _Chunk:
    """The rows of one input chunk and their results, filled as answers arrive."""

    __slots__ = ("first_row", "results", "missing")

    def __init__(self, first_row: int, size: int) -> None:
        self.first_row = first_row
        self.results: list[Optional[dict]] = [None] * size
        self.missing = size


ON_ERROR = ("record", "fail", "raise")


class RowEngine:
    """Runs ``task`` over rows through ``client``.

    ``concurrency`` caps the requests in flight below the client's limit; 0 leaves it to the client (fixed or
    automatic). ``store`` persists answers (a cache folder); without it a temporary store still de-duplicates the
    run. ``on_error`` is ``record`` (an error row, the job goes on), ``fail`` (stop at the first with
    :class:`RowFailedError`, naming the row) or ``raise`` (stop at the first, raising the row's own
    error). ``lookahead_chunks`` is how many input chunks are read ahead of the oldest unanswered
    one; with 0, a chunk is released before the next one is read (for callers whose next chunk depends
    on the answers to this one). ``progress_every_s`` spaces the progress lines (``math.inf``: none).
    ``total_rows`` is the exact number of input rows when the caller knows it, ``max_rows`` a bound on it (a row
    limit); without ``total_rows``, the lines show the total once the input has been read to its end (with the
    chunks read ahead, at once for an input of a few chunks).
    """

    def __init__(self, task: Task, client: Client, *, concurrency: int = 0, store: Optional[AnswerStore] = None,
                 on_error: str = "record", total_rows: Optional[int] = None, max_rows: Optional[int] = None,
                 progress_every_s: float = 5.0, lookahead_chunks: int = 2,
                 stop_after_failed_requests: int = 10) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        self.task = task
        self.client = client
        # threads; the client's limiter decides how many of them have a request in flight (0: as many as it may)
        self.concurrency = max(1, int(concurrency or client.concurrency.upper))
        self._own_store = store is None
        self.store = store if store is not None else AnswerStore()  # an empty store is falsy
        self.on_error = on_error
        self.lookahead = max(0, lookahead_chunks)
        self.stop_after = stop_after_failed_requests  # 0: never stop (every row gets its error)
        self._provider_answered = False
        self._provider_failures = 0
        self._watch_lock = threading.Lock()
        self._stop_error: Optional[ProviderUnavailableError] = None
        self._stopped = threading.Event()  # set when the run ends: its unsent requests are not sent (cancel.py)
        self.summary = RunSummary()
        self.progress = ProgressReporter(total_rows, progress_every_s, at_most=max_rows)
        self._waiters: dict[str, list[tuple[_Chunk, int]]] = {}
        self._futures: dict[Future, list[str]] = {}
        self._completed: queue.SimpleQueue[Future] = queue.SimpleQueue()  # futures, as they finish
        self._fresh: dict[str, Any] = {}  # answers of this run not yet released, by key
        self._stats_before = client.stats.snapshot()  # the client's counters when the run started

    def run(self, chunks: Iterable[Sequence[Mapping[str, Any]]]) -> Iterator[list[dict]]:
        """Yields, for each input chunk, the task's output values of its rows (same order, same count)."""
        started = time.monotonic()
        self._stats_before = self.client.stats.snapshot()
        pending: deque[_Chunk] = deque()
        self._stopped = threading.Event()
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="oc-row")
        try:
            for rows in chunks:
                pending.append(self._dispatch(rows, executor))
                while pending and (len(pending) > self.lookahead or pending[0].missing == 0):
                    if pending[0].missing:
                        self._collect(block=True)
                        continue
                    yield self._release(pending.popleft())
                self._collect(block=False)
            self.progress.input_ended(self.summary.rows)
            while pending:
                if pending[0].missing:
                    self._collect(block=True)
                else:
                    yield self._release(pending.popleft())
        finally:
            # whether the run ended, failed or was interrupted (Ctrl-C): the rows still waiting for a slot or a retry
            # in the workers are never sent (see cancel.py); the queued ones never start
            self._stopped.set()
            executor.shutdown(wait=False, cancel_futures=True)
            self._finish(started)

    # --- dispatch -----------------------------------------------------------------------------------

    def _dispatch(self, rows: Sequence[Mapping[str, Any]], executor: ThreadPoolExecutor) -> _Chunk:
        chunk = _Chunk(self.summary.rows + 1, len(rows))
        self.summary.rows += len(rows)
        keyed: list[tuple[int, str, Any]] = []
        for index, row in enumerate(rows):
            try:
                key, payload = self.task.request(row)
            except RowInputError as exc:
                self._resolve_error(chunk, index, exc)
                continue
            keyed.append((index, key, payload))
        unknown = [key for _, key, _ in keyed if key not in self._waiters and key not in self._fresh]
        stored = self.store.get_many(unknown) if unknown else {}
        to_send: list[tuple[str, Any]] = []
        for index, key, payload in keyed:
            if key in self._fresh:
                self.summary.deduplicated += 1
                self._resolve_answer(chunk, index, self._fresh[key], shared=True)
            elif key in stored:
                answer, this_run = stored[key]
                if this_run:
                    self.summary.deduplicated += 1
                else:
                    self.summary.from_cache += 1
                self._resolve_answer(chunk, index, answer, shared=True)
            elif key in self._waiters:
                self.summary.deduplicated += 1
                self._waiters[key].append((chunk, index))
            else:
                self._waiters[key] = [(chunk, index)]
                to_send.append((key, payload))
        size = max(1, self.task.batch_size)
        for start in range(0, len(to_send), size):
            batch = to_send[start:start + size]
            keys = [key for key, _ in batch]
            payloads = [payload for _, payload in batch]
            future = executor.submit(self._call, payloads, keys)
            self._futures[future] = keys
            future.add_done_callback(self._completed.put)
            self.summary.requests_sent += len(keys)
        return chunk

    def _call(self, payloads: list, keys: list[str]) -> list:
        """Sends one request (or batch) and commits its answers to the store before handing them over: a job
        killed at any moment loses only the requests still in flight, not answers waiting to be collected."""
        stop = self._stop_error
        if stop is not None:  # queued behind the failure that stops the run: never sent
            return [stop] * len(payloads)
        with cancel.run_scope(self._stopped):
            return self._send(payloads, keys)

    def _send(self, payloads: list, keys: list[str]) -> list:
        if len(payloads) == 1 and self.task.batch_size <= 1:
            try:
                results = [self.task.call(self.client, payloads[0])]
            except OpenAICompatibleError as exc:
                results = [exc]
        else:
            results = self.task.call_batch(self.client, payloads)
        self.store.put_many([(key, result) for key, result in zip(keys, results)
                             if not isinstance(result, BaseException)])
        self._watch_provider(results)
        return results

    # --- completion ---------------------------------------------------------------------------------

    def _collect(self, block: bool) -> None:
        if not self._futures:
            self._report()
            return
        # a queue fed by the futures' callbacks: concurrent.futures.wait() over every pending future would
        # cost time in proportion to the futures in flight (thousands) at every completion
        done: list[Future] = []
        try:
            done.append(self._completed.get(timeout=1.0) if block else self._completed.get_nowait())
            while True:
                done.append(self._completed.get_nowait())
        except queue.Empty:
            pass
        outcomes: list[tuple[str, Any]] = []
        for future in done:
            keys = self._futures.pop(future)
            try:
                results = future.result()
            except Exception as exc:  # a bug in a task must cost its rows, not the job
                log.exception("Unexpected failure while processing a request")
                results = [exc] * len(keys)
            outcomes.extend(zip(keys, results))  # their answers are already durable (committed by the worker)
        if self._stop_error is not None:
            raise self._stop_error
        for key, result in outcomes:
            waiters = self._waiters.pop(key, [])
            if not isinstance(result, BaseException):
                self._fresh[key] = result
            for position, (chunk, index) in enumerate(waiters):
                if isinstance(result, BaseException):
                    self._resolve_error(chunk, index, result)
                else:
                    self._resolve_answer(chunk, index, result, shared=position > 0)
        self._report()

    def _report(self) -> None:
        self._count_calls()
        self.progress.maybe_report(self.summary, self._done_rows())

    def _count_calls(self) -> None:
        """HTTP calls, retries, 429s and tokens of this run, as the client counted them from what the provider
        reported: tokens of embedding batches and of answers that became row errors (cut off, invalid JSON)
        included, answers from the cache and duplicates excluded (they cost nothing)."""
        stats = self.client.stats.snapshot()
        for name in ("http_calls", "retries", "rate_limited", "prompt_tokens", "completion_tokens",
                     "reasoning_tokens"):
            setattr(self.summary, name, stats[name] - self._stats_before[name])
        self.summary.concurrency = self.client.concurrency.describe()

    def _watch_provider(self, results: list) -> None:
        """Stops the run when its first ``stop_after`` requests all failed for a reason that is not the rows'
        (a wrong key, a provider that is down): otherwise every row would pay the retries to record the same error.

        Runs in the worker that made the request, before its result is handed over, so that no request queued
        behind the one that reaches the limit is sent: with concurrency 1 exactly ``stop_after`` requests go out,
        with concurrency C at most ``stop_after + C - 1`` (those already in flight)."""
        with self._watch_lock:
            if self._provider_answered or not self.stop_after or self._stop_error is not None:
                return
            if any(not isinstance(result, BaseException) for result in results):
                self._provider_answered = True
                return
            if results and all(getattr(r, "kind", None) in PROVIDER_WIDE_ERRORS for r in results):
                self._provider_failures += 1
                if self._provider_failures >= self.stop_after:
                    self._stop_error = ProviderUnavailableError(
                        f"Stopping the job: its first {self._provider_failures} requests all failed and none was "
                        f"answered, so no row can succeed until this is fixed. Last error: "
                        f"{redact_everywhere(results[0])}")
                    self._stopped.set()  # the other rows' retries end now, not after their backoffs

    def _resolve_answer(self, chunk: _Chunk, index: int, answer: Any, shared: bool) -> None:
        try:
            values, problem = self.task.row_values(answer)
        except Exception as exc:  # an answer the task can't read costs its row, not the job
            log.exception("Unexpected failure while reading an answer")
            values, problem = {}, exc
        if shared and "latency_ms" in values:
            values["latency_ms"] = 0.0
        if problem is not None:
            values.update(error_values(problem))
            self._count_error(chunk, index, problem)
        else:
            self.summary.answered += 1
            if not shared:  # the provider's tokens come from the client's counters; a price is per answer
                self.summary.add_cost(values.get("cost"))
        chunk.results[index] = values
        chunk.missing -= 1

    def _resolve_error(self, chunk: _Chunk, index: int, error: BaseException) -> None:
        chunk.results[index] = error_values(error)
        chunk.missing -= 1
        self._count_error(chunk, index, error)

    def _count_error(self, chunk: _Chunk, index: int, error: BaseException) -> None:
        kind = getattr(error, "kind", None) or type(error).__name__
        self.summary.errors[kind] += 1
        if self.on_error == "fail":
            raise RowFailedError(f"Row {chunk.first_row + index} failed ({kind}): {redact_everywhere(error)}")
        if self.on_error == "raise":
            raise error

    def _release(self, chunk: _Chunk) -> list[dict]:
        # Cleared at every release, even with later chunks in flight, so that memory stays flat: the store keeps
        # every answer of this run, so a later duplicate still finds it there (and is still counted as one).
        self._fresh.clear()
        return chunk.results  # type: ignore[return-value]

    def _done_rows(self) -> int:
        return self.summary.answered + self.summary.failed

    def _finish(self, started: float) -> None:
        self._count_calls()
        self.summary.seconds = time.monotonic() - started
        if self._own_store:
            self.store.close()
