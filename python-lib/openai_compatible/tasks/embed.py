"""The embed task: one vector per row, several rows per request.

Texts go to ``POST /embeddings`` in batches of ``batch_size``. When the provider refuses a batch
because of its content (a 400, a text too long), the batch is split in halves, again and again, so
that only the offending texts get an error and all the others their vectors. A refusal of a request
field rather than of a text (a model that cannot change its output ``dimensions``) is never split: the
batch fails with the provider's words and the parameter to change, and later batches fail without a call.
A text longer than the model accepts is a row error (``too_long="error"``) or is cut, by characters, until the model
accepts it (``too_long="truncate"``, logged). Empty texts are row errors and cost no request.

From a notebook::

    from openai_compatible.tasks.embed import EmbedSpec, EmbedTask

    task = EmbedTask(EmbedSpec(model="my-embedder", text_column="text", batch_size=64), ["text"])
"""
from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from ..client import Client
from ..columns import OutputColumn
from ..errors import (
    BadRequestError,
    ContextLengthError,
    OpenAICompatibleError,
    SettingsError,
)
from ..store import request_key
from ..template import format_value
from .base import ERROR_COLUMNS, RowInputError, Task

log = logging.getLogger("openai_compatible")

TOO_LONG_CHOICES = ("error", "truncate")
MAX_BATCH_SIZE = 2048
MAX_TRUNCATIONS = 8
_LOGGED_TRUNCATIONS = 20
# providers that say "too long" without the usual context-length wording (llama.cpp answers 500)
_TOO_LONG_WORDS = re.compile(r"too (large|long)|exceeds? the (maximum|max|limit)|maximum (context|input|sequence)|"
                             r"must have less than \d+ tokens|input length", re.IGNORECASE)
# a model that is not an embedder: llama.cpp started without --embeddings, an OpenAI chat model
_NOT_AN_EMBEDDER = ("does not support embedding", "not an embedding model", "embeddings are not supported",
                    "embedding is not supported", "--embedding", "not support the embeddings")
_TOKEN_COUNTS = re.compile(r"\b(\d{2,9})\b")


@dataclass
class EmbedSpec:
    """Settings of the embed task (the recipe's parameters, minus the connection)."""

    model: str
    text_column: str
    batch_size: int = 32
    dimensions: Optional[int] = None
    too_long: str = "error"


class EmbedTask(Task):
    """Embeds a text column, ``batch_size`` texts per request; duplicates are embedded once (the engine
    de-duplicates by request key)."""

    def __init__(self, spec: EmbedSpec, input_columns: Sequence[str]) -> None:
        if not spec.model:
            raise SettingsError("Parameter 'model' is empty: choose an embedding model of the connection.")
        if not spec.text_column:
            raise SettingsError("Parameter 'text_column' is empty: choose the column holding the texts to embed.")
        if spec.text_column not in input_columns:
            raise SettingsError(f"Parameter 'text_column': '{spec.text_column}' is not a column of the input "
                                f"dataset. Input columns: {', '.join(list(input_columns)[:30])}.")
        if spec.too_long not in TOO_LONG_CHOICES:
            raise SettingsError(f"Parameter 'too_long' is '{spec.too_long}': use one of "
                                f"{', '.join(TOO_LONG_CHOICES)}.")
        if not 1 <= int(spec.batch_size) <= MAX_BATCH_SIZE:
            raise SettingsError(f"Parameter 'batch_size' must be between 1 and {MAX_BATCH_SIZE}, "
                                f"not {spec.batch_size}.")
        if spec.dimensions is not None and int(spec.dimensions) < 1:
            raise SettingsError(f"Parameter 'dimensions' must be a positive number, not {spec.dimensions}.")
        self.spec = spec
        self.model = spec.model  # checked against the connection before any row
        self.batch_size = int(spec.batch_size)
        self._lock = threading.Lock()
        self.truncated = 0
        self._warned_dimensions = False
        self._refused_field: Optional[OpenAICompatibleError] = None  # a request field the provider refuses

    # --- requests -----------------------------------------------------------------------------------

    def request(self, row: Mapping[str, Any]) -> tuple[str, Any]:
        text = format_value(row.get(self.spec.text_column))
        if not text.strip():
            raise RowInputError(f"column '{self.spec.text_column}' is empty: no text to embed in this row")
        return request_key("embed", self.spec.model, self.spec.dimensions, text), text

    def call(self, client: Client, payload: Any) -> Any:
        answer = self.call_batch(client, [payload])[0]
        if isinstance(answer, OpenAICompatibleError):
            raise answer
        return answer

    def call_batch(self, client: Client, payloads: Sequence[Any]) -> list[Union[Any, OpenAICompatibleError]]:
        """One request for the whole batch; when the provider refuses it for its content, the batch is
        split in halves until each text has its vector or its own error."""
        results: list[Any] = [None] * len(payloads)
        self._embed(client, list(range(len(payloads))), list(payloads), results)
        return results

    def _embed(self, client: Client, indexes: list[int], texts: list[str], results: list) -> None:
        try:
            if self._refused_field is not None:
                raise self._refused_field  # the same request field would be refused again: no call
            result = client.embed_result([texts[i] for i in indexes], self.spec.model,
                                         dimensions=self.spec.dimensions)
        except OpenAICompatibleError as exc:
            refused = self._field_refusal(exc)
            if refused is not None:
                for index in indexes:
                    results[index] = refused
            elif len(indexes) == 1:
                results[indexes[0]] = self._single(client, texts[indexes[0]], exc)
            elif _blames_input(exc):
                middle = len(indexes) // 2
                log.info("The provider refused a batch of %d texts (%s); splitting it to find the culprit.",
                         len(indexes), exc.kind)
                self._embed(client, indexes[:middle], texts, results)
                self._embed(client, indexes[middle:], texts, results)
            else:
                for index in indexes:
                    results[index] = exc
            return
        for index, vector in zip(indexes, result.vectors):
            results[index] = self._answer(vector)

    def _field_refusal(self, error: OpenAICompatibleError) -> Optional[OpenAICompatibleError]:
        """The batch's error when the provider refused the request, not a text (issue 10 §2.10): a 400 that
        blames ``dimensions`` or speaks of the output dimensions while they are sent (vLLM answers so for a
        model without Matryoshka training: vllm-project/vllm#16331), that blames another request field, or
        that says the model does not embed at all. Remembered for later batches, which then cost no call."""
        if error is self._refused_field:
            return error
        if not isinstance(error, BadRequestError) or isinstance(error, ContextLengthError) or _too_long(error):
            return None
        words = f"{error.provider_message or ''} {error.message}".lower()
        said = (error.provider_message or str(error)).rstrip(". ")
        blamed = error.param
        if error.param == "dimensions" or (self.spec.dimensions and "dimension" in words):
            blamed = "dimensions"
            advice = (f"The provider refuses the 'dimensions' parameter ({self.spec.dimensions}) for model "
                      f"'{self.spec.model}': {said}. Clear 'dimensions' in the recipe to get the model's own "
                      "vector size.")
        elif any(marker in words for marker in _NOT_AN_EMBEDDER):
            # before a blamed field: "does not support embeddings" reads as blaming a field 'embeddings'
            # (errors.blamed_parameter), and a provider may blame 'model'; the fix is the model either way
            blamed = "model"
            advice = (f"Model '{self.spec.model}' does not make embeddings on this provider: {said}. Choose an "
                      "embedding model in the recipe.")
        elif error.param and error.param not in ("input", "prompt"):
            advice = (f"The provider refuses the request's '{error.param}' field for model '{self.spec.model}', "
                      f"whatever the texts: {said}.")
        else:
            return None
        refused = BadRequestError(advice, status=error.status, param=blamed,
                                  provider_message=error.provider_message)
        with self._lock:
            if self._refused_field is None:
                self._refused_field = refused
                log.warning("%s Every batch fails until the parameter is changed.", refused)
            return self._refused_field

    def _single(self, client: Client, text: str, error: OpenAICompatibleError) -> Any:
        """The answer for one text the provider refused: truncated and retried, or the row's error."""
        if not _too_long(error):
            return error
        if self.spec.too_long != "truncate":
            return _as_context_error(error)
        original = len(text)
        for _ in range(MAX_TRUNCATIONS):
            keep = _shorter_length(len(text), error)
            if keep < 1:
                break
            text = text[:keep]
            try:
                result = client.embed_result([text], self.spec.model, dimensions=self.spec.dimensions)
            except OpenAICompatibleError as exc:
                if not _too_long(exc):
                    return exc
                error = exc
                continue
            self._log_truncation(original, len(text))
            answer = self._answer(result.vectors[0])
            answer["truncated_to_chars"] = len(text)
            return answer
        return _as_context_error(error, f" (still too long after cutting it to {len(text)} characters)")

    def _answer(self, vector: list) -> dict:
        if (self.spec.dimensions and len(vector) != self.spec.dimensions and not self._warned_dimensions):
            self._warned_dimensions = True
            log.warning("Asked for %d dimensions but the provider returned vectors of %d: it ignores "
                        "'dimensions' for model '%s'.", self.spec.dimensions, len(vector), self.spec.model)
        return {"embedding": vector}

    def _log_truncation(self, original: int, kept: int) -> None:
        with self._lock:
            self.truncated += 1
            count = self.truncated
        if count <= _LOGGED_TRUNCATIONS or count % 1000 == 0:
            log.warning("TRUNCATED: a text of %d characters was too long for '%s' and was embedded from its first "
                        "%d characters ('too_long' = truncate; %d texts truncated so far).", original,
                        self.spec.model, kept, count)

    # --- answers ------------------------------------------------------------------------------------

    def output_columns(self) -> list[OutputColumn]:
        return [
            OutputColumn("embedding", "string", "The text's embedding vector, as a JSON array of floats"),
            OutputColumn("dimensions", "bigint", "Number of values in the embedding vector"),
        ] + ERROR_COLUMNS

    def row_values(self, answer: Any) -> tuple[dict, Optional[OpenAICompatibleError]]:
        kept = answer.get("truncated_to_chars")
        if kept and self.spec.too_long != "truncate":  # a cached answer from a run that truncated
            return {}, ContextLengthError(f"The text is too long for the model (a run with 'too_long' = truncate "
                                          f"embedded its first {kept} characters). Set 'too_long' to truncate to "
                                          "embed the beginning of such texts.")
        vector = answer.get("embedding") or []
        return {"embedding": json.dumps(vector), "dimensions": len(vector)}, None


# --- helpers ------------------------------------------------------------------------------------------

def _too_long(error: OpenAICompatibleError) -> bool:
    """Whether the provider refused a text for its length (whatever the status it used to say so)."""
    if isinstance(error, ContextLengthError):
        return True
    words = f"{error.provider_message or ''} {error.message}"
    return error.status in (400, 413, 422, 500) and bool(_TOO_LONG_WORDS.search(words))


def _blames_input(error: OpenAICompatibleError) -> bool:
    """Whether a batch's failure may come from some of its texts (then splitting the batch finds them)."""
    return isinstance(error, BadRequestError) or _too_long(error)


def _as_context_error(error: OpenAICompatibleError, extra: str = "") -> OpenAICompatibleError:
    said = (error.provider_message or str(error)).rstrip(". ")
    return ContextLengthError(f"The text is too long for the model{extra}: {said}. "
                              "Set 'too_long' to truncate to embed the beginning of such texts.",
                              status=error.status, provider_message=error.provider_message)


def _shorter_length(length: int, error: OpenAICompatibleError) -> int:
    """How many characters to keep next: scaled by the token counts the error quotes (the limit and
    what was sent), with a margin; else three quarters."""
    counts = [int(n) for n in _TOKEN_COUNTS.findall(error.provider_message or "") if int(n) > 0]
    factor = 0.75
    if len(counts) >= 2 and max(counts) > min(counts):
        factor = min(0.9, max(0.05, 0.9 * min(counts) / max(counts)))
    return int(length * factor)
