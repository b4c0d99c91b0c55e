"""`dataiku.Folder` backed by a local directory. Paths are relative to the folder, `/`-separated.

Containerized execution (`LOCALDSS_CONTAINER`): DSS documents `get_path()` for folders "on the
local filesystem, and you are not running in a container" (doc.dataiku.com, Managed folders). In
"no-path" mode it raises; in "missing-path" mode it returns the host's path, which does not exist
in the container. The streaming API (download/upload) works in both, as in DSS.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import IO, Any, Optional, Union

from dataiku.core import locations


class Folder:
    """A managed folder of the flow, by name or `PROJECT.name`."""

    def __init__(self, lookup: str, project_key: Optional[str] = None, ignore_flow: bool = False) -> None:
        self.full_name, self.project_key, self.short_name = locations.full_name(lookup, project_key)
        self._location = locations.find("MANAGED_FOLDER", lookup, project_key, ignore_flow)
        self._root = Path(self._location["path"])
        self._root.mkdir(parents=True, exist_ok=True)
        self.partitioning = self._location.get("partitioning")

    @property
    def name(self) -> str:
        return self._location["name"]

    def get_id(self) -> str:
        return self._location["name"]

    def get_name(self) -> str:
        return self._location["name"]

    def __repr__(self) -> str:
        return f"Folder({self.full_name!r}) -> {self._root}"

    def _local(self, path: str) -> Path:
        """The file behind a folder path; refuses paths that leave the folder."""
        target = (self._root / str(path).lstrip("/")).resolve()
        root = self._root.resolve()
        if target != root and root not in target.parents:
            raise ValueError(f"Path {path!r} is outside folder {self.full_name}")
        return target

    def get_path(self) -> str:
        """The directory of the folder (local filesystem folders only, outside containers, as in DSS)."""
        mode = os.environ.get("LOCALDSS_CONTAINER")
        if mode == "no-path":
            raise Exception(f"Folder {self.full_name} is not on the local filesystem of this container: use "
                            "get_download_stream / upload_stream instead of get_path")
        if mode == "missing-path":
            return "/localdss-host-only" + str(self._root)  # the host's path: absent in the container
        return str(self._root)

    def is_partitioning_directory_based(self) -> bool:
        return bool(self.partitioning)

    def get_partition_folder(self, partition: str) -> str:
        """The folder path of a partition: its dimension values joined by `/` (the default layout,
        dkulib partitions_handling.complete_file_path_pattern without a file path pattern)."""
        if not self.partitioning:
            raise ValueError(f"Folder {self.full_name} is not partitioned")
        names = [d["name"] for d in self.partitioning["dimensions"]]
        values = str(partition).split("|")
        if len(values) != len(names) or not all(values):
            raise ValueError(f"Partition {partition!r} does not fit the dimensions {names} of {self.full_name}")
        return "/" + "/".join(values)

    def get_info(self, sensitive_info: bool = False) -> dict[str, Any]:
        path = self.get_path() if os.environ.get("LOCALDSS_CONTAINER") != "no-path" else None
        return {
            "id": self.name, "projectKey": self.project_key, "name": self.name, "type": "Filesystem",
            "directoryBasedPartitioning": bool(self.partitioning), "path": path, "accessInfo": {"root": path},
        }

    def get_partition_info(self, partition: str) -> dict[str, Any]:
        return {"partition": partition, "paths": self.list_paths_in_partition(partition)}

    def list_paths_in_partition(self, partition: str = "") -> list[str]:
        """Every file (of the partition, for a partitioned folder), as `/relative/path`, sorted."""
        if partition and self.partitioning:
            prefix = self.get_partition_folder(partition) + "/"
            return [p for p in self.list_paths_in_partition() if p.startswith(prefix)]
        paths = []
        for dirpath, _, filenames in os.walk(self._root):
            for filename in filenames:
                relative = Path(dirpath, filename).relative_to(self._root).as_posix()
                paths.append("/" + relative)
        return sorted(paths)

    def list_partitions(self) -> list[str]:
        if not self.partitioning:
            return [""]
        depth = len(self.partitioning["dimensions"])
        found = {"|".join(p.strip("/").split("/")[:depth]) for p in self.list_paths_in_partition()}
        return sorted(p for p in found if p.count("|") == depth - 1)

    def get_path_details(self, path: str = "/") -> dict[str, Any]:
        target = self._local(path)
        exists = target.exists()
        details: dict[str, Any] = {
            "exists": exists, "directory": target.is_dir(), "fullPath": "/" + str(path).lstrip("/"),
        }
        if exists and target.is_file():
            stat = target.stat()
            details.update(size=stat.st_size, lastModified=int(stat.st_mtime * 1000))
        return details

    def get_download_stream(self, path: str) -> IO[bytes]:
        """A binary stream of a file (use it in `with` or close it); raises when the file does not exist."""
        target = self._local(path)
        if not target.is_file():
            raise Exception(f"Path {path!r} does not exist in folder {self.full_name}")
        return open(target, "rb")

    def get_writer(self, path: str) -> IO[bytes]:
        """A binary writer for a file, replaced if it exists (use it in `with` or close it)."""
        target = self._local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "wb")

    def upload_stream(self, path: str, f: IO[bytes]) -> None:
        with self.get_writer(path) as out:
            shutil.copyfileobj(f, out)

    def upload_data(self, path: str, data: Union[bytes, str]) -> None:
        with self.get_writer(path) as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)

    def upload_file(self, path: str, file_path: str) -> None:
        with open(file_path, "rb") as source:
            self.upload_stream(path, source)

    def read_json(self, path: str) -> Any:
        with self.get_download_stream(path) as stream:
            return json.loads(stream.read().decode("utf-8"))

    def write_json(self, path: str, obj: Any) -> None:
        self.upload_data(path, json.dumps(obj))

    def delete_path(self, path: str) -> None:
        """Remove a file or a directory tree; a missing path is not an error."""
        target = self._local(path)
        if target == self._root.resolve():
            self.clear()
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    def clear(self) -> None:
        for child in self._root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def clear_partition(self, partition: str) -> None:
        if not self.partitioning:
            self.clear()
        else:
            self.delete_path(self.get_partition_folder(partition))
