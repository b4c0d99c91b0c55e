"""`BaseEmbeddingModel`, the base of a text embedding python-llms component (see the parent package for which
simulated DSS builds have it, and where)."""

from __future__ import annotations

from typing import Any

from dataiku.llm.python import BUILD, BaseModel

if BUILD == "no-embedding":
    raise ModuleNotFoundError("No module named 'dataiku.llm.python.custom.base_embedding_model'",
                              name="dataiku.llm.python.custom.base_embedding_model")


class BaseEmbeddingModel(BaseModel):
    """A text embedding model: process({"queries": [{"text"}]}) -> {"responses": [{"embedding"}]}."""

    def process(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def aprocess(self, query: dict[str, Any], settings: dict[str, Any], trace: Any) -> dict[str, Any]:
        raise NotImplementedError
