"""The answer cache kept in a recipe's managed folder, in plain, partitioned and containerized runs.

Where the file lives:
- a non-partitioned recipe: ``openai-compatible-answers.sqlite`` at the folder's root;
- a partitioned recipe (DSS builds each output partition in its own activity, several at once,
  doc.dataiku.com "Partitioned recipes"): one file per partition, in the folder's partition root,
  the directory Dataiku's dkulib computes for the written partition (``get_partition_folder``, by
  default the dimension values joined by ``/``). Activities never share a file, so partitions
  built at once cannot corrupt or lose each other's answers, and a rerun of one partition finds
  its own answers. A folder not partitioned like the output dataset is refused before any request.

How it is reached: in place when ``Folder.get_path()`` gives a directory that exists here (a local
folder, outside containers). Otherwise (``get_path()`` raises, or returns the DSS host's path inside
a container, doc.dataiku.com "Managed folders": local folders only, "and you are not running in a
container") the store works on a local copy: downloaded at the start, merged with the folder's
current file and uploaded every ``checkpoint_every`` new answers and at the end. A container that
dies loses at most the answers since the last checkpoint; a rerun pays for those rows only.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Callable, Iterable, Optional

from ..errors import SettingsError
from ..store import AnswerStore

log = logging.getLogger("openai_compatible")
CACHE_FILE = "openai-compatible-answers.sqlite"
CHECKPOINT_EVERY = 100


def _is_partitioned(folder: Any) -> bool:
    try:
        return bool(folder.is_partitioning_directory_based())
    except Exception:  # an older DSS, or a folder type without the notion
        return False


def cache_path(folder: Any, output_dataset: Any) -> str:
    """The cache file's path inside ``folder`` (``/``-separated), for the partition ``output_dataset``
    is written to. Raises :class:`SettingsError` when the folder and the dataset are not
    partitioned alike."""
    partition = getattr(output_dataset, "writePartition", None)
    folder_name = getattr(folder, "name", None) or getattr(folder, "short_name", "the cache folder")
    dataset_name = getattr(output_dataset, "full_name", None) or getattr(output_dataset, "name", "the output")
    partitioned = _is_partitioned(folder)
    if partition and not partitioned:
        raise SettingsError(
            f"The output dataset {dataset_name} is partitioned (this job builds partition '{partition}') but the "
            f"answer cache folder '{folder_name}' is not. DSS builds partitions in parallel, which must not share "
            "one cache: partition the folder with the same dimensions as the dataset (folder Settings > "
            "Partitioning), or remove the cache from the recipe's outputs.")
    if partitioned and not partition:
        raise SettingsError(
            f"The answer cache folder '{folder_name}' is partitioned but the output dataset {dataset_name} is not. "
            "Partition both alike, or use a folder without partitioning.")
    if not partition:
        return "/" + CACHE_FILE
    try:
        root = folder.get_partition_folder(partition)
    except AttributeError:  # dkulib's default layout when the folder has no file path pattern
        root = "/" + "/".join(str(partition).split("|"))
    return "/" + "/".join(p for p in str(root).split("/") if p) + "/" + CACHE_FILE


def _local_dir(folder: Any) -> Optional[str]:
    try:
        root = folder.get_path()
    except Exception:  # a non-local folder (S3, GCS...) or containerized execution
        return None
    return root if root and os.path.isdir(root) else None


class _CheckpointedStore(AnswerStore):
    """An AnswerStore that reports each batch of saved answers (the engine calls put_many)."""

    def __init__(self, path: str, on_saved: Callable[[int], None], label: Optional[str] = None) -> None:
        super().__init__(path, label=label)
        self._on_saved = on_saved

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        items = list(items)
        with self._lock:  # the engine's workers save concurrently: one checkpoint at a time
            super().put_many(items)
            if items:
                self._on_saved(len(items))


class FolderStore:
    """The answer cache of a recipe run, in its managed folder (see the module doc).

    ``store`` is the :class:`AnswerStore` to give the engine; call :meth:`close` at the end."""

    def __init__(self, folder: Any, output_dataset: Any = None, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.folder = folder
        self.path_in_folder = cache_path(folder, output_dataset)
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.checkpoints = 0
        self._unsaved = 0
        self._local_copy: Optional[str] = None
        label = f"'{self.path_in_folder.lstrip('/')}' in the managed folder '{_folder_name(folder)}'"
        root = _local_dir(folder)
        if root is not None:
            path = os.path.join(root, *self.path_in_folder.strip("/").split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.store: AnswerStore = AnswerStore(path, label=label)
            return
        handle, path = tempfile.mkstemp(prefix="oc-answers-", suffix=".sqlite")
        os.close(handle)
        self._local_copy = path
        if not self._download(path):
            log.info("No answer cache at %s in the folder yet; starting a new one.", self.path_in_folder)
            os.remove(path)
        try:
            self.store = _CheckpointedStore(path, self._saved, label=label)
        except Exception:  # a cache this plugin can't read: don't leave the local copy behind
            if os.path.exists(path):
                os.remove(path)
            raise

    def _download(self, target: str) -> bool:
        try:
            with self.folder.get_download_stream(self.path_in_folder) as stream, open(target, "wb") as out:
                shutil.copyfileobj(stream, out)
            return True
        except Exception:  # no file yet (DSS raises for a missing path)
            return False

    def _saved(self, count: int) -> None:
        self._unsaved += count
        if self._unsaved >= self.checkpoint_every:
            self.upload()

    def upload(self) -> None:
        """Merges the folder's current file into the local copy (answers another run saved since),
        then uploads a consistent snapshot. Only for a folder reached by streaming."""
        if not self._local_copy:
            return
        workdir = tempfile.mkdtemp(prefix="oc-answers-")
        try:
            remote = os.path.join(workdir, "remote.sqlite")
            if self._download(remote):
                try:
                    self.store.merge_from(remote)
                except Exception as exc:  # an unreadable remote file is replaced, not fatal
                    log.warning("The answer cache in the folder could not be merged (%s); replacing it.", exc)
            snapshot = os.path.join(workdir, "snapshot.sqlite")
            self.store.snapshot(snapshot)
            with open(snapshot, "rb") as data:
                self.folder.upload_stream(self.path_in_folder, data)
            self._unsaved = 0
            self.checkpoints += 1
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def close(self) -> None:
        """Saves the last answers to the folder and releases the local copy."""
        try:
            self.upload()
        finally:
            self.store.close()
            if self._local_copy:
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.remove(self._local_copy + suffix)
                    except FileNotFoundError:
                        pass


def _folder_name(folder: Any) -> str:
    try:
        return str(folder.get_name())
    except Exception:  # an API without names: the handle's own text says which folder it is
        return str(getattr(folder, "short_name", None) or folder)
