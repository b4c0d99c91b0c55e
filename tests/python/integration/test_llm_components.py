"""The LLM Mesh components (python-llms), run by `python -m localdss llm` on Mesh queries and settings."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.servers.fault_server import Fault

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHAT, EMBEDDING = "openai-compatible-chat", "openai-compatible-embedding"


def run_llm(tmp_path, component, preset, model, query, settings=None, stream=False):
    files = {"preset": preset, "config": {"model": model}, "query": query}
    if settings is not None:
        files["settings"] = settings
    for name, value in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(value))
    command = [sys.executable, "-m", "localdss", "llm", component, "--config", str(tmp_path / "config.json"),
               "--preset", f"connection={tmp_path / 'preset.json'}", "--query", str(tmp_path / "query.json")]
    if settings is not None:
        command += ["--settings", str(tmp_path / "settings.json")]
    if stream:
        command.append("--stream")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "python-lib"), REPO]))
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return run, lines


def fault_preset(fault_server, **extra):
    values = {"base_url": fault_server.url, "models": ["fault-chat", "fault-embed"], "auth_scheme": "none",
              "max_retries": 0}
    values.update(extra)
    return values


def ask(text):
    return {"messages": [{"role": "user", "content": text}]}


# --- llama.cpp ------------------------------------------------------------------------------------

def test_chat_on_llama(tmp_path, llama_server):
    preset = {"base_url": llama_server.base_url, "models": [llama_server.model], "auth_scheme": "none"}
    run, lines = run_llm(tmp_path, CHAT, preset, llama_server.model,
                         {"messages": [{"role": "system", "content": "You are terse."},
                                       {"role": "user", "content": "Name a colour."}]},
                         {"maxOutputTokens": 5, "temperature": 0})
    assert run.returncode == 0, run.stderr
    answer = lines[-1]
    assert answer["text"]
    assert answer["finishReason"] in ("stop", "length")
    assert 0 < answer["completionTokens"] <= 5
    assert answer["totalTokens"] == answer["promptTokens"] + answer["completionTokens"]


def test_stream_on_llama(tmp_path, llama_server):
    preset = {"base_url": llama_server.base_url, "models": [llama_server.model], "auth_scheme": "none"}
    run, lines = run_llm(tmp_path, CHAT, preset, llama_server.model, ask("Count from one to five."),
                         {"maxOutputTokens": 12}, stream=True)
    assert run.returncode == 0, run.stderr
    chunks, footer = lines[:-1], lines[-1]
    assert len(chunks) > 1 and all(set(c) == {"chunk"} and c["chunk"]["text"] for c in chunks)
    assert footer["footer"]["finishReason"] in ("stop", "length")
    assert footer["footer"]["completionTokens"] > 0  # usage from the stream itself


def test_json_schema_output_on_llama(tmp_path, llama_server):
    preset = {"base_url": llama_server.base_url, "models": [llama_server.model], "auth_scheme": "none"}
    schema = {"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
              "required": ["sentiment"]}
    run, lines = run_llm(tmp_path, CHAT, preset, llama_server.model,
                         ask("Sentiment of: 'I love this bike'. Answer in JSON."),
                         {"responseFormat": {"type": "json", "schema": schema, "strict": True},
                          "maxOutputTokens": 30})
    assert run.returncode == 0, run.stderr
    assert json.loads(lines[-1]["text"])["sentiment"] in ("positive", "negative")


def test_embeddings_on_llama(tmp_path, llama_server):
    preset = {"base_url": llama_server.base_url, "models": [llama_server.model], "auth_scheme": "none"}
    run, lines = run_llm(tmp_path, EMBEDDING, preset, llama_server.model,
                         {"queries": [{"text": "a red bike"}, {"text": "a blue car"}, {"text": "a red bike"}]})
    assert run.returncode == 0, run.stderr
    vectors = [r["embedding"] for r in lines[-1]["responses"]]
    assert len(vectors) == 3 and len(vectors[0]) > 10
    assert cosine(vectors[0], vectors[2]) > 0.999 > cosine(vectors[0], vectors[1])  # same text, same vector


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


# --- the fault server: what was sent, fallbacks, errors -------------------------------------------

def test_settings_and_messages_reach_the_provider(tmp_path, fault_server):
    query = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "parts": [{"type": "TEXT", "text": "What is this?"},
                                   {"type": "IMAGE_INLINE", "inlineImage": "QUJD", "imageMimeType": "image/png"}]},
        {"role": "assistant", "toolCalls": [{"type": "function", "id": "call_1",
                                             "function": {"name": "lookup", "arguments": "{\"q\": \"x\"}"}}]},
        {"role": "tool", "toolOutputs": [{"callId": "call_1", "output": "a cat"}]},
    ]}
    settings = {"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 50, "stopSequences": ["END"],
                "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
                "toolChoice": {"type": "auto"}}
    run, _ = run_llm(tmp_path, CHAT, fault_preset(fault_server), "fault-chat", query, settings)
    assert run.returncode == 0, run.stderr
    body = fault_server.requests[-1].json
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["max_tokens"] == 50
    assert body["stop"] == ["END"] and body["presence_penalty"] == 0.1 and body["frequency_penalty"] == 0.2
    assert body["tools"][0]["function"]["name"] == "lookup" and body["tool_choice"] == "auto"
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert body["messages"][1]["content"][1]["image_url"]["url"] == "data:image/png;base64,QUJD"
    assert body["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}


def test_tool_calls_come_back(tmp_path, fault_server):
    call = {"id": "call_9", "type": "function", "function": {"name": "multiply", "arguments": "{\"a\":3,\"b\":6}"}}
    answer = {"id": "x", "object": "chat.completion", "model": "fault-chat", "choices": [{
        "index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
    fault_server.always(Fault.error(200, answer))
    run, lines = run_llm(tmp_path, CHAT, fault_preset(fault_server), "fault-chat", ask("3 times 6?"),
                         {"tools": [{"type": "function", "function": {"name": "multiply"}}]})
    assert run.returncode == 0, run.stderr
    result = lines[-1]
    assert result["finishReason"] == "tool_calls"
    assert result["toolCalls"] == [{"type": "function", "id": "call_9",
                                    "function": {"name": "multiply", "arguments": "{\"a\":3,\"b\":6}"}}]
    assert result["totalTokens"] == 12


def test_stream_falls_back_to_one_chunk_when_refused(tmp_path, fault_server):
    fault_server.reject_stream()
    run, lines = run_llm(tmp_path, CHAT, fault_preset(fault_server), "fault-chat", ask("hello there"), stream=True)
    assert run.returncode == 0, run.stderr
    assert lines == [{"chunk": {"text": "echo: hello there"}},
                     {"footer": {"finishReason": "stop", "promptTokens": 2, "completionTokens": 3,
                                 "totalTokens": 5}}]


def test_stream_with_streaming_off_never_asks_to_stream(tmp_path, fault_server):
    run, lines = run_llm(tmp_path, CHAT, fault_preset(fault_server, streaming="no"), "fault-chat", ask("hi you"),
                         stream=True)
    assert run.returncode == 0, run.stderr
    assert [line["chunk"]["text"] for line in lines if "chunk" in line] == ["echo: hi you"]
    assert not any(r.stream for r in fault_server.requests)


def test_streamed_chunks_then_footer(tmp_path, fault_server):
    run, lines = run_llm(tmp_path, CHAT, fault_preset(fault_server), "fault-chat", ask("one two three"),
                         stream=True)
    assert run.returncode == 0, run.stderr
    assert "".join(line["chunk"]["text"] for line in lines[:-1]) == "echo: one two three"
    assert lines[-1]["footer"]["totalTokens"] == 7
    assert fault_server.requests[-1].json["stream_options"] == {"include_usage": True}


def test_provider_error_keeps_its_message_and_kind(tmp_path, fault_server):
    fault_server.require_auth("sk-right-key")
    run, lines = run_llm(tmp_path, CHAT, fault_preset(fault_server, auth_scheme="bearer", api_key="sk-wrong-key"),
                         "fault-chat", ask("hi"))
    assert run.returncode == 1 and not lines
    last = run.stderr.strip().splitlines()[-1]
    assert "AuthenticationError" in last
    assert "Incorrect API key provided" in last  # the provider's own words
    assert "sk-wrong-key" not in run.stderr + run.stdout


def test_unknown_model_fails_at_set_up(tmp_path, fault_server):
    run, _ = run_llm(tmp_path, CHAT, fault_preset(fault_server), "not-listed", ask("hi"))
    assert run.returncode == 1
    assert "UnknownModelError" in run.stderr and "not-listed" in run.stderr
    assert fault_server.calls == 0


def test_embedding_component_on_fault_server(tmp_path, fault_server):
    texts = [f"text {i}" for i in range(70)]  # more than one request's batch
    run, lines = run_llm(tmp_path, EMBEDDING, fault_preset(fault_server), "fault-embed",
                         {"queries": [{"text": t} for t in texts]})
    assert run.returncode == 0, run.stderr
    assert len(lines[-1]["responses"]) == 70
    assert fault_server.calls_to("embeddings") == 2
    image = {"queries": [{"inlineImage": "QUJD"}]}
    run, _ = run_llm(tmp_path, EMBEDDING, fault_preset(fault_server), "fault-embed", image)
    assert run.returncode == 1 and "embeds text only" in run.stderr


def test_embedding_component_answers_per_item_and_honours_text_overflow_mode(tmp_path, fault_server):
    def too_long(req) -> bool:
        return req.route == "embeddings" and any(len(t) > 50 for t in req.json.get("input", []))

    fault_server.add_rule(Fault.context_length(64), too_long)
    query = {"queries": [{"text": "short"}, {"text": "long " * 40}, {"inlineImage": "QUJD"}, {"text": "also short"}]}
    run, lines = run_llm(tmp_path, EMBEDDING, fault_preset(fault_server), "fault-embed", query,
                         settings={"textOverflowMode": "FAIL"})
    assert run.returncode == 0, run.stderr
    responses = lines[-1]["responses"]
    assert "embedding" in responses[0] and "embedding" in responses[3]
    assert responses[1]["errorType"] == "context_length" and "embedding" not in responses[1]
    assert "embeds text only" in responses[2]["errorMessage"]
    run, lines = run_llm(tmp_path, EMBEDDING, fault_preset(fault_server), "fault-embed", query,
                         settings={"textOverflowMode": "TRUNCATE"})
    assert run.returncode == 0, run.stderr
    responses = lines[-1]["responses"]
    assert all("embedding" in responses[i] for i in (0, 1, 3)) and "errorMessage" in responses[2]
    assert "TRUNCATED: a text of 200 characters" in run.stderr


def test_reasoning_goes_to_the_trace_not_the_answer(tmp_path, fault_server):
    """A reasoning model's thinking (DeepSeek-R1 on vLLM: message.reasoning_content) stays out of the Mesh answer
    and lands in the trace span's outputs; its tokens are the footer key dataikuapi sums (reasoningTokens); the
    component's reasoning_effort setting is sent."""
    import localdss

    answer = {"id": "x", "object": "chat.completion", "model": "fault-chat", "choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "9.11 is smaller.", "reasoning_content": "Compare digits."}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 30, "total_tokens": 35,
                  "completion_tokens_details": {"reasoning_tokens": 24}}}
    fault_server.always(Fault.error(200, answer))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "python-lib"), REPO]))
    for stream in (False, True):
        trace_file = tmp_path / f"trace-{stream}.json"
        run = localdss.run_llm(CHAT, config={"model": "fault-chat", "reasoning_effort": "high"},
                               presets={"connection": fault_preset(fault_server)}, query=ask("9.11 or 9.8?"),
                               stream=stream, trace_file=trace_file, timeout=600, env=env)
        assert run.returncode == 0, run.stderr
        lines = localdss.parse_json_lines(run.stdout)
        text = lines[-1]["text"] if not stream else "".join(line["chunk"]["text"] for line in lines if "chunk" in line)
        final = lines[-1] if not stream else lines[-1]["footer"]
        assert text == "9.11 is smaller."
        assert final["reasoningTokens"] == 24 and final["completionTokens"] == 30
        trace = json.loads(trace_file.read_text())
        assert trace["outputs"]["reasoning"] == "Compare digits."
        assert trace["attributes"]["reasoningTokens"] == 24
        assert fault_server.requests[-1].json["reasoning_effort"] == "high"


def test_mesh_reasoning_effort_is_checked_at_set_up(tmp_path, fault_server):
    import localdss

    run = localdss.run_llm(CHAT, config={"model": "fault-chat", "reasoning_effort": "extreme"},
                           presets={"connection": fault_preset(fault_server)}, query=ask("hi"), timeout=600)
    assert run.returncode != 0
    assert "reasoning_effort" in run.stderr and "extreme" in run.stderr
    assert fault_server.requests == []
