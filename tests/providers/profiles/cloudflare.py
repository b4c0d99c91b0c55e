"""Cloudflare Workers AI's OpenAI-compatible endpoint (``.../client/v4/accounts/{ACCOUNT_ID}/ai/v1``)."""
from tests.providers.case import Case, Expect, completion, err, ok, usage

DOCS = "https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/"


def cf_error(code: int, message: str) -> dict:
    """Cloudflare's API envelope."""
    return {"result": None, "success": False, "errors": [{"code": code, "message": message}], "messages": []}


CASES = [
    Case(
        name="cloudflare-could-not-route",
        provider="Cloudflare Workers AI",
        # a wrong or templated account id in the URL: the path cannot be routed
        source="anomalyco/opencode#18552",
        call="chat",
        replies=(err(400, cf_error(7003, "Could not route to /client/v4/accounts/ACCOUNT_ID/ai/v1/chat/completions, "
                                         "perhaps your object identifier is invalid?")),),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=1),
    ),
    Case(
        name="cloudflare-context-window",
        provider="Cloudflare Workers AI",
        source="cloudflare/cloudflare-docs#29731",
        call="chat",
        replies=(err(400, cf_error(5021, "AiError: This model's maximum context length is 131072 tokens. However, you "
                                         "requested 16000 output tokens and your prompt contains at least 115073 "
                                         "input tokens, for a total of at least 131073 tokens.")),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="cloudflare-requested-token-count",
        provider="Cloudflare Workers AI",
        source="anomalyco/models.dev#4422",
        call="chat",
        replies=(err(400, cf_error(5021, "Requested token count exceeds the model's maximum context length of 256000 "
                                         "tokens. You requested a total of 256878 tokens: 31216 tokens from the input "
                                         "messages and 225662 tokens for the completion.")),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="cloudflare-think-without-opening-tag",
        provider="Cloudflare Workers AI",
        # the chat template opens <think> itself, so the output holds only the closing tag
        source="lobehub/lobehub#7450; cubist38/mlx-openai-server#84",
        call="chat",
        replies=(ok(completion("The user greets me.\n</think>\n\nHello!", usage=usage(6, 12))),),
        expect=Expect(text="Hello!", reasoning="The user greets me."),
    ),
    Case(
        name="cloudflare-chat-answer",
        provider="Cloudflare Workers AI",
        source=DOCS,
        call="chat",
        replies=(ok(completion("Hi!", usage=usage(4, 2), model="@cf/meta/llama-3.1-8b-instruct")),),
        expect=Expect(text="Hi!", finish_reason="stop", calls=1),
    ),
    Case(
        name="cloudflare-models-search-result",
        provider="Cloudflare Workers AI",
        # the model listing is the account API's {"result": [...]} envelope, names not ids
        source="Alishahryar1/free-claude-code#169; lidge-jun/opencodex#191",
        call="models",
        replies=(ok({"success": True, "errors": [], "messages": [],
                     "result": [{"name": "@cf/meta/llama-3.1-8b-instruct", "task": {"name": "Text Generation"}},
                                {"name": "@cf/baai/bge-m3", "task": {"name": "Text Embeddings"}}]}),),
        expect=Expect(models=("@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-m3")),
    ),
]
