"""`dataiku.llm.python`: base classes of LLM Mesh plugin components (python-llms, DSS >= 14.1).

DSS instantiates the class with no argument, calls set_config(config, plugin_config) once, then
process / process_stream (or their async forms) per query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from dataiku.llm.python.types import CompletionResponse, CompletionSettings, SingleCompletionQuery


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


class BaseEmbeddingModel(BaseModel):
    """A text embedding model: process({"queries": [{"text"}]}) -> {"responses": [{"embedding"}]}."""

    def process(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def aprocess(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError


class BaseRerankingModel(BaseModel):
    """A reranker: process({"queryParts", "documents"}) -> {"documents": [{"index", "relevanceScore"}]}."""

    def process(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError


__all__ = ["BaseEmbeddingModel", "BaseLLM", "BaseModel", "BaseRerankingModel"]
