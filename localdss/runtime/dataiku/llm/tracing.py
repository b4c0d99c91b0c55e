"""Trace spans as the LLM Mesh records them: name, inputs, outputs, attributes, children, timing.

The dict shape matches dataikuapi's SpanBuilder (`type`, `name`, `children`, `attributes`, `inputs`,
`outputs`, `begin`, `end`, `duration`), so `to_dict()` output reads the same as in DSS.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Optional, Union


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SpanBuilder:
    """One span; `subspan(name)` adds a child, usable as a context manager that times it."""

    def __init__(self, name: str) -> None:
        self.span: dict[str, Any] = {
            "type": "span", "name": name, "children": [], "attributes": {}, "inputs": {}, "outputs": {},
        }
        self._begin_ms: Optional[int] = None

    @property
    def name(self) -> str:
        return self.span["name"]

    @property
    def inputs(self) -> dict[str, Any]:
        return self.span["inputs"]

    @property
    def outputs(self) -> dict[str, Any]:
        return self.span["outputs"]

    @property
    def attributes(self) -> dict[str, Any]:
        return self.span["attributes"]

    @property
    def children(self) -> list[dict[str, Any]]:
        return self.span["children"]

    def subspan(self, name: str) -> SpanBuilder:
        child = SpanBuilder(name)
        self.span["children"].append(child.span)
        return child

    def event(self, name: str) -> SpanBuilder:
        child = SpanBuilder(name)
        child.span["type"] = "event"
        child.span["timestamp"] = _iso(int(time.time() * 1000))
        self.span["children"].append(child.span)
        return child

    def append_trace(self, trace: Union[dict[str, Any], SpanBuilder]) -> None:
        if isinstance(trace, SpanBuilder):
            self.span["children"].append(trace.to_dict())
        elif isinstance(trace, dict):
            self.span["children"].append(trace)
        else:
            raise TypeError(f"Cannot append trace of type {type(trace).__name__}")

    def begin(self, ms: Optional[int] = None) -> None:
        self._begin_ms = int(time.time() * 1000) if ms is None else ms
        self.span["begin"] = _iso(self._begin_ms)

    def end(self, ms: Optional[int] = None) -> None:
        end_ms = int(time.time() * 1000) if ms is None else ms
        if self._begin_ms is None:
            self.begin(end_ms)
        self.span["end"] = _iso(end_ms)
        self.span["duration"] = end_ms - (self._begin_ms or end_ms)

    def to_dict(self) -> dict[str, Any]:
        if "begin" in self.span and "end" not in self.span:
            self.end()
        return self.span

    def __enter__(self) -> SpanBuilder:
        self.begin()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end()


def new_trace(name: str) -> SpanBuilder:
    return SpanBuilder(name)
