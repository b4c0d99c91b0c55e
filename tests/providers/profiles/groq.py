"""Groq (``https://api.groq.com/openai/v1``)."""
from tests.providers.case import (
    ABSENT,
    RETRIED,
    Case,
    Contains,
    Expect,
    completion,
    err,
    ok,
    openai_error,
)

ERRORS = "https://console.groq.com/docs/errors"
SENTIMENT_SCHEMA = {"type": "json_schema", "json_schema": {"name": "sentiment", "strict": True, "schema": {
    "type": "object", "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "Classify the sentiment of: 'The service was awful.'"}]

CASES = [
    Case(
        name="groq-json-schema-refused",
        provider="Groq",
        # models that allow only text and json_object refuse json_schema with a 400
        source="dzhng/deep-research#127; BerriAI/litellm#6845",
        call="chat",
        options={"messages": ASK, "response_format": SENTIMENT_SCHEMA},
        replies=(err(400, openai_error("'response_format.type' : value is not one of the allowed values "
                                       "['text','json_object']")),
                 ok(completion('{"sentiment": "negative"}'))),
        expect=Expect(text='{"sentiment": "negative"}', calls=2,
                      sent={"response_format.type": "json_object", "messages": Contains("positive")}),
    ),
    Case(
        name="groq-json-object-needs-the-word-json",
        provider="Groq",
        # json_object is refused unless the prompt itself asks for JSON
        source="https://console.groq.com/docs/structured-outputs (JSON object mode); autogenhub/autogen#77",
        call="chat",
        options={"messages": ASK, "response_format": {"type": "json_object"}},
        replies=(err(400, openai_error("'messages' must contain the word 'json' in some form, to use "
                                       "'response_format' of type 'json_object'.")),
                 ok(completion('{"sentiment": "negative"}'))),
        expect=Expect(text='{"sentiment": "negative"}', calls=2,
                      sent={"response_format.type": "json_object", "messages": Contains("json")}),
    ),
    Case(
        name="groq-reasoning-effort-not-supported",
        provider="Groq",
        # only some models (gpt-oss, qwen3) take reasoning_effort; the others refuse it by name in the message
        source="brendanlong/lion-reader#1325; https://console.groq.com/docs/reasoning",
        call="chat",
        options={"reasoning_effort": "medium"},
        replies=(err(400, openai_error("reasoning_effort is not supported with this model")),
                 ok(completion("Paris."))),
        expect=Expect(text="Paris.", calls=2, sent={"reasoning_effort": ABSENT}),
    ),
    Case(
        name="groq-reasoning-effort-value-refused",
        provider="Groq",
        # a value the model does not take is the user's to change: the field is not dropped, nor retried
        source="Kilo-Org/cloud#3807",
        call="chat",
        options={"reasoning_effort": "none"},
        replies=(err(400, openai_error("Unsupported value: 'reasoning_effort' does not support 'none' with this "
                                       "model. Supported values are: 'low', 'medium', and 'high'.")),),
        expect=Expect(error="BadRequestError", mentions=("supported values",), calls=1),
    ),
    Case(
        name="groq-unsupported-property",
        provider="Groq",
        # a strict schema: unknown or unsupported fields are refused by name
        source="groq/groq-python#31; " + ERRORS,
        call="chat",
        options={"logit_bias": {"1": 5}},
        replies=(err(400, openai_error("'logit_bias' : property 'logit_bias' is unsupported")),
                 ok(completion("Answer."))),
        expect=Expect(text="Answer.", calls=2, sent={"logit_bias": ABSENT}),
    ),
    Case(
        name="groq-context-length-exceeded",
        provider="Groq",
        source=ERRORS,
        call="chat",
        replies=(err(400, openai_error("Please reduce the length of the messages or completion.",
                                       code="context_length_exceeded", param="messages")),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="groq-429-tokens-per-minute",
        provider="Groq",
        source="https://console.groq.com/docs/rate-limits (retry-after, x-ratelimit-* headers)",
        call="chat",
        replies=(err(429, openai_error("Rate limit reached for model `llama-3.3-70b-versatile` on tokens per "
                                       "minute (TPM): Limit 6000, Used 5800, Requested 900. Please try again in "
                                       "1s.", "tokens", code="rate_limit_exceeded"),
                     headers=(("retry-after", "1"), ("x-ratelimit-reset-tokens", "1s"))),),
        expect=Expect(error="RateLimitError", calls=RETRIED),
    ),
]
