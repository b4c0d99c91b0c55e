"""Together AI (``https://api.together.xyz/v1``)."""
from tests.providers.case import RETRIED, Case, Expect, chunk, completion, err, ok, stream_reply, text_chunks, usage

ERRORS = "https://docs.together.ai/docs/error-codes"

CASES = [
    Case(
        name="together-429-credit-limit",
        provider="Together",
        # type credit_limit on a per-minute limit: retry after a pause
        source="togethercomputer/MoA#27; bespokelabsai/curator#205",
        call="chat",
        replies=(err(429, {"error": {"message": "You have been rate limited. Your rate limit is 600 queries per "
                                     "minute. Please navigate to https://api.together.xyz/settings/billing to upgrade "
                                     "your plan.", "type": "credit_limit", "param": None, "code": None}}),
                 ok(completion("Done."))),
        expect=Expect(text="Done.", calls=2),
    ),
    Case(
        name="together-finish-reason-eos",
        provider="Together",
        # the model's end-of-sequence is reported as "eos": a complete answer
        source="vibrantlabsai/ragas#1548; openai/openai-dotnet#267",
        call="chat",
        replies=(ok(completion("Paris is the capital of France.", "eos", usage=usage(12, 8))),),
        expect=Expect(text="Paris is the capital of France.", finish_reason="stop"),
    ),
    Case(
        name="together-stream-usage-on-finish-chunk",
        provider="Together",
        source="https://docs.together.ai/docs/chat-overview (streaming)",
        call="stream",
        replies=(stream_reply(text_chunks("Hi")[:-1] + [chunk({}, "stop", usage=usage(3, 1))]),),
        expect=Expect(text="Hi", finish_reason="stop", usage={"total_tokens": 4}),
    ),
    Case(
        name="together-503-engine-overloaded",
        provider="Together",
        source=ERRORS + " (503 engine overloaded)",
        call="chat",
        replies=(err(503, {"error": {"message": "The server is overloaded or not ready yet.", "type": "server_error",
                                     "param": None, "code": None}}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
]
