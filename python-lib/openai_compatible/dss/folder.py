"""The answer cache kept in a managed folder, so that a rerun of a recipe never pays twice."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Optional

from ..store import AnswerStore

log = logging.getLogger("openai_compatible")
CACHE_FILE = "openai-compatible-answers.sqlite"


class FolderStore:
    """The answer cache in a managed folder: used in place when the folder is local, otherwise copied
    in at the start and back at :meth:`close`. ``store`` is the :class:`AnswerStore` to give the engine."""

    def __init__(self, folder: Any) -> None:
        self.folder = folder
        self._local_copy: Optional[str] = None
        where = f"'{CACHE_FILE}' in the managed folder '{_folder_name(folder)}'"
        try:
            path = os.path.join(folder.get_path(), CACHE_FILE)
        except Exception:  # a non-local folder (S3, GCS...): work on a local copy
            handle, path = tempfile.mkstemp(suffix=".sqlite")
            os.close(handle)
            self._local_copy = path
            try:
                with folder.get_download_stream(CACHE_FILE) as stream, open(path, "wb") as out:
                    shutil.copyfileobj(stream, out)
            except Exception:
                log.info("No answer cache in the folder yet; starting a new one.")
                os.remove(path)
        try:
            self.store = AnswerStore(path, label=where)
        except Exception:
            self._discard_copy()
            raise

    def close(self) -> None:
        """Closes the store and, for a non-local folder, uploads the cache back."""
        self.store.close()
        if self._local_copy:
            with open(self._local_copy, "rb") as data:
                self.folder.upload_stream(CACHE_FILE, data)
            self._discard_copy()

    def _discard_copy(self) -> None:
        if self._local_copy and os.path.exists(self._local_copy):
            os.remove(self._local_copy)
        self._local_copy = None


def _folder_name(folder: Any) -> str:
    try:
        return str(folder.get_name())
    except Exception:  # an API without names: the handle's own text says which folder it is
        return str(getattr(folder, "short_name", None) or folder)
