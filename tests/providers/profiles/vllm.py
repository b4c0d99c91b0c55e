"""vLLM's OpenAI-compatible server (``vllm serve``, ``http://host:8000/v1``)."""
from tests.providers.case import (
    ABSENT,
    WEATHER_TOOL,
    Case,
    Expect,
    chunk,
    completion,
    embeddings,
    err,
    ok,
    stream_reply,
    text_chunks,
    tool_delta,
    usage,
)

REASONING_DOCS = "https://docs.vllm.ai/en/latest/features/reasoning_outputs.html"


def vllm_error(message: str) -> dict:
    """vLLM's unwrapped error object (no "error" envelope)."""
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}


CASES = [
    Case(
        name="vllm-context-length",
        provider="vLLM",
        source="vllm-project/vllm#20409; vllm-project/vllm#12165",
        call="chat",
        replies=(err(400, vllm_error("This model's maximum context length is 16384 tokens. However, you "
                                     "requested 19591 tokens (9591 in the messages, 10000 in the completion). "
                                     "Please reduce the length of the messages or completion.")),),
        expect=Expect(error="ContextLengthError", mentions=("16384",), calls=1),
    ),
    Case(
        name="vllm-reasoning-content-message",
        provider="vLLM",
        # --reasoning-parser puts the thinking in message.reasoning_content, the answer in content
        source=REASONING_DOCS,
        call="chat",
        replies=(ok(completion("9.11 is smaller.", message={"reasoning_content": "Compare 9.11 and 9.8 digit by "
                                                                                 "digit."}, usage=usage(20, 40))),),
        expect=Expect(text="9.11 is smaller.", reasoning="Compare 9.11 and 9.8 digit by digit.",
                      finish_reason="stop"),
    ),
    Case(
        name="vllm-stream-reasoning-content-delta",
        provider="vLLM",
        source=REASONING_DOCS + " (streaming: delta.reasoning_content, then delta.content)",
        call="stream",
        replies=(stream_reply([
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "Two plus "}),
            chunk({"reasoning_content": "two."}),
            chunk({"content": "4"}),
            chunk({}, "stop"),
        ]),),
        expect=Expect(text="4", reasoning="Two plus two.", finish_reason="stop"),
    ),
    Case(
        name="vllm-stream-tool-arguments-split",
        provider="vLLM",
        # first delta: id + name + empty arguments; then argument fragments under the same index
        source="https://docs.vllm.ai/en/latest/features/tool_calling.html; vllm-project/vllm#9209",
        call="stream",
        options={"tools": WEATHER_TOOL},
        replies=(stream_reply([
            chunk({"role": "assistant", "tool_calls": [tool_delta(index=0, id_="chatcmpl-tool-1",
                                                                  name="get_weather", arguments="")]}),
            chunk({"tool_calls": [tool_delta(index=0, arguments='{"city": ')]}),
            chunk({"tool_calls": [tool_delta(index=0, arguments='"Lyon"}')]}),
            chunk({}, "tool_calls"),
        ]),),
        expect=Expect(finish_reason="tool_calls", tool_calls=(("get_weather", {"city": "Lyon"}),)),
    ),
    Case(
        name="vllm-extra-forbidden-parameter",
        provider="vLLM",
        # pydantic's extra_forbidden list, flattened into the message string
        source="vllm-project/vllm#10078; vllm-project/vllm#10463",
        call="chat",
        options={"logit_bias": {"50256": -100}},
        replies=(err(400, vllm_error("[{'type': 'extra_forbidden', 'loc': ('body', 'logit_bias'), 'msg': 'Extra "
                                     "inputs are not permitted', 'input': {'50256': -100}}]")),
                 ok(completion("Hello."))),
        expect=Expect(text="Hello.", calls=2, sent={"logit_bias": ABSENT}),
    ),
    Case(
        name="vllm-embeddings-dimensions-unsupported",
        provider="vLLM",
        source="vllm-project/vllm#15465",
        call="embed",
        options={"texts": ["alpha", "beta"], "dimensions": 256},
        replies=(err(400, vllm_error("dimensions is currently not supported")),
                 ok(embeddings([0.1, 0.2], [0.3, 0.4]))),
        expect=Expect(vectors=((0.1, 0.2), (0.3, 0.4)), either_ok_or_error=True, mentions=("dimensions",),
                      max_calls=2),
    ),
    Case(
        name="vllm-embeddings-not-matryoshka",
        provider="vLLM",
        # a model without Matryoshka training refuses any change of output size
        source="vllm-project/vllm#16331; QwenLM/Qwen3-Embedding#85; mem0ai/mem0#3101",
        call="embed",
        options={"texts": [f"text {i}" for i in range(8)], "dimensions": 512},
        replies=(err(400, vllm_error('Model "bge-m3" does not support matryoshka representation, changing output '
                                     "dimensions will lead to poor results.")),
                 ok(embeddings(*[[float(i), 1.0] for i in range(8)]))),
        expect=Expect(vectors=tuple((float(i), 1.0) for i in range(8)), either_ok_or_error=True,
                      mentions=("dimensions",), max_calls=2),
    ),
    Case(
        name="vllm-stream-usage-continuous",
        provider="vLLM",
        # stream_options.include_usage: the usage chunk has choices [] and comes before [DONE]
        source="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        call="stream",
        replies=(stream_reply(text_chunks("Bon", "jour") + [chunk(choices=False, usage=usage(5, 2))]),),
        expect=Expect(text="Bonjour", finish_reason="stop", usage={"prompt_tokens": 5, "completion_tokens": 2}),
    ),
    Case(
        name="vllm-mlx-stream-without-done",
        provider="vLLM (vllm-mlx)",
        # longer answers: finish_reason stop arrives, then the stream closes without data: [DONE]
        source="waybarrios/vllm-mlx#101; diegosouzapw/OmniRoute#6777",
        call="stream",
        replies=(stream_reply(text_chunks("The scene ", "shows a harbour."), done=False),),
        expect=Expect(text="The scene shows a harbour.", finish_reason="stop"),
    ),
    Case(
        name="vllm-stream-cut-before-finish",
        provider="vLLM",
        # the connection closes before any finish_reason: the answer is incomplete and must stay an error
        source="ranxianglei/billion-context-omp#105; ranxianglei/billion-context-pi#92",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "The first half"}),
                               chunk({"content": " of an"})], done=False),),
        expect=Expect(error="InvalidResponseError", calls=1),
    ),
    Case(
        name="vllm-finish-length-partial",
        provider="vLLM",
        # the output limit cut the answer: a truncated answer, reported with finish_reason length
        source="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html (max_tokens); "
               "NousResearch/hermes-agent#30988",
        call="chat",
        options={"max_tokens": 5},
        replies=(ok(completion("Once upon a time", "length", usage=usage(9, 5))),),
        expect=Expect(text="Once upon a time", finish_reason="length", calls=1),
    ),
    Case(
        name="vllm-base-url-without-v1",
        provider="vLLM",
        # FastAPI's default answer to an unknown route: 404 {"detail": "Not Found"}
        source="cline/cline#240; abetlen/llama-cpp-python#1032 (clients must add /v1)",
        call="chat",
        preset={"base_url_suffix": ""},
        replies=(err(404, {"detail": "Not Found"}),),
        # the chat is not retried; the second request is the diagnosis's one GET {base}/v1/models
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=2),
    ),
]
