"""LocalAI (``http://host:8080/v1``), a general OpenAI clone."""
from tests.providers.case import (
    RETRIED,
    Case,
    Expect,
    completion,
    embeddings,
    err,
    ok,
    stream_reply,
    text_chunks,
    usage,
)

CASES = [
    Case(
        name="localai-chat-answer",
        provider="LocalAI",
        source="https://localai.io/features/text-generation/",
        call="chat",
        replies=(ok(completion("Hi there.", usage=usage(8, 3))),),
        expect=Expect(text="Hi there.", finish_reason="stop", usage={"total_tokens": 11}, calls=1),
    ),
    Case(
        name="localai-stream-answer",
        provider="LocalAI",
        source="https://localai.io/features/text-generation/ (stream: true)",
        call="stream",
        replies=(stream_reply(text_chunks("One", ", two")),),
        expect=Expect(text="One, two", finish_reason="stop"),
    ),
    Case(
        name="localai-embeddings-floats",
        provider="LocalAI",
        source="https://localai.io/features/embeddings/",
        call="embed",
        options={"texts": ["x", "y"]},
        replies=(ok(embeddings([1.0, 0.0, 0.5], [0.0, 1.0, 0.5])),),
        expect=Expect(vectors=((1.0, 0.0, 0.5), (0.0, 1.0, 0.5)), calls=1),
    ),
    Case(
        name="localai-backend-load-failure",
        provider="LocalAI",
        # a backend that cannot load the model answers 500 with the gRPC reason; worth a retry
        source="mudler/LocalAI#1664; mudler/LocalAI#2692",
        call="chat",
        replies=(err(500, {"error": {"code": 500, "message": "could not load model: rpc error: code = Unavailable "
                                     "desc = error reading from server: EOF", "type": ""}}),),
        expect=Expect(error="ServerError", mentions=("could not load model",), calls=RETRIED),
    ),
]
