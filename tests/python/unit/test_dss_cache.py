"""The answer cache in a managed folder reached by streaming (containerized execution): checkpoints
and merges, through localdss's stand-in folder."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from openai_compatible.dss.folder import CACHE_FILE, FolderStore, cache_path
from openai_compatible.errors import SettingsError

import localdss


def saved_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT key FROM answers")}


@pytest.fixture
def container_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOCALDSS_CONTAINER", "no-path")
    with localdss.session(output_folders={"cache": tmp_path / "cache"}):
        import dataiku

        yield dataiku.Folder("cache"), tmp_path / "cache" / CACHE_FILE


def test_answers_reach_the_folder_at_each_checkpoint(container_folder) -> None:
    folder, remote = container_folder
    cache = FolderStore(folder, checkpoint_every=2)
    cache.store.put_many([("a", 1)])
    assert not remote.exists()  # below the checkpoint: a crash now loses one answer at most
    cache.store.put_many([("b", 2)])
    assert saved_keys(remote) == {"a", "b"} and cache.checkpoints == 1
    cache.store.put_many([("c", 3)])
    assert saved_keys(remote) == {"a", "b"}
    cache.close()
    assert saved_keys(remote) == {"a", "b", "c"}


def test_two_runs_uploading_the_same_file_lose_nothing(container_folder) -> None:
    folder, remote = container_folder
    first, second = FolderStore(folder), FolderStore(folder)  # both start from the same (empty) cache
    first.store.put_many([("from-first", 1)])
    second.store.put_many([("from-second", 2)])
    first.close()
    second.close()  # merges what the first uploaded instead of replacing it
    assert saved_keys(remote) == {"from-first", "from-second"}
    again = FolderStore(folder)
    assert set(again.store.get_many(["from-first", "from-second"])) == {"from-first", "from-second"}
    again.close()


class Dataset:
    full_name = "P.out"

    def __init__(self, partition):
        self.writePartition = partition


def test_cache_path_follows_the_partition(tmp_path: Path) -> None:
    with localdss.session(output_folders={"plain": tmp_path / "plain", "parts": tmp_path / "parts"},
                          partitioning={"parts": "country"}, partition="FR"):
        import dataiku

        plain, parts = dataiku.Folder("plain"), dataiku.Folder("parts")
        assert cache_path(plain, Dataset(None)) == "/" + CACHE_FILE
        assert cache_path(parts, Dataset("FR")) == "/FR/" + CACHE_FILE
        with pytest.raises(SettingsError, match="partition the folder with the same dimensions"):
            cache_path(plain, Dataset("FR"))
        with pytest.raises(SettingsError, match="is partitioned but the output dataset P.out is not"):
            cache_path(parts, Dataset(None))
