"""The LLM Mesh text embedding model: a Mesh embedding query answered item by item, honouring
``textOverflowMode``."""
from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

from ..client import Client
from ..errors import OpenAICompatibleError, SettingsError
from .queries import EMBEDDING_BATCH, annotate_trace

log = logging.getLogger("openai_compatible")


OVERFLOW_MODES = {"FAIL": "error", "TRUNCATE": "truncate"}


class MeshEmbeddingModel:
    """A text embedding model of the LLM Mesh: ``{"queries": [{"text"}]}`` ->
    ``{"responses": [{"embedding"} | {"errorMessage", ...}]}`` (a single ``{"text"}`` gives
    ``{"embedding"}``).

    Answers per item, as DSS's embedding response does (dataikuapi ``get_embeddings()`` reads
    ``embedding`` or ``errorMessage`` from each response): one text the model refuses, or one image,
    gets its own error and the others their vectors; only a query where every item failed raises.
    ``settings["textOverflowMode"]`` (``FAIL``, the default, or ``TRUNCATE``; dataikuapi
    ``new_embeddings(text_overflow_mode=...)`` sends it with every query) decides what a text too long
    for the model becomes: an error, or the vector of its longest accepted beginning."""

    def __init__(self, client: Client, model: str, batch_size: int = EMBEDDING_BATCH) -> None:
        if not model or not str(model).strip():
            raise SettingsError("Parameter 'model' is empty: give the embedding model ID (as the provider names it).")
        self.client = client
        self.model = str(model).strip()
        self.batch_size = max(1, int(batch_size))
        self.client.endpoint_for(self.model)
        self._tasks: dict[str, Any] = {}

    def _task(self, settings: Optional[Mapping[str, Any]]) -> Any:
        from ..tasks.embed import EmbedSpec, EmbedTask

        mode = str((settings or {}).get("textOverflowMode") or "FAIL").upper()
        if mode not in OVERFLOW_MODES:
            raise SettingsError(f"Setting 'textOverflowMode' is '{mode}': use FAIL or TRUNCATE.")
        if mode not in self._tasks:
            spec = EmbedSpec(model=self.model, text_column="text", batch_size=self.batch_size,
                             too_long=OVERFLOW_MODES[mode])
            self._tasks[mode] = EmbedTask(spec, ["text"])
        return self._tasks[mode]

    def process(self, query: Mapping[str, Any], settings: Optional[Mapping[str, Any]] = None,
                trace: Any = None) -> dict:
        """Embeddings (or per-item errors) for every item of the query, in order."""
        if not isinstance(query, Mapping):
            raise SettingsError("The embedding query must be an object with 'queries' (or 'text').")
        task = self._task(settings)
        if "queries" not in query and "text" in query:
            answer = self._embed(task, [self._text(query, 0)])[0]
            if isinstance(answer, Exception):
                raise answer
            return {"embedding": answer["embedding"]}
        queries = query.get("queries")
        if not isinstance(queries, list):
            raise SettingsError("The embedding query has no 'queries' list.")
        answers: list[Any] = [None] * len(queries)
        texts: dict[int, str] = {}
        for index, item in enumerate(queries):
            try:
                texts[index] = self._text(item, index)
            except SettingsError as exc:
                answers[index] = exc
        indexes = list(texts)
        for start in range(0, len(indexes), self.batch_size):
            batch = indexes[start:start + self.batch_size]
            for index, answer in zip(batch, self._embed(task, [texts[i] for i in batch])):
                answers[index] = answer
        failed = [a for a in answers if isinstance(a, Exception)]
        if answers and len(failed) == len(answers):
            raise failed[0]
        annotate_trace(trace, model=self.model, texts=len(queries), failed=len(failed))
        return {"responses": [error_summary(a) if isinstance(a, Exception) else {"embedding": a["embedding"]}
                              for a in answers]}

    def _text(self, item: Any, index: int) -> str:
        if not isinstance(item, Mapping):
            raise SettingsError(f"Embedding query {index} is not an object.")
        if item.get("inlineImage") is not None:
            raise SettingsError(f"Embedding query {index} holds an image: this connection embeds text only.")
        text = item.get("text")
        if not isinstance(text, str):
            raise SettingsError(f"Embedding query {index} has no 'text'.")
        return text

    def _embed(self, task: Any, texts: list[str]) -> list:
        """An answer dict or an exception per text; empty texts fail without a request."""
        answers: list[Any] = [None] * len(texts)
        sent = [i for i, t in enumerate(texts) if t.strip()]
        for i in range(len(texts)):
            if i not in sent:
                answers[i] = SettingsError(f"Embedding text {i} is empty: nothing to embed.")
        if sent:
            for i, answer in zip(sent, task.call_batch(self.client, [texts[i] for i in sent])):
                answers[i] = answer
        return answers



def error_summary(error: BaseException) -> dict:
    """What the Mesh shows for one failed item of a query: message (the provider's words), kind and HTTP status."""
    if isinstance(error, OpenAICompatibleError):
        return {"errorMessage": error.message, "errorType": error.kind,
                "errorCode": str(error.status) if error.status else error.kind}
    return {"errorMessage": f"{type(error).__name__}: {error}", "errorType": type(error).__name__,
            "errorCode": type(error).__name__}
