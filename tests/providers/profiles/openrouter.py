"""OpenRouter (``https://openrouter.ai/api/v1``), a router over many upstream providers."""
from tests.providers.case import RETRIED, Case, Expect, chunk, completion, err, ok, stream_reply, text_chunks, usage

STREAMING = "https://openrouter.ai/docs/api-reference/streaming"
ERRORS = "https://openrouter.ai/docs/api-reference/errors"

CASES = [
    Case(
        name="openrouter-processing-comments",
        provider="OpenRouter",
        # SSE comment lines keep the connection open while the upstream is slow
        source=STREAMING + "; mnfst/llm-gateway#2053",
        call="stream",
        replies=(stream_reply([": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n"]
                              + text_chunks("Hel", "lo") + [chunk(choices=False, usage=usage(3, 2))]),),
        expect=Expect(text="Hello", finish_reason="stop", usage={"total_tokens": 5}),
    ),
    Case(
        name="openrouter-stream-reasoning-field",
        provider="OpenRouter",
        # reasoning tokens stream as delta.reasoning
        source="https://openrouter.ai/docs/use-cases/reasoning-tokens",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "", "reasoning": "Think about "}),
                               chunk({"reasoning": "it."}), chunk({"content": "Done."}), chunk({}, "stop")]),),
        expect=Expect(text="Done.", reasoning="Think about it.", finish_reason="stop"),
    ),
    Case(
        name="openrouter-mid-stream-error",
        provider="OpenRouter",
        # after tokens were sent, an error arrives as an event with finish_reason "error"
        source=ERRORS + " (errors during streaming)",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "Partial"}),
                               {"id": "gen-1", "object": "chat.completion.chunk", "created": 1700000000,
                                "model": "corpus-model", "error": {"code": "server_error",
                                                                   "message": "Provider disconnected"},
                                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}]),),
        expect=Expect(error="OpenAICompatibleError", mentions=("provider disconnected",), calls=1),
    ),
    Case(
        name="openrouter-finish-reason-error",
        provider="OpenRouter",
        # a 200 whose choice ended with finish_reason "error": the text is partial, not an answer
        source=ERRORS + "; https://openrouter.ai/docs/api-reference/overview (finish_reason normalised to error)",
        call="chat",
        replies=(ok(completion("The answer is", "error", choice={"native_finish_reason": "error"})),),
        expect=Expect(error="OpenAICompatibleError", calls=RETRIED),
    ),
    Case(
        name="openrouter-402-insufficient-credits",
        provider="OpenRouter",
        source=ERRORS + " (402: insufficient credits)",
        call="chat",
        replies=(err(402, {"error": {"code": 402, "message": "Insufficient credits. Add more using "
                                     "https://openrouter.ai/settings/credits"}}),),
        expect=Expect(error="QuotaExceededError", calls=1),
    ),
    Case(
        name="openrouter-upstream-error-in-200",
        provider="OpenRouter",
        # an upstream failure reported in a 200 body with a numeric code
        source=ERRORS + " (error object with a numeric code)",
        call="chat",
        replies=(ok({"error": {"code": 502, "message": "Provider returned error",
                               "metadata": {"provider_name": "Example"}}}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="openrouter-models-list",
        provider="OpenRouter",
        source="https://openrouter.ai/docs/api-reference/list-available-models",
        call="models",
        replies=(ok({"data": [{"id": "openai/gpt-4o-mini", "name": "OpenAI: GPT-4o-mini", "context_length": 128000,
                               "pricing": {"prompt": "0.00000015"}},
                              {"id": "mistralai/mistral-small", "name": "Mistral Small", "context_length": 32000}]}),),
        expect=Expect(models=("openai/gpt-4o-mini", "mistralai/mistral-small")),
    ),
    Case(
        name="openrouter-context-length",
        provider="OpenRouter",
        # counts split into text input, tool input and output, and a hint at the middle-out transform
        source="musistudio/claude-code-router#252; OpenHands/OpenHands#9937",
        call="chat",
        replies=(err(400, {"error": {"message": "This endpoint's maximum context length is 65536 tokens. However, you "
                                     "requested about 92208 tokens (60833 of text input, 10042 of tool input, 21333 "
                                     "in the output). Please reduce the length of either one, or use the "
                                     '"middle-out" transform to compress your prompt automatically.', "code": 400,
                                     "metadata": {"provider_name": None}}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="openrouter-context-length-in-200",
        provider="OpenRouter",
        # the same refusal delivered in a 200 body, with the status as the error's code
        source="Aider-AI/aider#3721",
        call="chat",
        replies=(ok({"error": {"message": "This endpoint's maximum context length is 131072 tokens. However, you "
                               "requested about 141607 tokens (10535 of text input, 131072 in the output). Please "
                               'reduce the length of either one, or use the "middle-out" transform to compress your '
                               "prompt automatically.", "code": 400, "metadata": {"provider_name": "Chutes"}}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
]
