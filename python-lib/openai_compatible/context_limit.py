"""Recognises a provider's "the request does not fit the model's context" error, whatever its wording or status.

Providers say it in many ways and with many statuses (400, 413, 422, even 500), and a request that does not fit
will never fit: it must not be retried, and the row error must say to shorten the input or lower the output cap.
Two rules, tried in order:

1. a known phrase (each from the provider's public docs or a public bug report, cited beside it);
2. a message that states a token count above a stated maximum (``the prompt has 210000 tokens, above the
   200000 limit``): a number of tokens, a word of excess or limit, and a second, smaller number.
"""

from __future__ import annotations

import re

# Lower-case phrases, each seen in a provider's answer to a request longer than the model's context.
CONTEXT_PHRASES = (
    "context_length",  # OpenAI error code context_length_exceeded; vLLM's 400 (vllm-project/vllm#20409)
    "context length",  # vLLM "This model's maximum context length is N tokens" (vllm-project/vllm#20409)
    "maximum context",  # the same wording, relayed by gateways (gpustack/gpustack#929)
    "context window",  # LiteLLM relays it as ContextWindowExceededError (entropy-research/Devon#88)
    "contextwindowexceeded",  # LiteLLM's exception name in its error text (entropy-research/Devon#88)
    "exceed_context_size",  # llama.cpp server error type exceed_context_size_error (ggml-org/llama.cpp#15780)
    "exceeds the available context size",  # llama.cpp server, 400 or 500 (ggml-org/llama.cpp#17284, #19774)
    "context size has been exceeded",  # llama.cpp server HTTP 500 "server_error" (ggml-org/llama.cpp#19774)
    "exceeds the context",  # generic wording
    "too many tokens",  # generic wording
    "too large to process",  # llama.cpp /embeddings: HTTP 500 "input (N tokens) is too large to process"
    "prompt is too long",  # Anthropic 400 "prompt is too long: N tokens > M maximum" (anthropics/claude-code#12186)
    "tokens + `max_new_tokens` must be",  # HF TGI 422 (huggingface/text-generation-inference#628)
    "`inputs` must have less than",  # HF TGI 422 "`inputs` must have less than N tokens" (tgi#695)
    "exceeds the maximum number of tokens",  # Gemini "The input token count (N) exceeds the maximum number of
    # tokens allowed (M)", also nested as JSON text in a proxy's message (google-gemini/gemini-cli#6678, #4231)
    "exceed context window",  # llama-cpp-python "Requested tokens (N) exceed context window of M" (#416)
)

_NUMBER = r"(\d[\d,._]*)"
# "<N> tokens ... above|exceeds|over|greater than|more than|> ... <M>" and "<N> ... limit|maximum ... <M>"
_COUNT_ABOVE_MAX = re.compile(
    _NUMBER + r"\s*(?:input\s+|prompt\s+)?tokens?\b[^.\d]{0,80}?"
    r"(?:above|exceed\w*|over|greater than|more than|larger than|>|beyond)[^.\d]{0,40}?" + _NUMBER,
    re.IGNORECASE)
_MAX_THEN_COUNT = re.compile(
    r"(?:limit|maximum|max)\w*[^.\d]{0,40}?" + _NUMBER + r"[^\d]{0,80}?(?:requested|has|have|got|given|contains)"
    r"[^.\d]{0,20}?" + _NUMBER + r"\s*tokens?", re.IGNORECASE)


def _number(text: str) -> int:
    return int(re.sub(r"[,._]", "", text))


def states_tokens_above_a_maximum(message: str) -> bool:
    """True when ``message`` states a token count greater than a maximum it also states.

    >>> states_tokens_above_a_maximum("the prompt has 210000 tokens, above the 200000 limit")
    True
    >>> states_tokens_above_a_maximum("max_tokens 5 is above the minimum of 10")
    False
    """
    for match in _COUNT_ABOVE_MAX.finditer(message):
        if _number(match.group(1)) > _number(match.group(2)):
            return True
    for match in _MAX_THEN_COUNT.finditer(message):
        if _number(match.group(2)) > _number(match.group(1)):
            return True
    return False


_RATE_WORDS = re.compile(r"per (?:minute|second|day|hour)|\b(?:tpm|rpm|rate)\b", re.IGNORECASE)


def is_context_length_message(message: str) -> bool:
    """True when a provider's error text says the request does not fit the model's context window.

    A message about a rate (tokens per minute: OpenAI's "Request too large ... on tokens per min (TPM): Limit
    N, Requested M") states counts above a limit too, but is a rate limit, not the context: not matched by
    the token-count rule."""
    lowered = message.lower()
    if any(phrase in lowered for phrase in CONTEXT_PHRASES):
        return True
    return not _RATE_WORDS.search(message) and states_tokens_above_a_maximum(message)
