"""Mistral AI's API (``https://api.mistral.ai/v1``)."""
from tests.providers.case import ABSENT, RETRIED, Case, Expect, chunk, completion, err, ok, stream_reply, usage

REASONING = "https://docs.mistral.ai/capabilities/reasoning/"

CASES = [
    Case(
        name="mistral-stream-content-parts",
        provider="Mistral",
        # delta.content as a list of typed parts
        source="NousResearch/hermes-agent#94905; symfony/ai#2422",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": ""}),
                               chunk({"content": [{"type": "text", "text": "2 + 2 = 4"}]}),
                               chunk({}, "stop", usage=usage(8, 6))]),),
        expect=Expect(text="2 + 2 = 4", finish_reason="stop"),
    ),
    Case(
        name="mistral-message-thinking-parts",
        provider="Mistral",
        # reasoning models: message.content is [thinking part, text part]
        source=REASONING + "; Arize-ai/openinference#3761",
        call="chat",
        replies=(ok(completion([{"type": "thinking", "thinking": [{"type": "text", "text": "Six times seven."}]},
                                {"type": "text", "text": "42"}], usage=usage(15, 25))),),
        expect=Expect(text="42", reasoning="Six times seven."),
    ),
    Case(
        name="mistral-stream-thinking-parts",
        provider="Mistral",
        source=REASONING + " (streamed deltas carry the same parts); symfony/ai#2422",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": [
                                   {"type": "thinking", "thinking": [{"type": "text", "text": "Quick check."}]}]}),
                               chunk({"content": [{"type": "text", "text": "Yes"}]}),
                               chunk({}, "stop")]),),
        expect=Expect(text="Yes", reasoning="Quick check.", finish_reason="stop"),
    ),
    Case(
        name="mistral-422-message-object",
        provider="Mistral",
        # the message is an object holding FastAPI's detail list
        source="editor-code-assistant/eca#231; partITech/php-mistral#76",
        call="chat",
        options={"n": 2},
        replies=(err(422, {"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "n"],
                                                                       "msg": "Extra inputs are not permitted",
                                                                       "input": 2}]},
                           "type": "invalid_request_error", "param": None, "code": None}),
                 ok(completion("Single answer."))),
        expect=Expect(text="Single answer.", calls=2, sent={"n": ABSENT}),
    ),
    Case(
        name="mistral-429-rate-limit",
        provider="Mistral",
        source="https://docs.mistral.ai/deployment/laplateforme/tier/ (rate limits)",
        call="chat",
        replies=(err(429, {"message": "Requests rate limit exceeded", "request_id": "corpus"}),
                 ok(completion("Later."))),
        expect=Expect(text="Later.", calls=2),
    ),
    Case(
        name="mistral-500-service",
        provider="Mistral",
        source="https://docs.mistral.ai/api/ (error responses)",
        call="chat",
        replies=(err(500, {"object": "error", "message": "Service unavailable.", "type": "internal_server_error",
                           "param": None, "code": "1000"}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="mistral-message-text-and-reference-parts",
        provider="Mistral",
        # an answer drawing on a tool result: text parts around a reference part
        source="laravel/ai#866",
        call="chat",
        replies=(ok(completion([{"type": "text", "text": "Per the document, "},
                                {"type": "reference", "reference_ids": [1]},
                                {"type": "text", "text": "the fee is 5 EUR."}])),),
        expect=Expect(text="Per the document, the fee is 5 EUR.", finish_reason="stop", calls=1),
    ),
]
