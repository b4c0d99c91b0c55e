"""A durable store of answers, keyed by a hash of the request: de-duplication within a run, and resume
after a crash (answers are committed before their rows are written, so a rerun never pays twice).

SQLite in WAL mode; only the engine's coordinating thread touches it. Two processes may open the
same file at once (two jobs over one folder): SQLite's busy timeout covers reads and writes, but
switching a new file to WAL mode fails at once with "database is locked" while the other process
holds it, so opening retries for a bounded time.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Optional

from .errors import SettingsError

SCHEMA_VERSION = 1
"""The layout of the store's tables; a store written with another layout is refused, not misread."""
OPEN_ATTEMPTS = 40  # with the backoff below: about 30 s of waiting for another process's lock


def request_key(*parts: Any) -> str:
    """A stable hash of a request's content (model, endpoint, messages, options). Never include secrets."""
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class AnswerStore:
    """Answers by request key. ``path=None`` makes a temporary store removed on :meth:`close`.

    ``label`` names the store in errors (default: its path). Raises :class:`SettingsError` for a file
    that is not an answer store, or one written with another :data:`SCHEMA_VERSION`. Opening waits up to
    ``busy_timeout_s`` for another process that holds the file (two partitions creating one cache at once).
    """

    def __init__(self, path: Optional[str] = None, label: Optional[str] = None, busy_timeout_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.run_id = uuid.uuid4().hex[:12]  # answers written by this run are told apart from older ones
        self._temporary = path is None
        if path is None:
            handle, path = tempfile.mkstemp(prefix="oc-answers-", suffix=".sqlite")
            os.close(handle)
        self.path = path
        self.label = label or f"'{path}'"
        self._lock = threading.RLock()  # the engine's workers commit their answers the moment they arrive
        self._closed = False
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s)
        try:
            self._open(sleep)
        except sqlite3.OperationalError:  # still locked by another process after the waits: say so as it is
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise SettingsError(f"The answer cache {self.label} is not a cache this plugin can read ({exc}). "
                                "Remove the file (or empty the cache folder) to start a new cache.") from None
        except SettingsError:
            self._db.close()
            raise

    def _open(self, sleep: Callable[[float], None]) -> None:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return self._setup()
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == OPEN_ATTEMPTS - 1:
                    raise
                sleep(min(0.05 * 2 ** attempt, 1.0))

    def _setup(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, "
                         "run TEXT, saved REAL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        self.schema_version = _version(row[0] if row else None)
        if self.schema_version == SCHEMA_VERSION:
            return
        if self.schema_version is not None and self.schema_version > SCHEMA_VERSION:
            raise SettingsError(f"The answer cache {self.label} was written by a newer version of the plugin "
                                f"(cache schema version {self.schema_version}; this version reads "
                                f"{SCHEMA_VERSION}). Update the plugin, or remove the file (or empty the cache "
                                "folder) to start a new cache.")
        raise SettingsError(f"The answer cache {self.label} has an unknown schema version "
                            f"({row[0] if row else None!r}; this version of the plugin reads {SCHEMA_VERSION}). "
                            "Remove the file (or empty the cache folder) to start a new cache.")

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[Any, bool]]:
        """``{key: (answer, saved_by_this_run)}`` for the keys that have an answer."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, tuple[Any, bool]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                marks = ",".join("?" * len(batch))
                sql = f"SELECT key, answer, run FROM answers WHERE key IN ({marks})"  # noqa: S608 - placeholders
                for key, answer, run in self._db.execute(sql, batch):
                    found[key] = (json.loads(answer), run == self.run_id)
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Commits answers durably before their rows are written."""
        now = time.time()
        rows = [(key, json.dumps(answer, ensure_ascii=False), self.run_id, now) for key, answer in items]
        if rows:
            with self._lock:
                if self._closed:
                    return
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")

    def merge_from(self, other_path: str) -> int:
        """Adds the answers of another store file that this one lacks; returns how many."""
        with self._lock:
            before = len(self)
            self._db.execute("ATTACH DATABASE ? AS other", (other_path,))
            try:
                self._db.execute("INSERT OR IGNORE INTO answers SELECT key, answer, run, saved FROM other.answers")
            finally:
                self._db.execute("DETACH DATABASE other")
            return len(self) - before

    def snapshot(self, target_path: str) -> None:
        """A consistent copy of the store in ``target_path`` (SQLite's online backup)."""
        copy = sqlite3.connect(target_path)
        try:
            with self._lock:
                self._db.backup(copy)
        finally:
            copy.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Checkpoints and closes the database (and removes a temporary store's files). A worker of a stopped
        run that answers afterwards finds the store closed: its answer is not kept (it was never written out)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
        if self._temporary:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(self.path + suffix)
                except FileNotFoundError:
                    pass


def _version(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
