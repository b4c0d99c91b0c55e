"""SGLang's OpenAI-compatible server (``http://host:30000/v1``)."""
from tests.providers.case import (
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

CASES = [
    Case(
        name="sglang-context-length",
        provider="SGLang",
        source="QwenLM/Qwen3#1321",
        call="chat",
        replies=(err(400, {"object": "error", "message": "The input (61709 tokens) is longer than the model's "
                           "context length (40960 tokens).", "type": "BadRequestError", "param": None,
                           "code": 400}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="sglang-stream-tool-fragments-without-index",
        provider="SGLang",
        # tool-call deltas with no index: the first has id and name, the next only argument text
        source="vercel/ai#15879 (fixes vercel/ai#5885); SamSaffron/term-llm#314",
        call="stream",
        options={"tools": WEATHER_TOOL},
        replies=(stream_reply([
            chunk({"role": "assistant", "tool_calls": [tool_delta(with_index=False, id_="call_0",
                                                                  name="get_weather", arguments='{"city":')]}),
            chunk({"tool_calls": [tool_delta(with_index=False, arguments='"Paris"}')]}),
            chunk({}, "stop"),
        ]),),
        expect=Expect(finish_reason="tool_calls", tool_calls=(("get_weather", {"city": "Paris"}),)),
    ),
    Case(
        name="sglang-reasoning-content",
        provider="SGLang",
        source="https://docs.sglang.ai/advanced_features/separate_reasoning.html",
        call="chat",
        replies=(ok(completion("Yes.", message={"reasoning_content": "17 has no divisor but 1 and itself."},
                               usage=usage(10, 30, completion_tokens_details={"reasoning_tokens": 26}))),),
        expect=Expect(text="Yes.", reasoning="17 has no divisor but 1 and itself.",
                      usage={"reasoning_tokens": 26}),
    ),
]
