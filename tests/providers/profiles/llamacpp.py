"""llama.cpp's ``llama-server`` (``http://host:8080/v1``)."""
from tests.providers.case import Case, Expect, chunk, completion, embeddings, err, ok, stream_reply, text_chunks, usage

SERVER_README = "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"

CASES = [
    Case(
        name="llamacpp-context-exceeded-typed",
        provider="llama.cpp server",
        # the error type names the condition and the body carries both token counts
        source="ggml-org/llama.cpp#15780; llmmllab/llmmllab-api#69",
        call="chat",
        replies=(err(400, {"error": {"code": 400, "message": "request (25837 tokens) exceeds the available context "
                                     "size (25088 tokens), try increasing it", "type": "exceed_context_size_error",
                                     "n_prompt_tokens": 25837, "n_ctx": 25088}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="llamacpp-context-exceeded-untyped",
        provider="llama.cpp server",
        # older builds and forks: the same condition, worded with token counts but no telling type
        source="llmmllab/llmmllab-api#56",
        call="chat",
        replies=(err(400, {"error": {"code": 400, "message": "request (53192 tokens) exceeds context size (50176 "
                                     "tokens)", "type": "invalid_request_error"}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="llamacpp-context-error-in-200-body",
        provider="llama.cpp server",
        # reported as arriving with HTTP 200: the error object is the whole body
        source="oobabooga/textgen#7257",
        call="chat",
        replies=(ok({"error": {"code": 400, "message": "the request exceeds the available context size. try "
                               "increasing the context size or enable context shift",
                               "type": "exceed_context_size_error", "n_prompt_tokens": 14429, "n_ctx": 8192}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="llamacpp-stream-error-event",
        provider="llama.cpp server",
        # the stream opens with 200 and its only event is an error object
        source="containers/ramalama#1914",
        call="stream",
        replies=(stream_reply([{"error": {"code": 400, "message": "the request exceeds the available context size. "
                                          "try increasing the context size or enable context shift",
                                          "type": "invalid_request_error"}}], done=False),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="llamacpp-inline-think-block",
        provider="llama.cpp server",
        # --reasoning-format none leaves the thinking inline in content
        source=SERVER_README + " (--reasoning-format); vllm-project/vllm#21130",
        call="chat",
        replies=(ok(completion("<think>\nThe capital of France is Paris.\n</think>\n\nParis.", usage=usage(14, 18))),),
        expect=Expect(text="Paris.", reasoning="The capital of France is Paris.", finish_reason="stop"),
    ),
    Case(
        name="llamacpp-stream-inline-think-tags-split",
        provider="llama.cpp server",
        # --reasoning-format none streams the block token by token: the tags arrive cut across chunks
        source=SERVER_README + " (--reasoning-format); vllm-project/vllm#21130",
        call="stream",
        replies=(stream_reply(text_chunks("<th", "ink>\nShort", " answer.</th", "ink>", "\n\n", "Pa", "ris.")),),
        expect=Expect(text="Paris.", reasoning="Short answer.", finish_reason="stop"),
    ),
    Case(
        name="llamacpp-unclosed-think-cut-by-length",
        provider="llama.cpp server",
        # the whole output budget went to thinking: no closing tag, no answer
        source=SERVER_README + " (--reasoning-format); cubist38/mlx-openai-server#84",
        call="chat",
        options={"max_tokens": 16},
        replies=(ok(completion("<think>\nThe user asks for a haiku. First line: five syllables", "length",
                               usage=usage(20, 16))),),
        expect=Expect(error="OpenAICompatibleError", mentions=("token",), calls=1),
    ),
    Case(
        name="llamacpp-embeddings-floats",
        provider="llama.cpp server",
        source=SERVER_README + " (POST /v1/embeddings)",
        call="embed",
        options={"texts": ["one", "two", "three"]},
        replies=(ok(embeddings([0.25, -0.5], [0.0, 1.0], [1.5, 2.5], usage={"prompt_tokens": 3, "total_tokens": 3})),),
        expect=Expect(vectors=((0.25, -0.5), (0.0, 1.0), (1.5, 2.5)), calls=1),
    ),
    Case(
        name="llamacpp-stream-timings-final-chunk",
        provider="llama.cpp server",
        # the last chunk carries finish_reason, usage and a non-standard "timings" object
        source=SERVER_README + " (OpenAI-compatible chat completions, streaming)",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": None}), chunk({"content": "Hi"}),
                               chunk({}, "stop", usage=usage(4, 1), top={"timings": {"predicted_ms": 3.2}})]),),
        expect=Expect(text="Hi", finish_reason="stop", usage={"total_tokens": 5}),
    ),
    Case(
        name="llamacpp-fork-stream-without-done",
        provider="llama.cpp server",
        # a llama.cpp fork ends the stream cleanly after the finish chunk but never sends data: [DONE]
        source="ikawrakow/ik_llama.cpp#467",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "All"}), chunk({"content": " done."}),
                               chunk({}, "stop", usage=usage(5, 3))], done=False),),
        expect=Expect(text="All done.", finish_reason="stop", usage={"total_tokens": 8}),
    ),
]
