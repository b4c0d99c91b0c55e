"""Azure OpenAI deployments (``{target}/openai/deployments/{name}/...?api-version=``)."""
from tests.providers.case import (
    RETRIED,
    Case,
    Expect,
    chunk,
    completion,
    err,
    ok,
    openai_error,
    stream_reply,
    text_chunks,
)

FILTER_DOCS = "https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter"
AZURE = {"style": "azure"}

CASES = [
    Case(
        name="azure-prompt-filtered-400",
        provider="Azure OpenAI",
        source=FILTER_DOCS + "; compl-ai/compl-ai#20",
        call="chat",
        preset=AZURE,
        replies=(err(400, {"error": {"message": "The response was filtered due to the prompt triggering Azure "
                                     "OpenAI's content management policy.", "type": None, "param": "prompt",
                                     "code": "content_filter", "status": 400,
                                     "innererror": {"code": "ResponsibleAIPolicyViolation",
                                                    "content_filter_result": {
                                                        "hate": {"filtered": True, "severity": "high"},
                                                        "jailbreak": {"filtered": False, "detected": False}}}}}),),
        expect=Expect(error="ContentFilterError", calls=1),
    ),
    Case(
        name="azure-stream-prompt-filter-first-chunk",
        provider="Azure OpenAI",
        # the first chunk has choices [] and prompt_filter_results
        source=FILTER_DOCS + "; simonw/llm#294; langfuse/langfuse#2833",
        call="stream",
        preset=AZURE,
        replies=(stream_reply([{"id": "", "object": "", "created": 0, "model": "", "choices": [],
                                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                                    "hate": {"filtered": False, "severity": "safe"}}}]}]
                              + text_chunks("Bonjour", " !")),),
        expect=Expect(text="Bonjour !", finish_reason="stop"),
    ),
    Case(
        name="azure-output-filtered-finish-reason",
        provider="Azure OpenAI",
        # a 200 whose output was cut by the filter: finish_reason content_filter, partial text
        source=FILTER_DOCS + " (finish_reason content_filter)",
        call="chat",
        preset=AZURE,
        replies=(ok(completion("Here is how to", "content_filter",
                               choice={"content_filter_results": {"violence": {"filtered": True,
                                                                               "severity": "medium"}}})),),
        expect=Expect(error="ContentFilterError", calls=1),
    ),
    Case(
        name="azure-reasoning-model-effort-and-tokens",
        provider="Azure OpenAI",
        # reasoning models take reasoning_effort as is; the reasoning stays hidden, only its tokens are counted
        source="https://platform.openai.com/docs/api-reference/chat/create (reasoning_effort); "
               "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/reasoning",
        call="chat",
        preset=AZURE,
        options={"reasoning_effort": "high"},
        replies=(ok(completion("4", usage={"prompt_tokens": 9, "completion_tokens": 140, "total_tokens": 149,
                                           "completion_tokens_details": {"reasoning_tokens": 128}})),),
        expect=Expect(text="4", usage={"completion_tokens": 140, "reasoning_tokens": 128}, calls=1,
                      sent={"reasoning_effort": "high"}),
    ),
    Case(
        name="azure-deployment-not-found",
        provider="Azure OpenAI",
        source="https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/create-resource "
               "(DeploymentNotFound)",
        call="chat",
        preset=AZURE,
        replies=(err(404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this "
                                     "resource does not exist. If you created the deployment within the last 5 "
                                     "minutes, please wait a moment and try again."}}),),
        expect=Expect(error="UnknownModelError", calls=1),
    ),
    Case(
        name="azure-429-retry-after",
        provider="Azure OpenAI",
        source="https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/quota (429 and retry-after)",
        call="chat",
        preset=AZURE,
        replies=(err(429, {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation "
                                     "under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of "
                                     "your current pricing tier. Please retry after 1 second."}},
                     headers=(("retry-after", "1"), ("x-ratelimit-remaining-tokens", "0"))),
                 ok(completion("Done."))),
        expect=Expect(text="Done.", calls=2),
    ),
    Case(
        name="azure-stop-array-too-long",
        provider="Azure OpenAI",
        # a value refused (five stop sequences where four are allowed), not the field
        source="QwenLM/Qwen-Agent#228",
        call="chat",
        preset=AZURE,
        options={"stop": ["A:", "B:", "C:", "D:", "E:"]},
        replies=(err(400, openai_error("Invalid 'stop': array too long. Expected an array with maximum length 4, "
                                       "but got an array with length 5 instead.", code="array_above_max_length",
                                       param="stop")),
                 ok(completion("Fine."))),
        expect=Expect(text="Fine.", calls=2, sent={"stop": ["A:", "B:", "C:", "D:"]}),
    ),
    Case(
        name="azure-500-internal",
        provider="Azure OpenAI",
        source="https://learn.microsoft.com/en-us/azure/ai-services/openai/reference (error response)",
        call="chat",
        preset=AZURE,
        replies=(err(500, {"error": {"code": "InternalServerError", "message": "The server had an error while "
                                     "processing your request. Sorry about that!"}}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="azure-structured-output-refusal",
        provider="Azure OpenAI",
        # structured outputs: the model declines in message.refusal and content is null
        source="https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/structured-outputs; "
               "https://platform.openai.com/docs/guides/structured-outputs (refusals)",
        call="chat",
        preset=AZURE,
        replies=(ok(completion(None, message={"refusal": "I'm sorry, I can't assist with that request."})),),
        expect=Expect(error="ContentFilterError", mentions=("can't assist",), calls=1),
    ),
    Case(
        name="azure-stream-refusal-delta",
        provider="Azure OpenAI",
        source="https://platform.openai.com/docs/guides/structured-outputs (refusals while streaming)",
        call="stream",
        preset=AZURE,
        replies=(stream_reply([chunk({"role": "assistant", "content": None, "refusal": ""}),
                               chunk({"refusal": "I'm sorry, "}), chunk({"refusal": "I can't assist with that."}),
                               chunk({}, "stop")]),),
        expect=Expect(error="ContentFilterError", mentions=("can't assist",), calls=1),
    ),
    Case(
        name="azure-stream-content-filter-event",
        provider="Azure OpenAI",
        # the output filter fires mid-stream: after a 200, an event carries the error object
        source="Oaklight/argo-proxy#91; " + FILTER_DOCS,
        call="stream",
        preset=AZURE,
        replies=(stream_reply([chunk({"role": "assistant", "content": "Step one"}),
                               {"error": {"code": "content_filter", "status": 400,
                                          "message": "The response was filtered due to the prompt triggering "
                                                     "Azure OpenAI's content management policy."}}], done=False),),
        expect=Expect(error="ContentFilterError", calls=1),
    ),
]

_ = chunk
