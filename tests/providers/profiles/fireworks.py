"""Fireworks AI (``https://api.fireworks.ai/inference/v1``)."""
from tests.providers.case import Case, Expect, chunk, completion, err, ok, stream_reply, usage

DOCS = "https://docs.fireworks.ai/api-reference/post-chatcompletions"

CASES = [
    Case(
        name="fireworks-stream-usage-final-chunk",
        provider="Fireworks",
        # usage is attached to the chunk that carries finish_reason
        source=DOCS,
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "Yes"}), chunk({"content": "."}),
                               chunk({}, "stop", usage=usage(7, 2))]),),
        expect=Expect(text="Yes.", finish_reason="stop", usage={"prompt_tokens": 7, "completion_tokens": 2}),
    ),
    Case(
        name="fireworks-inline-think-reasoning-model",
        provider="Fireworks",
        # DeepSeek-R1 style models served with the thinking inline in content
        source="https://docs.fireworks.ai/guides/reasoning (reasoning in <think> tags); vllm-project/vllm#26239",
        call="chat",
        replies=(ok(completion("<think>\nThe user wants JSON.\n</think>\n\n{\"sentiment\": \"negative\"}",
                               usage=usage(30, 25))),),
        expect=Expect(text='{"sentiment": "negative"}', reasoning="The user wants JSON."),
    ),
    Case(
        name="fireworks-model-not-found",
        provider="Fireworks",
        source=DOCS + " (404)",
        call="chat",
        replies=(err(404, {"error": {"object": "error", "type": "invalid_request_error",
                                     "message": "Model not found, inaccessible, and/or not deployed"}}),),
        expect=Expect(error="UnknownModelError", calls=1),
    ),
]
