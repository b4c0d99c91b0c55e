"""`dataiku.llm.python`: base classes of LLM Mesh plugin components (python-llms, DSS >= 14.1).

DSS instantiates the class with no argument, calls set_config(config, plugin_config) once, then
process / process_stream (or their async forms) per query.

Where DSS keeps these classes differs between builds, and only ``BaseLLM`` here is documented by Dataiku (the
developer guide's custom LLM connection tutorial). ``LOCALDSS_LLM_BUILD`` plays the builds a plugin may meet:

* ``current`` (default): ``BaseEmbeddingModel`` exported here, as the third-party qsun-aidata/dss-ollama-mesh
  plugin imports it first;
* ``embedding-in-custom``: only in ``dataiku.llm.python.custom.base_embedding_model``, the "older DSS builds"
  place that the same plugin falls back to;
* ``no-embedding``: a build with Python chat models but no embedding base class anywhere;
* ``before-14.1``: no ``dataiku.llm.python`` at all (Python custom LLMs arrived in DSS 14.1.0, DSS release notes).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

BUILDS = ("current", "embedding-in-custom", "no-embedding", "before-14.1")
BUILD = os.environ.get("LOCALDSS_LLM_BUILD") or "current"
if BUILD not in BUILDS:
    raise RuntimeError(f"LOCALDSS_LLM_BUILD={BUILD!r}: use one of {', '.join(BUILDS)}")
if BUILD == "before-14.1":
    raise ModuleNotFoundError("No module named 'dataiku.llm.python'", name="dataiku.llm.python")

from dataiku.llm.python.types import CompletionResponse, CompletionSettings, SingleCompletionQuery  # noqa: E402


class BaseModel:
    """Common base: holds nothing; subclasses keep what set_config gives them."""

    def set_config(self, config: dict[str, Any], plugin_config: dict[str, Any]) -> None:
        """llm.json params (presets resolved) and plugin.json params."""


class BaseLLM(BaseModel):
    """A completion model. Override process (and process_stream, a generator, to stream)."""

    def process(self, query: SingleCompletionQuery, settings: CompletionSettings, trace: Any) -> CompletionResponse:
        raise NotImplementedError

    async def aprocess(
        self, query: SingleCompletionQuery, settings: CompletionSettings, trace: Any
    ) -> CompletionResponse:
        raise NotImplementedError

    def process_stream(self, query: SingleCompletionQuery, settings: CompletionSettings, trace: Any) -> Iterator[Any]:
        raise NotImplementedError

    async def aprocess_stream(
        self, query: SingleCompletionQuery, settings: CompletionSettings, trace: Any
    ) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover (makes this an async generator)


class BaseRerankingModel(BaseModel):
    """A reranker: process({"queryParts", "documents"}) -> {"documents": [{"index", "relevanceScore"}]}."""

    def process(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError


__all__ = ["BaseLLM", "BaseModel", "BaseRerankingModel"]

if BUILD == "current":
    from dataiku.llm.python.custom.base_embedding_model import BaseEmbeddingModel  # noqa: E402, F401

    __all__.append("BaseEmbeddingModel")
