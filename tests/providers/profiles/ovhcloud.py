"""OVHcloud AI Endpoints (``https://oai.endpoints.kepler.ai.cloud.ovh.net/v1``, or one URL per model)."""
from tests.providers.case import RETRIED, Case, Expect, completion, embeddings, err, ok, usage

DOCS = "https://help.ovhcloud.com/csm/en-public-cloud-ai-endpoints-getting-started"

CASES = [
    Case(
        name="ovh-chat-answer",
        provider="OVHcloud AI Endpoints",
        source=DOCS + "; https://strandsagents.com/docs/community/model-providers/ovhcloud-ai-endpoints/",
        call="chat",
        replies=(ok(completion("Bonjour !", usage=usage(5, 3), model="Meta-Llama-3_3-70B-Instruct")),),
        expect=Expect(text="Bonjour !", finish_reason="stop", calls=1),
    ),
    Case(
        name="ovh-per-model-endpoint",
        provider="OVHcloud AI Endpoints",
        # the historical one-URL-per-model shape, as an Azure-style endpoint of kind openai_v1
        source="hangtime79/dataiku-docs app-notes/src/openai-compatible-llm-api/index.md (Dataiku app note: "
               "OVHcloud alpha, one endpoint per model), https://help.ovhcloud.com",
        call="chat",
        preset={"style": "azure", "endpoint_kind": "openai_v1"},
        replies=(ok(completion("Salut.")),),
        expect=Expect(text="Salut.", calls=1),
    ),
    Case(
        name="ovh-embeddings",
        provider="OVHcloud AI Endpoints",
        source=DOCS + " (embedding models)",
        call="embed",
        options={"texts": ["un", "deux"]},
        replies=(ok(embeddings([0.1, 0.9], [0.9, 0.1], model="bge-multilingual-gemma2")),),
        expect=Expect(vectors=((0.1, 0.9), (0.9, 0.1)), calls=1),
    ),
    Case(
        name="ovh-anonymous-rate-limit",
        provider="OVHcloud AI Endpoints",
        # the keyless free tier is rate limited per IP
        source="https://developers.llamaindex.ai/python/examples/llm/ovhcloud/ (free tier without a key)",
        call="chat",
        replies=(err(429, {"error": {"message": "Rate limit exceeded: too many requests, please retry later or use "
                                     "an API key", "type": "rate_limit_error"}}),),
        expect=Expect(error="RateLimitError", calls=RETRIED),
    ),
    Case(
        name="ovh-gateway-html-502",
        provider="OVHcloud AI Endpoints",
        # a load balancer's HTML error page in front of the API
        source="ITSpecialist111/ai_automation_suggester#122 (HTML error pages from proxies)",
        call="chat",
        replies=(err(502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
                          "</center><hr><center>nginx</center></body></html>"),),
        expect=Expect(error="ServerError", mentions=("bad gateway",), calls=RETRIED),
    ),
]
