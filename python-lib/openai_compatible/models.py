"""The models a connection offers, with where each comes from and where it is served (never a key).

    from openai_compatible import Client
    from openai_compatible.models import list_models

    with Client.from_preset(preset) as client:
        for model in list_models(client):
            print(model["id"], model["source"], model["endpoint_url"])
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any, Optional

from .errors import OpenAICompatibleError
from .http.discovery import offered_models
from .settings import safe_url

if TYPE_CHECKING:  # the client may use this module's rules; this module only takes a client
    from .client import Client

log = logging.getLogger("openai_compatible")

MODEL_COLUMNS = [
    {"name": "id", "type": "string", "comment": "Model ID (or endpoint name) to use in recipes"},
    {"name": "source", "type": "string", "comment": "preset: listed in the connection preset; discovered: "
                                                    "read from the provider's GET /models"},
    {"name": "owner", "type": "string", "comment": "Owner of the model, when the provider says (owned_by)"},
    {"name": "created", "type": "date", "comment": "Creation date of the model, when the provider says"},
    {"name": "endpoint_url", "type": "string", "comment": "URL the model is served from (without credentials "
                                                          "or query string)"},
]
# Name fragments of the common embedding (and reranking) model families: OpenAI text-embedding-*, BAAI bge-*,
# intfloat e5-*, Alibaba gte-*, sentence-transformers (all-MiniLM, all-mpnet), nomic-embed, mixedbread mxbai-embed,
# Snowflake arctic-embed, Jina jina-embeddings and jina-reranker.
_EMBEDDING_NAME = re.compile(r"embed|bge|\be5\b|e5-|gte|minilm|mpnet|nomic|mxbai|arctic|sentence|jina|rerank",
                             re.IGNORECASE)


def list_models(client: Client) -> list[dict[str, Any]]:
    """One dict per model: ``id``, ``source`` (``preset`` or ``discovered``), ``owner``, ``created``
    (a UTC datetime) and ``endpoint_url``.

    Azure-style presets list their endpoints. OpenAI-style presets list their models, plus those of
    ``GET /models`` when the preset allows discovery; if discovery fails, the preset's models are still
    listed (with a warning), unless the preset lists none.
    """
    settings = client.settings
    if settings.style != "openai":
        return [_row(e.name, "preset", None, e.base) for e in settings.endpoints]
    listed = settings.listed_models()
    found: dict[str, dict] = {}
    if settings.discover_models:
        try:
            found = {m["id"]: m for m in client.discover_models()}
        except OpenAICompatibleError as exc:
            if not listed:
                raise
            log.warning("Model discovery failed (%s); listing the preset's models only.", exc)
    return [_row(m, "preset" if m in listed else "discovered", found.get(m), settings.base_url)
            for m in offered_models(listed, found)]


def _row(model: str, source: str, info: Optional[dict], url: str) -> dict[str, Any]:
    info = info or {}
    owner = info.get("owned_by") or info.get("owner")
    return {"id": model, "source": source, "owner": str(owner) if owner else None,
            "created": _date(info.get("created")), "endpoint_url": safe_url(url)}


def _date(value: Any) -> Optional[dt.datetime]:
    """A UTC datetime from a Unix timestamp (seconds or milliseconds) or an ISO 8601 text."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


def looks_like_embedding_model(model: str) -> bool:
    """A guess from the name (``text-embedding-3-small``, ``bge-m3``, ``nomic-embed-text``,
    ``multilingual-e5-large``...): embedding models come first in the embed recipe's model list, and
    the connection test tries embeddings with them rather than chat. Rerankers count too: they serve
    neither chat nor the plain chat checks."""
    return bool(_EMBEDDING_NAME.search(model))


def embedding_models_first(choices: dict) -> dict:
    """Dynamic choices with the models that look like embedding models first (none is removed: a name
    says little, and any model the provider serves on /embeddings works)."""
    items = choices.get("choices") or []
    ordered = ([c for c in items if looks_like_embedding_model(str(c.get("value") or ""))]
               + [c for c in items if not looks_like_embedding_model(str(c.get("value") or ""))])
    return dict(choices, choices=ordered)
