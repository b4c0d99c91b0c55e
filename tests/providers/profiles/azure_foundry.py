"""Azure AI Foundry serverless models (one OpenAI-v1 endpoint per model, often behind API Management)."""
from tests.providers.case import ABSENT, Case, Expect, completion, err, ok, usage

FOUNDRY = {"style": "azure", "endpoint_kind": "openai_v1"}
INFERENCE_API = "https://learn.microsoft.com/en-us/rest/api/microsoft-foundry/modelinference/"

CASES = [
    Case(
        name="foundry-chat-answer",
        provider="Azure AI Foundry",
        source=INFERENCE_API,
        call="chat",
        preset=FOUNDRY,
        replies=(ok(completion("Hello from Phi.", usage=usage(9, 4), model="Phi-4")),),
        expect=Expect(text="Hello from Phi.", finish_reason="stop", calls=1),
    ),
    Case(
        name="foundry-apim-missing-key",
        provider="Azure AI Foundry",
        # API Management's own envelope: statusCode + message
        source="continuedev/continue#4601",
        call="chat",
        preset=FOUNDRY,
        replies=(err(401, {"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure "
                                                         "to provide a valid key for an active subscription."}),),
        expect=Expect(error="AuthenticationError", mentions=("subscription key",), calls=1),
    ),
    Case(
        name="foundry-extra-parameter-422",
        provider="Azure AI Foundry",
        # the extra-parameters header defaults to "error": a field outside the API is refused; the field is
        # named only in the error's details (the body follows the API's code/message/details error object)
        source=INFERENCE_API + " (extra-parameters header)",
        call="chat",
        preset=FOUNDRY,
        options={"seed": 7},
        replies=(err(422, {"error": {"code": "Invalid input", "status": 422, "message": "invalid input error",
                                     "details": [{"loc": ["body", "seed"], "msg": "Extra inputs are not permitted",
                                                  "type": "extra_forbidden"}]}}),
                 ok(completion("Ok."))),
        expect=Expect(text="Ok.", calls=2, sent={"seed": ABSENT}),
    ),
]
