"""Model discovery: the provider's ``GET /models`` list, cached, merged with the preset's models."""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Optional

from ..errors import InvalidResponseError, OpenAICompatibleError, SettingsError
from ..settings import ConnectionSettings, Endpoint
from .retries import Call, RetryLoop
from .send import Sender

log = logging.getLogger("openai_compatible")


def model_entries(data: Any) -> list[dict]:
    """The models of a ``GET /models`` answer, each a dict with at least ``id`` (from ``id``, ``model`` or
    ``name``); the list may be under ``data`` (OpenAI), ``models`` (Ollama-style) or ``result`` (Cloudflare), or
    be bare strings."""
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        items = data.get("models") if isinstance(data, dict) else None
    if not isinstance(items, list) and isinstance(data, dict):
        items = data.get("result")  # Cloudflare's account API envelope (Alishahryar1/free-claude-code#169)
    if not isinstance(items, list):
        raise InvalidResponseError("GET /models: the answer has no model list ('data').")
    models = []
    for item in items:
        if isinstance(item, dict) and (item.get("id") or item.get("name") or item.get("model")):
            models.append(dict(item, id=str(item.get("id") or item.get("model") or item.get("name"))))
        elif isinstance(item, str):
            models.append({"id": item})
    return models


class ModelDiscovery:
    """The models one connection offers, and where each is served."""

    def __init__(self, settings: ConnectionSettings, sender: Sender, loop: RetryLoop) -> None:
        self.settings = settings
        self.sender = sender
        self.loop = loop
        self._found: Optional[list[dict]] = None
        self._lock = threading.Lock()
        self._listed: dict[str, Endpoint] = {}  # the endpoints of the preset's own models, found once each

    def discover(self, refresh: bool = False) -> list[dict]:
        """The provider's ``GET /models`` list (OpenAI style), cached unless ``refresh``; raises
        :class:`SettingsError` for an Azure-style preset."""
        if self.settings.style != "openai":
            raise SettingsError("Model discovery needs an OpenAI-style preset; Azure-style presets list endpoints.")
        with self._lock:
            if self._found is None or refresh:
                endpoint = Endpoint(name="", kind="openai", base=self.settings.base_url)
                where = "GET /models"
                data = self.loop.run(lambda: self.sender.get_json(endpoint, "/models", where=where),
                                     Call(where, base=endpoint.base))
                self._found = model_entries(data)
            return list(self._found)

    def models(self) -> list[str]:
        """The preset's model IDs, plus the discovered ones when the preset allows discovery. A failed
        discovery leaves the preset's list (with a warning), or raises when the preset lists none."""
        listed = self.settings.listed_models()
        if self.settings.style != "openai" or not self.settings.discover_models:
            return listed
        try:
            found = [m["id"] for m in self.discover()]
        except OpenAICompatibleError:
            if listed:
                log.warning("Model discovery failed; using the preset's list only.")
                return listed
            raise
        return offered_models(listed, found)

    def endpoint_for(self, model: str) -> Endpoint:
        """Where ``model`` is served; raises :class:`UnknownModelError` for a model the preset doesn't offer."""
        endpoint = self._listed.get(model) if type(model) is str else None
        if endpoint is not None:
            return endpoint
        s = self.settings
        if s.style == "openai" and model not in s.models and s.discover_models:
            try:
                found = tuple(m["id"] for m in self.discover())
            except OpenAICompatibleError as exc:
                raise SettingsError(f"Model '{model}' is not in the preset's list and model discovery failed: "
                                    f"{exc}") from None
            return s.endpoint_for(model, found)  # not kept: a refreshed discovery may no longer offer it
        endpoint = self._listed[model] = s.endpoint_for(model)
        return endpoint


def offered_models(listed: Iterable[str], discovered: Iterable[str]) -> list[str]:
    """The models a connection offers: the preset's ``listed`` ones first, in their order, then the
    ``discovered`` ones (``GET /models``) the preset does not list, in the provider's order; each once."""
    return list(dict.fromkeys([*listed, *discovered]))
