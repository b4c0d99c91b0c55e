"""`dataiku.connector`: base classes of a plugin dataset (python-connectors)."""

from __future__ import annotations

import os
from typing import Any, Optional


class Connector:
    """Subclass it in connector.py; localdss calls get_read_schema() then drains generate_rows()."""

    def __init__(self, config: dict[str, Any], plugin_config: Optional[dict[str, Any]] = None) -> None:
        self.config = config
        self.plugin_config = plugin_config

    def get_connector_resource(self) -> Optional[str]:
        return os.getenv("DKU_CUSTOM_RESOURCE_FOLDER")

    def get_read_schema(self) -> Optional[dict[str, Any]]:
        """None: DSS infers the schema from the rows; else {"columns": [{"name", "type"}]}."""
        return None

    def generate_rows(self, dataset_schema: Any = None, dataset_partitioning: Any = None,
                      partition_id: Any = None, records_limit: int = -1) -> Any:
        raise NotImplementedError

    def get_writer(self, dataset_schema: Any = None, dataset_partitioning: Any = None,
                   partition_id: Any = None, write_mode: str = "OVERWRITE") -> CustomDatasetWriter:
        raise NotImplementedError

    def get_partitioning(self) -> dict[str, Any]:
        return {"dimensions": []}

    def list_partitions(self, partitioning: Any) -> list[str]:
        return []

    def partition_exists(self, partitioning: Any, partition_id: Any) -> bool:
        raise NotImplementedError

    def get_records_count(self, partitioning: Any = None, partition_id: Any = None) -> int:
        raise NotImplementedError


class CustomDatasetWriter:
    """What Connector.get_writer returns: write_row() per row, then close()."""

    def __init__(self) -> None:
        pass

    def write_row(self, row: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
