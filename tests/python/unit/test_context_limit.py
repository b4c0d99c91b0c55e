"""A request that does not fit the model's context is a ContextLengthError, whatever the provider's words or status."""
from __future__ import annotations

import json

import pytest
from openai_compatible.context_limit import is_context_length_message, states_tokens_above_a_maximum
from openai_compatible.errors import (
    BadRequestError,
    ContextLengthError,
    RateLimitError,
    ServerError,
    error_from_response,
)


def body(message: str, **extra) -> str:
    return json.dumps({"error": dict({"message": message}, **extra)})


@pytest.mark.parametrize("status, text", [
    # llama.cpp server while decoding: a 500 that is not transient (ggml-org/llama.cpp#19774)
    (500, body("Context size has been exceeded.", type="server_error", code=500)),
    (400, body("request (4390 tokens) exceeds the available context size (4096 tokens), try increasing it",
               type="exceed_context_size_error")),
    (400, body("This model's maximum context length is 16384 tokens. However, you requested 122946 tokens "
               "(112946 in the messages, 10000 in the completion). Please reduce the length of the messages.")),
    (400, body("prompt is too long: 208310 tokens > 200000 maximum", type="invalid_request_error")),
    (422, json.dumps({"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. "
                               "Given: 1244 `inputs` tokens and 1000 `max_new_tokens`",
                      "error_type": "validation"})),
    # a wording no list holds: a token count above a stated maximum
    (400, body("the prompt has 210000 tokens, above the 200000 limit")),
    (413, body("Your input of 9,001 tokens exceeds the limit of 8,192 for this model")),
])
def test_every_wording_is_a_context_length_error_and_not_retried(status, text):
    error = error_from_response(status, text, {})
    assert isinstance(error, ContextLengthError), error
    assert not error.retryable
    assert "Shorten the input" in str(error)


@pytest.mark.parametrize("status, text, cls", [
    (400, body("max_tokens 5 is below the minimum of 10"), BadRequestError),
    (400, body("temperature must be <= 2"), BadRequestError),
    (422, json.dumps({"error": "Input validation error: `max_new_tokens` must be <= 192. Given: 500"}),
     BadRequestError),
    (429, body("Request too large on tokens per min (TPM): Limit 10000, Requested 15000 tokens"), RateLimitError),
    (500, body("CUDA out of memory"), ServerError),
])
def test_other_errors_with_numbers_are_not_context_errors(status, text, cls):
    error = error_from_response(status, text, {})
    assert type(error) is cls, error


def test_the_token_count_rule_needs_the_count_above_the_maximum():
    assert states_tokens_above_a_maximum("the prompt has 210000 tokens, above the 200000 limit")
    assert not states_tokens_above_a_maximum("the prompt has 1000 tokens, above the 200000 limit")  # nonsense
    assert not states_tokens_above_a_maximum("the prompt has 4096 tokens, above the 4096 limit")  # not above
    assert states_tokens_above_a_maximum("maximum is 4096 but the request has 5000 tokens")
    assert not states_tokens_above_a_maximum("maximum is 4096 and the request has 4096 tokens")  # not above
    assert not is_context_length_message("5 requests per minute above the 3 per minute limit of 100 tokens")
