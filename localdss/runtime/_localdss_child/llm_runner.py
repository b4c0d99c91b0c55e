"""Query a python-llms component as the LLM Mesh does, printing each result as one JSON line.

The model class is instantiated with no argument, then set_config(config, plugin_config), then
process(query, settings, trace), or with --stream each item of process_stream(...). A model that
does not stream is answered with process(), as DSS does. What the component prints goes to stderr
so that stdout carries only the JSON results.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from _localdss_child.loading import find_subclass, load_module


def _overrides(cls: type, base: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(base, name, None)


def embedding_query(query: Any) -> dict[str, Any]:
    """{"queries": [{"text"}]} from a string, a list of strings, {"text"} or the full form."""
    if isinstance(query, str):
        return {"queries": [{"text": query}]}
    if isinstance(query, list):
        return {"queries": [q if isinstance(q, dict) else {"text": str(q)} for q in query]}
    if isinstance(query, dict) and "queries" not in query and "text" in query:
        return {"queries": [query]}
    return query


def completion_query(query: Any) -> Any:
    """A bare string becomes one user message, for convenience on the command line."""
    if isinstance(query, str):
        return {"messages": [{"role": "user", "content": query}]}
    return query


def _warn(message: str) -> None:
    print(f"[localdss] warning: {message}", file=sys.stderr)


def _check_result(kind: str, item: Any, streamed: bool) -> None:
    if not isinstance(item, dict):
        raise TypeError(f"the model returned {type(item).__name__}; the LLM Mesh expects a dict")
    if kind == "embedding" and "responses" not in item and "embedding" not in item:
        _warn('an embedding result should hold "responses" (or "embedding")')
    elif kind == "completion" and streamed and not ({"chunk", "footer"} & set(item)):
        _warn('a streamed item should be {"chunk": {...}} or {"footer": {...}}')
    elif kind == "completion" and not streamed and not ({"text", "toolCalls"} & set(item)):
        _warn('a completion result should hold "text" (or "toolCalls")')


def _async_items(agen: Any) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def _results(model: Any, base: type, kind: str, query: Any, settings: Any, trace: Any, stream: bool) -> Iterator[Any]:
    cls = type(model)
    if stream and kind == "completion":
        if _overrides(cls, base, "process_stream"):
            items = model.process_stream(query, settings, trace)
            if not hasattr(items, "__next__"):
                raise TypeError("process_stream must be a generator (it returned "
                                f"{type(items).__name__})")
            yield from ((item, True) for item in items)
            return
        if _overrides(cls, base, "aprocess_stream"):
            yield from ((item, True) for item in _async_items(model.aprocess_stream(query, settings, trace)))
            return
        print("[localdss] the model does not stream; answering with process(), as DSS does", file=sys.stderr)
    if _overrides(cls, base, "process"):
        yield model.process(query, settings, trace), False
    elif _overrides(cls, base, "aprocess"):
        yield asyncio.run(model.aprocess(query, settings, trace)), False
    else:
        raise NotImplementedError(f"{cls.__name__} implements neither process nor aprocess")


def _embedding_base() -> type:
    """The simulated build's embedding base class, wherever it lives (a class nothing derives from if none)."""
    for name in ("dataiku.llm.python", "dataiku.llm.python.custom.base_embedding_model"):
        try:
            found = getattr(importlib.import_module(name), "BaseEmbeddingModel", None)
        except ImportError:
            continue
        if found is not None:
            return found
    return type("NoEmbeddingBase", (), {})


def run(job: dict[str, Any]) -> None:
    from dataiku.llm.tracing import SpanBuilder

    results: IO[str] = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    sys.stdout = sys.stderr
    module = load_module(job["code_path"], job["module_name"])  # first: on an old build, the component says why
    from dataiku.llm.python import BaseLLM, BaseRerankingModel

    BaseEmbeddingModel = _embedding_base()  # noqa: N806 (a class)
    cls = find_subclass(module, (BaseLLM, BaseEmbeddingModel, BaseRerankingModel), "llm.py")
    base = next(b for b in (BaseLLM, BaseEmbeddingModel, BaseRerankingModel) if issubclass(cls, b))
    kind = {BaseLLM: "completion", BaseEmbeddingModel: "embedding", BaseRerankingModel: "reranking"}[base]
    options = job["options"]
    query = options["query"]
    if kind == "embedding":
        query = embedding_query(query)
    elif kind == "completion":
        query = completion_query(query)
    settings = options.get("settings") or {}

    model = cls()
    model.set_config(job["config"], job["plugin_config"])
    trace = SpanBuilder("localdss")
    trace.inputs["query"] = query
    try:
        with trace:
            for item, streamed in _results(model, base, kind, query, settings, trace, options.get("stream", False)):
                _check_result(kind, item, streamed)
                results.write(json.dumps(item, ensure_ascii=False) + "\n")
                results.flush()
    finally:
        results.close()
        if options.get("trace_file"):
            with open(options["trace_file"], "w", encoding="utf-8") as handle:
                json.dump(trace.to_dict(), handle, indent=2, default=str)
