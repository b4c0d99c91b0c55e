"""The API path: does 'base_url' include the version prefix (``/v1``) the service answers under."""
from __future__ import annotations

import time

from ..http.prefix import VERSION_SEGMENT, lacks_version_prefix, lists_models
from ..http.transport import Transport
from ..settings import safe_url
from .context import CheckContext

NAME, LABEL = "api_path", "API path (/v1)"


def check_api_path(ctx: CheckContext) -> None:
    """A base URL without a version segment is probed with and without ``/v1``: a service that lists its
    models only under ``/v1`` needs it, and one that answers both may answer other routes in another
    format without it (llama.cpp's native ``/embeddings``)."""
    s = ctx.settings
    if s.style != "openai":
        ctx.add(NAME, LABEL, "skipped", "Azure-style presets give a Target URI; the plugin builds the API paths.")
        return
    base = s.base_url.rstrip("/")
    if not lacks_version_prefix(base):
        segment = VERSION_SEGMENT.search(base.split("?")[0])
        ctx.add(NAME, LABEL, "ok", f"'base_url' ends with the API version ('{segment.group(0) if segment else ''}').")
        return
    started = time.perf_counter()
    transport = Transport(s)
    try:
        here = lists_models(transport, s, base + "/models")
        under_v1 = lists_models(transport, s, base + "/v1/models")
    finally:
        transport.close()
    latency = (time.perf_counter() - started) * 1000.0
    versioned = safe_url(base + "/v1")
    if not under_v1:
        ctx.add(NAME, LABEL, "ok", f"'base_url' has no version prefix such as /v1, and {versioned}/models lists no "
                                   "models either: the URL is used as given.", latency_ms=latency)
        return
    ctx.versioned_base = versioned
    setting = f"set 'base_url' to '{versioned}'"
    if here:
        ctx.add(NAME, LABEL, "warn", f"The service answers the API under /v1 ({versioned}/models lists models), "
                                     "but 'base_url' has no /v1. Some routes answer without it too, but not "
                                     "necessarily in the OpenAI format (llama.cpp answers /embeddings in its own "
                                     "format there).", setting, latency_ms=latency)
    else:
        ctx.add(NAME, LABEL, "fail", f"The service answers the API under /v1 ({versioned}/models lists models), "
                                     f"and nothing at {safe_url(base)}/models: calls with this 'base_url' reach "
                                     "no API.", setting, latency_ms=latency)
