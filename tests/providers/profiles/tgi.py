"""Hugging Face Text Generation Inference (``{endpoint}/v1``, Messages API)."""
from tests.providers.case import Case, Expect, completion, err, ok, stream_reply

MESSAGES_API = "https://huggingface.co/docs/text-generation-inference/messages_api"

CASES = [
    Case(
        name="tgi-chat-model-tgi",
        provider="HF TGI",
        # the Messages API answers with model "tgi"; before 2.2.1 a natural end was reported as "eos_token"
        source=MESSAGES_API + "; huggingface/text-generation-inference#2344 (fixes #2296)",
        call="chat",
        replies=(ok(completion("Deep learning is a subset of machine learning.", "eos_token", model="tgi",
                               top={"system_fingerprint": "2.0.4-sha"})),),
        expect=Expect(text="Deep learning is a subset of machine learning.", finish_reason="stop"),
    ),
    Case(
        name="tgi-422-inputs-plus-new-tokens",
        provider="HF TGI",
        # a 422 whose string error states the token budget: the context is too small for the request
        source="huggingface/chat-ui#340; huggingface/huggingface_hub#2514",
        call="chat",
        replies=(err(422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                                    "Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
                           "error_type": "validation"}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="tgi-422-inputs-too-long",
        provider="HF TGI",
        source="meta-llama/llama#1103; h2oai/h2ogpt#373",
        call="chat",
        replies=(err(422, {"error": "Input validation error: `inputs` must have less than 4096 tokens. Given: 4545",
                           "error_type": "validation"}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="tgi-template-error-string",
        provider="HF TGI",
        # the error is a bare string with a separate error_type
        source="huggingface/text-generation-inference#1743",
        call="chat",
        replies=(err(422, {"error": "Template error: template not found", "error_type": "template_error"}),),
        expect=Expect(error="BadRequestError", mentions=("template",), calls=1),
    ),
    Case(
        name="tgi-stream-validation-error-in-200",
        provider="HF TGI",
        # a validation error delivered as the only event of a 200 stream
        source="huggingface/text-generation-inference#2749; huggingface/huggingface_hub#2514",
        call="stream",
        replies=(stream_reply([{"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                                         "4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
                                "error_type": "validation"}], done=False),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
]
