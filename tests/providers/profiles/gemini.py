"""Google Gemini's OpenAI compatibility layer (``https://generativelanguage.googleapis.com/v1beta/openai``)."""
import json

from tests.providers.case import (
    ABSENT,
    RETRIED,
    WEATHER_TOOL,
    Case,
    Expect,
    chunk,
    completion,
    err,
    ok,
    stream_reply,
    tool_delta,
    usage,
)

DOCS = "https://ai.google.dev/gemini-api/docs/openai"


def google_error(code: int, status: str, message: str, details: list = ()) -> list:
    """Google's error object (``google.rpc.Status`` in JSON: code, message, status, details; https://cloud.google.com/
    apis/design/errors), wrapped in a one-element JSON array as the compatibility layer sends it
    (SuzumiyaAkizuki/ComfyUI-NewBie-LLM-Formatter#3, google-gemini/gemini-cli#12823)."""
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return [{"error": error}]


CASES = [
    Case(
        name="gemini-unknown-field-array-body",
        provider="Gemini (OpenAI layer)",
        source="SuzumiyaAkizuki/ComfyUI-NewBie-LLM-Formatter#3; MinLL/SkyrimNet-GamePlugin#77",
        call="chat",
        options={"frequency_penalty": 0.5},
        replies=(err(400, google_error(400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name '
                                       '"frequency_penalty": Cannot find field.')),
                 ok(completion("Fine."))),
        expect=Expect(text="Fine.", calls=2, sent={"frequency_penalty": ABSENT}),
    ),
    Case(
        name="gemini-input-token-count",
        provider="Gemini (OpenAI layer)",
        source="google-gemini/gemini-cli#6678; google-gemini/gemini-cli#4118",
        call="chat",
        replies=(err(400, google_error(400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum "
                                       "number of tokens allowed (1048576).")),),
        expect=Expect(error="ContextLengthError", calls=1, error_type="INVALID_ARGUMENT"),
    ),
    Case(
        name="gemini-context-nested-in-proxy-message",
        provider="Gemini (OpenAI layer)",
        # a proxy wraps Google's whole error, as JSON text, inside its own message
        source="google-gemini/gemini-cli#4231; google-gemini/gemini-cli#5807",
        call="chat",
        replies=(err(400, {"error": {"message": '{\n  "error": {\n    "code": 400,\n    "message": "The input token '
                                                'count (3475108) exceeds the maximum number of tokens allowed '
                                                '(1048576).",\n    "status": "INVALID_ARGUMENT"\n  }\n}\n',
                                     "code": 400, "status": "Bad Request"}}),),
        # Google's own status, not the proxy's reason phrase
        expect=Expect(error="ContextLengthError", calls=1, error_type="INVALID_ARGUMENT"),
    ),
    Case(
        name="gemini-invalid-argument-nested-in-proxy-message",
        provider="Gemini (OpenAI layer)",
        # the same wrapping for any 400: the user reads Google's sentence, not the JSON text around it
        source="Kilo-Org/kilocode#6476; lbjlaq/Antigravity-Manager#1942",
        call="chat",
        replies=(err(400, {"error": {"message": json.dumps(google_error(400, "INVALID_ARGUMENT", "Request contains an "
                                                                        "invalid argument.")[0], indent=2) + "\n",
                                     "code": 400, "status": "Bad Request"}}),),
        expect=Expect(error="BadRequestError", calls=1, error_type="INVALID_ARGUMENT",
                      mentions=("http 400 bad_request: request contains an invalid argument.",)),
    ),
    Case(
        name="gemini-429-retry-info",
        provider="Gemini (OpenAI layer)",
        # per-minute quota: the body says when to come back (google.rpc.RetryInfo)
        source="RooCodeInc/Roo-Code#3883",
        call="chat",
        replies=(err(429, google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your "
                                       "plan and billing details.",
                                       [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}])),
                 ok(completion("After the wait."))),
        expect=Expect(text="After the wait.", calls=2),
    ),
    Case(
        name="gemini-stream-tool-call-without-index",
        provider="Gemini (OpenAI layer)",
        # a whole tool call in one delta, with no index field
        source="openai/openai-python#3246 (for openai/openai-python#2806); AstrBotDevs/AstrBot#6692",
        call="stream",
        options={"tools": WEATHER_TOOL},
        replies=(stream_reply([chunk({"role": "assistant", "tool_calls": [
                                   tool_delta(with_index=False, id_="function-call-1", name="get_weather",
                                              arguments='{"city":"Tokyo"}')]}, "tool_calls",
                                     usage=usage(30, 8))]),),
        expect=Expect(finish_reason="tool_calls", tool_calls=(("get_weather", {"city": "Tokyo"}),)),
    ),
    Case(
        name="gemini-stream-usage-in-last-content-chunk",
        provider="Gemini (OpenAI layer)",
        # usage rides on the final content chunk, together with finish_reason
        source=DOCS + "; Routstr/routstr-core#543",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "Blue"}),
                               chunk({"content": " sky."}, "stop", usage=usage(6, 3))]),),
        expect=Expect(text="Blue sky.", finish_reason="stop", usage={"prompt_tokens": 6, "total_tokens": 9}),
    ),
    Case(
        name="gemini-reasoning-tokens-in-usage",
        provider="Gemini (OpenAI layer)",
        # thinking models count thoughts in completion_tokens_details.reasoning_tokens
        source=DOCS + " (reasoning_effort; thinking)",
        call="chat",
        replies=(ok(completion("42", usage=usage(10, 120, completion_tokens_details={"reasoning_tokens": 118}))),),
        expect=Expect(text="42", usage={"completion_tokens": 120, "reasoning_tokens": 118}),
    ),
    Case(
        name="gemini-503-overloaded",
        provider="Gemini (OpenAI layer)",
        source="https://ai.google.dev/gemini-api/docs/troubleshooting (503 UNAVAILABLE)",
        call="chat",
        replies=(err(503, google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")),),
        expect=Expect(error="ServerError", calls=RETRIED, error_type="UNAVAILABLE"),
    ),
]
