"""Ollama's OpenAI-compatible API (``http://host:11434/v1``)."""
from tests.providers.case import (
    ABSENT,
    WEATHER_TOOL,
    Case,
    Expect,
    chunk,
    completion,
    err,
    ok,
    openai_error,
    stream_reply,
    text_chunks,
    tool_delta,
    usage,
)
from tests.providers.replay import Reply

DOCS = "https://docs.ollama.com/api/openai-compatibility"

CASES = [
    Case(
        name="ollama-chat-answer",
        provider="Ollama",
        source=DOCS,  # chat completions with usage; fp_ollama fingerprint
        call="chat",
        replies=(ok(completion("Hello! How can I help?", usage=usage(11, 7),
                               top={"system_fingerprint": "fp_ollama"})),),
        expect=Expect(text="Hello! How can I help?", finish_reason="stop",
                      usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}, calls=1),
    ),
    Case(
        name="ollama-stream-usage-chunk",
        provider="Ollama",
        # stream_options.include_usage supported since 0.5.2: a last chunk with choices [] carries usage
        source="ollama/ollama#4448; ollama/ollama#5200",
        call="stream",
        replies=(stream_reply(text_chunks("Hel", "lo", "!") + [chunk(choices=False, usage=usage(9, 3))]),),
        expect=Expect(text="Hello!", finish_reason="stop", usage={"total_tokens": 12}),
    ),
    Case(
        name="ollama-stream-parallel-tools-same-index",
        provider="Ollama",
        # parallel calls in one batch all stream with index 0, each with its own id
        source="ollama/ollama#15457 (via LibreChat-AI/agents#260); huggingface/smolagents#1958",
        call="stream",
        options={"tools": WEATHER_TOOL},
        replies=(stream_reply([
            chunk({"role": "assistant", "tool_calls": [tool_delta(index=0, id_="call_a", name="get_weather",
                                                                  arguments='{"city":"Paris"}')]}),
            chunk({"tool_calls": [tool_delta(index=0, id_="call_b", name="get_weather",
                                             arguments='{"city":"Rome"}')]}),
            chunk({}, "tool_calls"),
        ]),),
        expect=Expect(text="", finish_reason="tool_calls",
                      tool_calls=(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}))),
    ),
    Case(
        name="ollama-stream-tool-call-finish-stop",
        provider="Ollama",
        # the tool call arrives whole in one chunk; the closing chunk says "stop", not "tool_calls"
        source="ollama/ollama#7963; BerriAI/litellm#35663",
        call="stream",
        replies=(stream_reply([
            chunk({"role": "assistant", "tool_calls": [tool_delta(index=0, id_="call_1", name="get_weather",
                                                                  arguments='{"city":"Oslo"}')]}),
            chunk({}, "stop"),
        ]),),
        expect=Expect(finish_reason="tool_calls", tool_calls=(("get_weather", {"city": "Oslo"}),)),
    ),
    Case(
        name="ollama-model-not-pulled",
        provider="Ollama",
        source=DOCS + " (a model must be pulled before use)",
        call="chat",
        replies=(err(404, openai_error('model "llama9" not found, try pulling it first', "api_error")),),
        expect=Expect(error="UnknownModelError", mentions=("llama9",), calls=1),
    ),
    Case(
        name="ollama-embeddings-input-too-long",
        provider="Ollama",
        # the runner refuses an input longer than num_ctx
        source="ITSpecialist111/ai_automation_suggester#37; ollama/ollama#2208",
        call="embed",
        options={"texts": ["a very long text"]},
        replies=(err(400, openai_error("the input length exceeds the context length", "invalid_request_error")),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="ollama-models-native-tags",
        provider="Ollama",
        # a base URL without /v1 reaches the native listing {"models": [{"name", "model", ...}]}
        source="ollama/ollama#7236",
        call="models",
        replies=(ok({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189},
                                {"name": "qwen3:8b", "model": "qwen3:8b", "size": 5225388164}]}),),
        expect=Expect(models=("llama3.2:latest", "qwen3:8b")),
    ),
    Case(
        name="ollama-reasoning-field",
        provider="Ollama",
        # thinking models: the OpenAI layer returns the thinking as message.reasoning
        source="https://docs.ollama.com/capabilities/thinking; ollama/ollama#13154",
        call="chat",
        replies=(ok(completion("5 + 5 = 10.", message={"reasoning": "Add five and five."},
                               usage=usage(12, 20))),),
        expect=Expect(text="5 + 5 = 10.", reasoning="Add five and five.", finish_reason="stop"),
    ),
    Case(
        name="ollama-reasoning-effort-model-does-not-think",
        provider="Ollama",
        # reasoning_effort maps to Ollama's think option; a model without thinking refuses it with a 400 that
        # names no param: the field is dropped for the connection and the row re-sent once
        source="Gitlawb/openclaude#1371; ollama/ollama#12561",
        call="chat",
        options={"reasoning_effort": "low"},
        replies=(err(400, openai_error('"llama3.1:8b" does not support thinking')),
                 ok(completion("Hello!", usage=usage(5, 2)))),
        expect=Expect(text="Hello!", calls=2, sent={"reasoning_effort": ABSENT}),
    ),
    Case(
        name="ollama-web-ui-login-page",
        provider="Ollama (behind Open WebUI)",
        # a base URL pointing at the web UI answers 200 with its HTML page, not the API
        source="dgtlmoon/changedetection.io#4168; ITSpecialist111/ai_automation_suggester#122",
        call="chat",
        replies=(Reply(200, "<!doctype html><html><head><title>Open WebUI</title></head>"
                            "<body><div id='app'>Sign in</div></body></html>"),),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=1),
    ),
    Case(
        name="ollama-old-build-parallel-tools-without-index",
        provider="Ollama",
        # older builds: no index at all; each call opens with its id, then id-less argument fragments follow
        source="ollama/ollama#7881 (via LibreChat-AI/agents#260); oracle/langchain-oracle#253",
        call="stream",
        options={"tools": WEATHER_TOOL},
        replies=(stream_reply([
            chunk({"role": "assistant", "tool_calls": [tool_delta(with_index=False, id_="call_a", name="get_weather",
                                                                  arguments="")]}),
            chunk({"tool_calls": [tool_delta(with_index=False, arguments='{"city": "Paris"}')]}),
            chunk({"tool_calls": [tool_delta(with_index=False, id_="call_b", name="get_weather", arguments="")]}),
            chunk({"tool_calls": [tool_delta(with_index=False, arguments='{"city": "Rome"}')]}),
            chunk({}, "tool_calls"),
        ]),),
        expect=Expect(finish_reason="tool_calls",
                      tool_calls=(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}))),
    ),
]
