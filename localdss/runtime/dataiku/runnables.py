"""`dataiku.runnables`: base class and result table of a macro (python-runnables)."""

from __future__ import annotations

import html
from typing import Any, Optional


class Runnable:
    """Subclass it in runnable.py; localdss calls run(progress_callback) and saves its result."""

    def __init__(self, project_key: str, config: dict[str, Any], plugin_config: dict[str, Any]) -> None:
        self.project_key = project_key
        self.config = config
        self.plugin_config = plugin_config

    def get_progress_target(self) -> Optional[tuple[int, str]]:
        """None, or (target, unit) with unit in SIZE, FILES, RECORDS, NONE."""
        return None

    def run(self, progress_callback: Any) -> Any:
        raise NotImplementedError


class ResultTable:
    """A table result (resultType RESULT_TABLE): columns then records."""

    def __init__(self) -> None:
        self.name = ""
        self.columns: list[dict[str, str]] = []
        self.records: list[list[Any]] = []

    def set_name(self, name: str) -> None:
        self.name = name

    def add_column(self, column_id: str, label: str, column_type: str = "STRING") -> None:
        if column_type not in ("STRING", "STRING_LIST"):
            raise ValueError(f"column type must be STRING or STRING_LIST, got {column_type!r}")
        self.columns.append({"id": column_id, "label": label, "type": column_type})

    def add_record(self, record: list[Any]) -> None:
        if len(record) != len(self.columns):
            raise ValueError(f"record has {len(record)} values for {len(self.columns)} columns")
        self.records.append(list(record))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "columns": self.columns, "records": self.records}

    def to_html(self) -> str:
        """How localdss renders the table to an HTML report."""
        def cell(value: Any) -> str:
            if isinstance(value, list):
                return "<br/>".join(html.escape(str(v)) for v in value)
            return "" if value is None else html.escape(str(value))

        head = "".join(f"<th>{html.escape(c['label'])}</th>" for c in self.columns)
        rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in self.records)
        title = f"<h3>{html.escape(self.name)}</h3>" if self.name else ""
        return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
