"""DeepSeek's API (``https://api.deepseek.com/v1``)."""
from tests.providers.case import RETRIED, Case, Expect, chunk, completion, err, ok, openai_error, stream_reply, usage
from tests.providers.replay import Reply

REASONER = "https://api-docs.deepseek.com/guides/reasoning_model"
ERROR_CODES = "https://api-docs.deepseek.com/quick_start/error_codes"
KEEP_ALIVE = "https://api-docs.deepseek.com/quick_start/rate_limit (keep-alive while waiting)"

CASES = [
    Case(
        name="deepseek-reasoner-message",
        provider="DeepSeek",
        source=REASONER,
        call="chat",
        replies=(ok(completion("9.8 is greater.", message={"reasoning_content": "9.80 against 9.11."},
                               usage=usage(16, 60, completion_tokens_details={"reasoning_tokens": 52}))),),
        expect=Expect(text="9.8 is greater.", reasoning="9.80 against 9.11.",
                      usage={"completion_tokens": 60, "reasoning_tokens": 52}),
    ),
    Case(
        name="deepseek-reasoner-stream",
        provider="DeepSeek",
        source=REASONER + " (streaming: reasoning_content deltas first)",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
                               chunk({"content": None, "reasoning_content": "Count the r's."}),
                               chunk({"content": "Three.", "reasoning_content": None}),
                               chunk({"content": ""}, "stop",
                                     usage=usage(10, 20, completion_tokens_details={"reasoning_tokens": 17}))]),),
        expect=Expect(text="Three.", reasoning="Count the r's.", finish_reason="stop",
                      usage={"reasoning_tokens": 17}),
    ),
    Case(
        name="deepseek-reasoning-used-whole-budget",
        provider="DeepSeek",
        # content empty, finish_reason length: the output limit went to reasoning
        source=REASONER + " (max_tokens includes the chain of thought)",
        call="chat",
        options={"max_tokens": 64},
        replies=(ok(completion("", "length", message={"reasoning_content": "Let me think step by step about "},
                               usage=usage(12, 64, completion_tokens_details={"reasoning_tokens": 64}))),),
        expect=Expect(error="OpenAICompatibleError", mentions=("token",), calls=1),
    ),
    Case(
        name="deepseek-stream-reasoning-used-whole-budget",
        provider="DeepSeek",
        # streamed: reasoning_content deltas only, then finish_reason length: no answer was ever given
        source=REASONER + " (streaming; max_tokens includes the chain of thought)",
        call="stream",
        options={"max_tokens": 32},
        replies=(stream_reply([chunk({"role": "assistant", "content": None, "reasoning_content": "First, "}),
                               chunk({"content": None, "reasoning_content": "consider"}),
                               chunk({"content": ""}, "length",
                                     usage=usage(9, 32, completion_tokens_details={"reasoning_tokens": 32}))]),),
        expect=Expect(error="OpenAICompatibleError", mentions=("token", "reasoning"), calls=1),
    ),
    Case(
        name="deepseek-context-length",
        provider="DeepSeek",
        source=ERROR_CODES + " (400 invalid format)",
        call="chat",
        replies=(err(400, openai_error("This model's maximum context length is 65536 tokens. However, you requested "
                                       "70123 tokens (66027 in the messages, 4096 in the completion). Please reduce "
                                       "the length of the messages or completion.")),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="deepseek-402-insufficient-balance",
        provider="DeepSeek",
        source=ERROR_CODES + " (402 insufficient balance)",
        call="chat",
        replies=(err(402, {"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": None,
                                     "code": "invalid_request_error"}}),),
        expect=Expect(error="QuotaExceededError", calls=1),
    ),
    Case(
        name="deepseek-503-server-overloaded",
        provider="DeepSeek",
        source=ERROR_CODES + " (503 server overloaded)",
        call="chat",
        replies=(err(503, openai_error("Service is too busy. Please try again later.", "service_unavailable_error")),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="deepseek-keep-alive-blank-lines",
        provider="DeepSeek",
        # a non-streamed answer preceded by blank lines sent while the request waited
        source=KEEP_ALIVE,
        call="chat",
        replies=(Reply(200, "\n\n\n" + '{"id": "c", "object": "chat.completion", "created": 1700000000, '
                            '"model": "deepseek-chat", "choices": [{"index": 0, "message": {"role": "assistant", '
                            '"content": "Ready."}, "finish_reason": "stop"}]}',
                       headers=(("Content-Type", "application/json"),)),),
        expect=Expect(text="Ready.", finish_reason="stop", calls=1),
    ),
    Case(
        name="deepseek-keep-alive-sse-comments",
        provider="DeepSeek",
        source=KEEP_ALIVE,
        call="stream",
        replies=(stream_reply([": keep-alive\n\n", ": keep-alive\n\n", chunk({"role": "assistant", "content": "Go"}),
                               chunk({}, "stop")]),),
        expect=Expect(text="Go", finish_reason="stop"),
    ),
]
