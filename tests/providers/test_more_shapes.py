"""Further shapes of the kinds the corpus holds, checked through the public client: errors carried by a 200 in
other envelopes, each answered once (no retry) with a diagnosis that names ``base_url``."""
from __future__ import annotations

from typing import Iterator

import pytest
from openai_compatible import Client, ConnectionSettings, InvalidResponseError
from openai_compatible.retry import RetryPolicy

from tests.providers.case import HI, MODEL
from tests.providers.replay import ReplayServer, Reply

FAST = RetryPolicy(max_retries=2, initial_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.mark.parametrize("body", [
    # Cloudflare's API envelope (https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/)
    {"result": None, "success": False, "errors": [{"code": 7000, "message": "No route for that URI"}]},
    # vLLM's unwrapped error object (vllm-project/vllm#16331 shows its shape), here behind a proxy that answers 200
    {"object": "error", "message": "The model does not exist.", "type": "NotFoundError", "code": None},
    # FastAPI's default for an unknown path (https://fastapi.tiangolo.com/tutorial/handling-errors/)
    {"detail": "Not Found"},
    # a gateway that nests the upstream error in its own
    {"error": {"error": {"message": "upstream: route not found"}}},
    # Go's net/http answer to an unknown path, as Ollama sends it (https://pkg.go.dev/net/http#NotFound)
    "404 page not found",
], ids=["cloudflare-envelope", "vllm-object-error", "fastapi-detail", "nested-error", "go-not-found-text"])
def test_an_error_in_a_200_is_answered_once_and_names_base_url(replay: ReplayServer, body) -> None:
    replay.serve(Reply(200, body))
    settings = ConnectionSettings.from_preset({"base_url": replay.url + "/v1", "models": [MODEL],
                                               "api_key": "sk-shapes-0001", "max_retries": 2})
    with Client(settings, retry=FAST) as client:
        with pytest.raises(InvalidResponseError) as caught:
            client.chat(HI, MODEL)
    assert "base_url" in str(caught.value)
    assert len(replay.requests) == 1
