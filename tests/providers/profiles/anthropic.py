"""Anthropic's OpenAI SDK compatibility layer (``https://api.anthropic.com/v1``)."""
from tests.providers.case import (
    RETRIED,
    Case,
    Expect,
    completion,
    err,
    ok,
    openai_error,
    stream_reply,
    text_chunks,
    usage,
)

COMPAT = "https://docs.anthropic.com/en/api/openai-sdk"
ERRORS = "https://docs.anthropic.com/en/api/errors"

CASES = [
    Case(
        name="anthropic-chat-answer",
        provider="Anthropic (OpenAI layer)",
        source=COMPAT,
        call="chat",
        replies=(ok(completion("Hello!", usage=usage(10, 5))),),
        expect=Expect(text="Hello!", finish_reason="stop", usage={"total_tokens": 15}, calls=1),
    ),
    Case(
        name="anthropic-prompt-too-long",
        provider="Anthropic (OpenAI layer)",
        # token counts with ">" and "maximum": no "context" word at all
        source=ERRORS + " (invalid_request_error); " + COMPAT,
        call="chat",
        replies=(err(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                      "message": "prompt is too long: 210000 tokens > 200000 "
                                                                 "maximum"}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="anthropic-529-overloaded",
        provider="Anthropic (OpenAI layer)",
        source=ERRORS + " (529 overloaded_error)",
        call="chat",
        replies=(err(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="anthropic-413-request-too-large",
        provider="Anthropic (OpenAI layer)",
        source=ERRORS + " (413 request_too_large)",
        call="chat",
        replies=(err(413, {"type": "error", "error": {"type": "request_too_large",
                                                      "message": "Request exceeds the maximum allowed number of "
                                                                 "bytes."}}),),
        expect=Expect(error="BadRequestError", mentions=("maximum allowed",), calls=1),
    ),
    Case(
        name="anthropic-401-invalid-key",
        provider="Anthropic (OpenAI layer)",
        source=ERRORS + " (401 authentication_error)",
        call="chat",
        replies=(err(401, {"type": "error", "error": {"type": "authentication_error",
                                                      "message": "invalid x-api-key"}}),),
        expect=Expect(error="AuthenticationError", calls=1),
    ),
    Case(
        name="anthropic-stream-answer",
        provider="Anthropic (OpenAI layer)",
        source=COMPAT + " (streaming and stream_options supported)",
        call="stream",
        replies=(stream_reply(text_chunks("Bonjour", "."), headers=(("request-id", "req_corpus"),)),),
        expect=Expect(text="Bonjour.", finish_reason="stop"),
    ),
]

_ = openai_error
