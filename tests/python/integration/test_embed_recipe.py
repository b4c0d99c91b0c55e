"""The embed recipe through ``python -m localdss``: the fault server, llama.cpp, and LiteLLM in Azure style."""
from __future__ import annotations

import json
import math

from localdss_cli import read_rows, read_schema, run_recipe

from tests.servers.fault_server import Fault, embedding_vector

RECIPE = "openai-compatible-embed"


def fault_preset(server, **extra) -> dict:
    return {"base_url": server.url, "models": ["fault-embed"], "api_key": "sk-embed-SECRET", "max_retries": 0,
            **extra}


def config(**extra) -> dict:
    return {"model": "fault-embed", "text_column": "text", **extra}


# --- fault server -----------------------------------------------------------------------------------------------

def test_vectors_errors_and_batches_split_around_a_refused_text(tmp_path, fault_server):
    texts = [f"text {i}" for i in range(10)] + ["", "text 3", "refused FAIL:400"]
    rows = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    done, out = run_recipe(tmp_path, RECIPE, config(batch_size=4), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    errors = [r["llm_error_type"] for r in result]
    assert errors == [""] * 10 + ["input", "", "bad_request"]
    for row, text in zip(result, texts):
        if row["llm_error_type"] == "":
            assert json.loads(row["llm_embedding"]) == embedding_vector(text)
            assert row["llm_dimensions"] == "8"
    # 11 distinct texts in 3 batches (4, 4, 3); the batch holding the refused text is split: 3 -> 1 + 2 -> 1 + 1
    assert sorted(len(req.json["input"]) for req in fault_server.requests) == [1, 1, 1, 2, 3, 4, 4]
    schema = read_schema(out)
    assert schema["llm_embedding"]["type"] == "string" and schema["llm_dimensions"]["type"] == "bigint"
    assert all(schema[name].get("comment") for name in schema if name.startswith("llm_"))
    assert "sk-embed-SECRET" not in done.stderr


def test_too_long_texts(tmp_path, fault_server):
    def too_long(req) -> bool:
        return req.route == "embeddings" and any(len(t) > 50 for t in req.json.get("input", []))

    fault_server.add_rule(Fault.context_length(64), too_long)
    rows = [{"text": "short"}, {"text": "long " * 40}]
    done, out = run_recipe(tmp_path, RECIPE, config(), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    assert [r["llm_error_type"] for r in read_rows(out)] == ["", "context_length"]
    fault_server.reset()
    fault_server.add_rule(Fault.context_length(64), too_long)
    done, out = run_recipe(tmp_path, RECIPE, config(too_long="truncate"), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_error_type"] for r in result] == ["", ""]
    assert "TRUNCATED: a text of 200 characters" in done.stderr


def test_bad_parameters_fail_before_any_request(tmp_path, fault_server):
    done, _ = run_recipe(tmp_path, RECIPE, config(text_column="body"), fault_preset(fault_server), [{"text": "a"}])
    assert done.returncode != 0 and "'body' is not a column" in done.stderr
    done, _ = run_recipe(tmp_path, RECIPE, config(batch_size=5000), fault_preset(fault_server), [{"text": "a"}])
    assert done.returncode != 0 and "batch_size" in done.stderr
    assert fault_server.calls == 0


def test_cache_folder_makes_a_rerun_free(tmp_path, fault_server):
    rows = [{"text": f"text {i}"} for i in range(50)]
    cache = tmp_path / "cache"
    first, _ = run_recipe(tmp_path, RECIPE, config(batch_size=16), fault_preset(fault_server), rows, cache=cache)
    assert first.returncode == 0, first.stderr
    calls = fault_server.calls
    assert calls == 4
    rows += [{"text": "a new text"}]
    again, out = run_recipe(tmp_path, RECIPE, config(batch_size=16), fault_preset(fault_server), rows, cache=cache)
    assert again.returncode == 0, again.stderr
    assert fault_server.calls == calls + 1
    assert fault_server.requests[-1].json["input"] == ["a new text"]
    result = read_rows(out)
    assert len(result) == len(rows)
    assert all(r["llm_error_type"] == "" for r in result)


# --- llama.cpp --------------------------------------------------------------------------------------------------

def cosine(a: list, b: list) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_real_embeddings_with_llama(tmp_path, llama_server):
    preset = {"base_url": llama_server.base_url, "models": ["smollm2"], "auth_scheme": "none", "read_timeout_s": 600}
    texts = ["The cat sleeps on the sofa.", "A cat is sleeping on the couch.", "Quarterly revenue grew by 8%.",
             "The cat sleeps on the sofa.", "word " * 3000]
    rows = [{"text": t} for t in texts]
    done, out = run_recipe(tmp_path, RECIPE, {"model": "smollm2", "text_column": "text", "batch_size": 8}, preset,
                           rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_error_type"] for r in result] == ["", "", "", "", "context_length"]
    vectors = [json.loads(r["llm_embedding"]) for r in result[:4]]
    assert {len(v) for v in vectors} == {int(result[0]["llm_dimensions"])} and len(vectors[0]) > 100
    assert vectors[0] == vectors[3]
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])

    tmp = tmp_path / "truncate"
    tmp.mkdir()
    done, out = run_recipe(tmp, RECIPE, {"model": "smollm2", "text_column": "text", "too_long": "truncate"},
                           preset, [{"text": "word " * 3000}])
    assert done.returncode == 0, done.stderr
    row = read_rows(out)[0]
    assert row["llm_error_type"] == "" and len(json.loads(row["llm_embedding"])) == len(vectors[0])
    assert "TRUNCATED" in done.stderr


# --- LiteLLM, Azure style ---------------------------------------------------------------------------------------

def test_azure_style_through_litellm(tmp_path, litellm_proxy):
    preset = {"style": "azure", "target_uri": litellm_proxy.target_uri, "api_version": "2024-10-21",
              "auth_scheme": "api_key_header", "api_key": litellm_proxy.master_key, "read_timeout_s": 600,
              "endpoints": [{"name": "small-embed", "kind": "azure_deployment", "deployment": "smollm2-embed"}]}
    rows = [{"text": "alpha beta"}, {"text": "gamma"}, {"text": ""}, {"text": "delta epsilon"}]
    done, out = run_recipe(tmp_path, RECIPE, {"model": "small-embed", "text_column": "text", "batch_size": 2},
                           preset, rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_error_type"] for r in result] == ["", "", "input", ""]
    assert len({r["llm_dimensions"] for r in result if r["llm_embedding"]}) == 1
    assert litellm_proxy.master_key not in done.stderr


def test_a_refused_dimensions_fails_the_batches_without_splitting_them(tmp_path, fault_server):
    # issue 10 §2.10: a 400 about a request field (vLLM refuses 'dimensions' for a model without Matryoshka
    # training: vllm-project/vllm#16331) is not about a text: no halving down to single texts
    refusal = {"object": "error", "type": "BadRequestError", "code": 400, "param": None,
               "message": "Model \"bge-m3\" does not support matryoshka representation, changing output dimensions "
                          "will lead to poor results."}
    fault_server.add_rule(Fault.error(400, refusal), lambda req: req.route == "embeddings" and "dimensions" in req.json)
    rows = [{"text": f"text {i}"} for i in range(8)]
    done, out = run_recipe(tmp_path, RECIPE, config(batch_size=4, dimensions=512), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == len(rows)
    assert {r["llm_error_type"] for r in result} == {"bad_request"}
    assert all("dimensions" in r["llm_error_message"] and "matryoshka" in r["llm_error_message"] for r in result)
    assert fault_server.calls <= 2  # one call at most per batch, never a split; later batches may fail unsent
    assert all(len(req.json["input"]) == 4 for req in fault_server.requests)
    # without 'dimensions' the same texts get their vectors
    fault_server.reset()
    done, out = run_recipe(tmp_path, RECIPE, config(batch_size=4), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    assert [r["llm_error_type"] for r in read_rows(out)] == [""] * 8
