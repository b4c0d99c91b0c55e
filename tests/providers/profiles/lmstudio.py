"""LM Studio's local server (``http://host:1234/v1``)."""
from tests.providers.case import Case, Expect, chunk, completion, err, ok, stream_reply, text_chunks

CASES = [
    Case(
        name="lmstudio-doubled-v1-answers-200",
        provider="LM Studio",
        # an unknown path is answered 200 with {"error": "Unexpected endpoint or method. (...)"}
        source="lmstudio-ai/lmstudio-bug-tracker#618; lmstudio-ai/lmstudio-bug-tracker#1323",
        call="chat",
        preset={"base_url_suffix": "/v1/v1"},
        replies=(ok({"error": "Unexpected endpoint or method. (POST /v1/v1/chat/completions)"}),),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=1),
    ),
    Case(
        name="lmstudio-models-without-v1-answers-200",
        provider="LM Studio",
        source="lmstudio-ai/lmstudio-bug-tracker#2085; vijayk1989/TheStoryNexusTauriApp#17",
        call="models",
        preset={"base_url_suffix": ""},
        replies=(ok({"error": "Unexpected endpoint or method. (GET /models)"}),),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=1),
    ),
    Case(
        name="lmstudio-no-such-route-string-error",
        provider="LM Studio",
        # the issue's own example of a desktop server's answer to a doubled /v1
        source="lmstudio-ai/lmstudio-bug-tracker#618 (same kind: error string in a 200)",
        call="chat",
        preset={"base_url_suffix": "/v1/v1"},
        replies=(ok({"error": "no such route: POST /v1/v1/chat/completions"}),),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=1),
    ),
    Case(
        name="lmstudio-stream-without-usage",
        provider="LM Studio",
        # no usage chunk in streams
        source="lmstudio-ai/lmstudio-js#184",
        call="stream",
        replies=(stream_reply(text_chunks("Hello", " there")),),
        expect=Expect(text="Hello there", finish_reason="stop", usage={"total_tokens": None}),
    ),
    Case(
        name="lmstudio-models-list",
        provider="LM Studio",
        source="https://lmstudio.ai/docs/app/api/endpoints/openai",
        call="models",
        replies=(ok({"object": "list", "data": [
            {"id": "qwen2.5-7b-instruct", "object": "model", "owned_by": "organization_owner"},
            {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "owned_by": "organization_owner"}]}),),
        expect=Expect(models=("qwen2.5-7b-instruct", "text-embedding-nomic-embed-text-v1.5")),
    ),
    Case(
        name="lmstudio-json-object-refused",
        provider="LM Studio",
        # only json_schema is accepted as a response_format type
        source="https://lmstudio.ai/docs/app/api/structured-output",
        call="chat",
        options={"response_format": {"type": "json_object"},
                 "messages": [{"role": "user", "content": "Answer in JSON: the sentiment of 'awful'."}]},
        replies=(err(400, {"error": "'response_format.type' must be 'json_schema' or 'text'"}),
                 ok(completion('{"sentiment": "negative"}'))),
        expect=Expect(text='{"sentiment": "negative"}', calls=2),
    ),
    Case(
        name="lmstudio-context-overflow",
        provider="LM Studio",
        # the prompt does not fit the context the model was loaded with: a string error in a 400
        source="lmstudio-ai/lmstudio-bug-tracker#237; lmstudio-ai/lmstudio-bug-tracker#546",
        call="chat",
        replies=(err(400, {"error": "Trying to keep the first 15857 tokens when context the overflows. However, the "
                                    "model is loaded with context length of only 4096 tokens, which is not enough. Try "
                                    "to load the model with a larger context length, or provide a shorter input"}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="lmstudio-context-overflow-n-keep",
        provider="LM Studio",
        source="Gitlawb/openclaude#353; lmstudio-ai/lmstudio-bug-tracker#2205",
        call="chat",
        replies=(err(400, {"error": "The number of tokens to keep from the initial prompt is greater than the context "
                                    "length (n_keep: 13055>= n_ctx: 4096). Try to load the model with a larger context "
                                    "length, or provide a shorter input."}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="lmstudio-stream-context-overflow-event",
        provider="LM Studio",
        # when streaming, the same refusal arrives as the stream's only event
        source="dyad-sh/dyad#925; cline/cline#3664",
        call="stream",
        replies=(stream_reply([{"error": "Trying to keep the first 14538 tokens when context the overflows. However, "
                                         "the model is loaded with context length of only 2048 tokens, which is not "
                                         "enough. Try to load the model with a larger context length, or provide a "
                                         "shorter input"}], done=False),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
]

_ = chunk
