"""Embeddings: ``POST /embeddings`` for a list of texts, vectors back in input order."""
from __future__ import annotations

from typing import Optional, Sequence

from ..compat import Compatibility
from ..errors import InvalidArgumentError, InvalidResponseError
from ..pricing import estimated_cost
from ..ratelimit import estimate_tokens
from ..results import EmbeddingResult, Usage
from ..settings import Endpoint
from .answers import parse_embeddings
from .payloads import embeddings_body
from .retries import Call, RetryLoop
from .send import Sender


def checked_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list; raises :class:`InvalidArgumentError` (a ``TypeError``) for a single string or an item
    that is not text."""
    if isinstance(texts, str):
        raise InvalidArgumentError("embed() takes a list of texts; wrap a single text in a list.")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidArgumentError(f"embed(): input {index} is {type(text).__name__}, not text.")
    return texts


class Embeddings:
    """``POST /embeddings`` over one connection's sender and retry loop."""

    def __init__(self, sender: Sender, loop: RetryLoop, compat: Compatibility) -> None:
        self.sender = sender
        self.loop = loop
        self.compat = compat

    def create(self, endpoint: Endpoint, model: str, texts: list[str], dimensions: Optional[int]) -> EmbeddingResult:
        """One vector per text, in input order, with usage, model and latency."""
        where = f"embeddings with '{model}'"
        call = Call(where=where, tokens=estimate_tokens(sum(len(t) for t in texts)), base=endpoint.base)
        data = self.loop.run_adapting(lambda: embeddings_body(self.compat, endpoint, texts, dimensions),
                                      lambda body: self.sender.post_json(endpoint, "/embeddings", body, where=where),
                                      call, self.compat)
        try:
            vectors = parse_embeddings(data, len(texts), where=where)
        except InvalidResponseError as exc:  # llama.cpp answers its own format at /embeddings, without /v1
            raise self.sender.prefix.amend(exc) from None
        usage = Usage.from_dict(data.get("usage"))
        self.loop.settle(call, usage)
        return EmbeddingResult(vectors=vectors, usage=usage, model=data.get("model"), latency_ms=call.elapsed_ms(),
                               cost=estimated_cost(self.sender.settings.prices, model, usage))
