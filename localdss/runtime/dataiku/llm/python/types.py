"""Names for the LLM Mesh dicts a python-llms component receives and returns (plain dicts)."""

from __future__ import annotations

from typing import Any, Dict

SingleCompletionQuery = Dict[str, Any]
CompletionSettings = Dict[str, Any]
CompletionResponse = Dict[str, Any]
StreamCompletionResponse = Dict[str, Any]
EmbeddingQuery = Dict[str, Any]
EmbeddingResponse = Dict[str, Any]
