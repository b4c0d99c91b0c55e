"""A base URL without the version prefix its server answers under (``http://host:8080`` for a server whose
API is at ``http://host:8080/v1``): how to tell, and the sentence that says which URL to use.

Most OpenAI-compatible servers serve the API under ``/v1`` (vLLM, llama.cpp, Ollama, LM Studio, LiteLLM).
Some also answer a few paths without it, in their own format: llama.cpp's ``/embeddings`` returns its
native per-token shape (https://github.com/ggml-org/llama.cpp/tree/master/tools/server, "POST /embeddings"
versus "POST /v1/embeddings"), so chat works and embeddings break. Others serve the API at the root on
purpose (DeepSeek documents both ``https://api.deepseek.com`` and ``.../v1``): only a probe can tell.
"""
from __future__ import annotations

import json
import re
import threading
from typing import Optional
from urllib.parse import urlsplit

import requests

from ..errors import OpenAICompatibleError
from ..settings import ConnectionSettings, Endpoint, safe_url
from .auth import request_headers, request_query
from .transport import Transport

# /v1, /v2, /v1beta, /v1alpha1: the version segments OpenAI, Google and gateways use
VERSION_SEGMENT = re.compile(r"/v\d+(?:[a-z]+\d*)?$", re.IGNORECASE)
_PROBE_LIMIT = 1024 * 1024


def lacks_version_prefix(base_url: str) -> bool:
    """True when the URL's path does not end with a version segment such as ``/v1``."""
    return not VERSION_SEGMENT.search(urlsplit(base_url).path.rstrip("/"))


def lists_models(transport: Transport, settings: ConnectionSettings, url: str) -> bool:
    """True when ``GET url`` (with the preset's key, headers and query) answers the API's model list object
    (a JSON object whose ``data`` is a list). Never raises: any failure is False."""
    endpoint = Endpoint(name="", kind="openai", base=settings.base_url)
    try:
        response = transport.request("GET", url, headers=request_headers(settings, endpoint),
                                     params=request_query(settings, endpoint), allow_redirects=False,
                                     timeout=(settings.connect_timeout_s, min(settings.read_timeout_s, 15.0)))
    except (requests.exceptions.RequestException, ValueError):
        return False
    try:
        if response.status_code != 200:
            return False
        raw = response.raw.read(_PROBE_LIMIT, decode_content=True)
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (requests.exceptions.RequestException, ValueError, OSError):
        return False
    finally:
        response.close()
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def versioned_base(settings: ConnectionSettings, transport: Transport) -> Optional[str]:
    """``base_url + "/v1"`` when an OpenAI-style ``base_url`` has no version prefix and the server lists
    models under ``/v1``; else None. One GET at most."""
    if settings.style != "openai" or not lacks_version_prefix(settings.base_url):
        return None
    candidate = settings.base_url.rstrip("/") + "/v1"
    return candidate if lists_models(transport, settings, candidate + "/models") else None


def prefix_sentence(versioned: str) -> str:
    """The sentence naming the URL to use (secret-free: no query string, no credentials)."""
    return (f"The service answers the API under /v1, which the preset's base_url lacks: set 'base_url' to "
            f"'{safe_url(versioned)}'.")


class PrefixHint:
    """Finds out once per connection (on the first error that may come from it) whether ``base_url`` lacks
    the server's ``/v1``, and adds that to error messages."""

    def __init__(self, settings: ConnectionSettings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self._sentence: Optional[str] = None
        self._lock = threading.Lock()

    def sentence(self) -> str:
        """The sentence to add (empty when the URL is fine or the server does not answer under /v1)."""
        if self.settings.style != "openai" or not lacks_version_prefix(self.settings.base_url):
            return ""
        with self._lock:
            if self._sentence is None:
                found = versioned_base(self.settings, self.transport)
                self._sentence = prefix_sentence(found) if found else ""
            return self._sentence

    def amend(self, error: OpenAICompatibleError) -> OpenAICompatibleError:
        """``error`` with the sentence appended to its message, when there is one."""
        sentence = self.sentence()
        if sentence and sentence not in error.message:
            error.message = f"{error.message} {sentence}"
            error.args = (error.message,)
        return error
