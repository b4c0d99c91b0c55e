"""The classify recipe through ``python -m localdss``: the fault server, llama.cpp, and LiteLLM in Azure style."""
from __future__ import annotations

import json

import pytest
from localdss_cli import read_rows, read_schema, run_recipe

from tests.servers.fault_server import Fault, when_text

RECIPE = "openai-compatible-classify"
CLASSES = [{"from": "positive", "to": "the writer is happy, likes it"},
           {"from": "negative", "to": "the writer is unhappy, dislikes it"}]
OBVIOUS = [
    ("I love this product, it is wonderful and works perfectly!", "positive"),
    ("This is terrible. It broke after one day, I hate it.", "negative"),
    ("Absolutely fantastic, best purchase ever, very happy!", "positive"),
    ("Horrible experience, the worst, never again.", "negative"),
    ("Great service, amazing, I am delighted.", "positive"),
    ("Awful quality, a waste of money, very disappointed.", "negative"),
]


def fault_preset(server, **extra) -> dict:
    return {"base_url": server.url, "models": ["m"], "api_key": "sk-classify-SECRET", "max_retries": 0, **extra}


def config(**extra) -> dict:
    return {"model": "m", "text_column": "text", "classes": CLASSES, **extra}


def chat_answer(content: str) -> Fault:
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}
    return Fault.error(200, body, label="answer")


# --- fault server -----------------------------------------------------------------------------------------------

def test_labels_and_errors_per_row(tmp_path, fault_server):
    fault_server.add_rule(Fault.error(400), when_text("BOOM"))
    fault_server.add_rule(chat_answer('{"label": "neutral"}'), when_text("WEIRD"))
    rows = [{"id": str(i), "text": text} for i, text in enumerate(["good", "", "BOOM", "WEIRD", "good", "None"])]
    done, out = run_recipe(tmp_path, RECIPE, config(explanation=True), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    assert [r["llm_error_type"] for r in result] == ["", "input", "bad_request", "invalid_output", "", ""]
    assert [r["llm_label"] for r in result] == ["positive", "", "", "", "positive", "positive"]
    assert '"neutral" is not one of the classes' in result[3]["llm_error_message"]
    assert result[0]["llm_explanation"] == "echo" and result[0]["llm_confidence"] == ""
    assert fault_server.calls == 4  # no request for the empty text; "good" once
    schema = read_schema(out)
    assert schema["llm_label"]["type"] == "string" and schema["llm_confidence"]["type"] == "double"
    assert all(schema[name].get("comment") for name in schema if name.startswith("llm_"))
    assert "3 of 6 rows have an error" in done.stderr
    assert "sk-classify-SECRET" not in done.stderr


def test_multi_label_output_is_a_json_array(tmp_path, fault_server):
    fault_server.always(chat_answer('{"labels": ["negative", "positive"]}'))
    done, out = run_recipe(tmp_path, RECIPE, config(multi_label=True, output_prefix="cls"),
                           fault_preset(fault_server), [{"text": "mixed feelings", "cls_label": "taken"}])
    assert done.returncode == 0, done.stderr
    row = read_rows(out)[0]
    assert row["cls_label"] == "taken"  # an input column is never replaced
    assert json.loads(row["cls_label_1"]) == ["negative", "positive"]


@pytest.mark.parametrize("changes, expected", [
    ({"text_column": "txt"}, "'txt' is not a column of the input dataset"),
    ({"classes": [{"from": "only"}]}, "single class"),
    ({"examples": [{"from": "great", "to": "neutral"}]}, "'neutral' is not one of the classes"),
    ({"text_column": "", "text_template": "{{title}}"}, "names no input column"),
    ({"model": "other"}, "Model 'other' is not offered by this preset"),
])
def test_bad_parameters_fail_before_any_request(tmp_path, fault_server, changes, expected):
    done, _ = run_recipe(tmp_path, RECIPE, config(**changes), fault_preset(fault_server), [{"text": "a"}])
    assert done.returncode != 0
    assert expected in done.stderr
    assert fault_server.calls == 0


def test_missing_classes_is_caught_by_the_descriptor(tmp_path, fault_server):
    done, _ = run_recipe(tmp_path, RECIPE, {"model": "m", "text_column": "text"}, fault_preset(fault_server),
                         [{"text": "a"}])
    assert done.returncode != 0 and "classes" in done.stderr
    assert fault_server.calls == 0


def test_fail_mode_stops_at_an_answer_outside_the_classes(tmp_path, fault_server):
    fault_server.always(chat_answer("I would say it is rather nice"))
    done, _ = run_recipe(tmp_path, RECIPE, config(on_error="fail"), fault_preset(fault_server), [{"text": "a"}])
    assert done.returncode == 1
    assert "Row 1 failed (invalid_output)" in done.stderr


def test_cache_folder_makes_a_rerun_free(tmp_path, fault_server):
    rows = [{"text": f"text {i}"} for i in range(20)]
    cache = tmp_path / "cache"
    first, out = run_recipe(tmp_path, RECIPE, config(), fault_preset(fault_server), rows, cache=cache)
    assert first.returncode == 0, first.stderr
    assert fault_server.calls == 20
    again, out = run_recipe(tmp_path, RECIPE, config(), fault_preset(fault_server), rows, cache=cache)
    assert again.returncode == 0, again.stderr
    assert fault_server.calls == 20
    assert [r["llm_label"] for r in read_rows(out)] == ["positive"] * 20


def test_provider_refusing_logprobs(tmp_path, fault_server):
    fault_server.reject_param("logprobs")
    rows = [{"text": f"text {i}"} for i in range(5)]
    done, out = run_recipe(tmp_path, RECIPE, config(max_concurrency=1), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == len(rows)
    assert all(r["llm_label"] == "positive" and r["llm_error_type"] == "" for r in result)
    assert fault_server.calls == 6
    assert "refuses the parameter 'logprobs'" in done.stderr


# --- llama.cpp --------------------------------------------------------------------------------------------------

def llama_preset(llama_server) -> dict:
    return {"base_url": llama_server.base_url, "models": ["smollm2"], "auth_scheme": "none", "read_timeout_s": 600,
            "max_concurrency": 2}


def test_real_sentiment_classification_with_llama(tmp_path, llama_server):
    rows = [{"text": text} for text, _ in OBVIOUS]
    done, out = run_recipe(tmp_path, RECIPE, config(model="smollm2"), llama_preset(llama_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == len(rows)
    assert all(r["llm_error_type"] == "" for r in result), result
    assert all(r["llm_label"] in ("positive", "negative") for r in result)
    right = sum(r["llm_label"] == expected for r, (_, expected) in zip(result, OBVIOUS))
    assert right >= 5, [r["llm_label"] for r in result]
    confidences = [float(r["llm_confidence"]) for r in result]  # llama.cpp returns log-probabilities
    assert all(0.0 < c <= 1.0 for c in confidences)
    assert all(int(r["llm_completion_tokens"]) > 0 for r in result)


def test_real_multi_label_with_explanation_with_llama(tmp_path, llama_server):
    rows = [{"text": OBVIOUS[0][0]}, {"text": OBVIOUS[1][0]}]
    done, out = run_recipe(tmp_path, RECIPE, config(model="smollm2", multi_label=True, allow_none=True,
                                                    explanation=True), llama_preset(llama_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == len(rows)
    for row in result:
        assert row["llm_error_type"] == "", row
        assert set(json.loads(row["llm_label"])) <= {"positive", "negative"}
        assert row["llm_explanation"].strip()


# --- LiteLLM, Azure style ---------------------------------------------------------------------------------------

def azure_preset(proxy) -> dict:
    return {"style": "azure", "target_uri": proxy.target_uri, "api_version": "2024-10-21",
            "auth_scheme": "api_key_header", "api_key": proxy.master_key, "read_timeout_s": 600, "max_retries": 1,
            "endpoints": [{"name": "small", "kind": "azure_deployment", "deployment": "smollm2"},
                          {"name": "mock", "kind": "azure_deployment", "deployment": "mock-gpt"}]}


def test_azure_style_through_litellm(tmp_path, litellm_proxy):
    rows = [{"text": OBVIOUS[0][0]}, {"text": OBVIOUS[3][0]}]
    done, out = run_recipe(tmp_path, RECIPE, config(model="small"), azure_preset(litellm_proxy), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert len(result) == len(rows)
    assert all(r["llm_error_type"] == "" and r["llm_label"] in ("positive", "negative") for r in result), result
    assert litellm_proxy.master_key not in done.stderr


def test_a_model_answering_beside_the_point_gets_row_errors(tmp_path, litellm_proxy):
    done, out = run_recipe(tmp_path, RECIPE, config(model="mock"), azure_preset(litellm_proxy), [{"text": "hi"}])
    assert done.returncode == 0, done.stderr
    row = read_rows(out)[0]
    assert row["llm_error_type"] == "invalid_output" and row["llm_label"] == ""
    assert "Hello from the LiteLLM mock." in row["llm_error_message"]


def test_the_label_is_read_after_the_reasoning(tmp_path, fault_server):
    """A reasoning model weighs the classes while thinking: the label is the one after its <think> block
    (or beside its reasoning_content), and the recipe's reasoning_effort is sent."""
    fault_server.add_rule(chat_answer('<think>\n{"label": "positive"}? No: it broke.\n</think>\n\n'
                                      '{"label": "negative"}'), when_text("broke"))
    fault_server.add_rule(chat_answer("<think>\nThe writer is happy: positive, not negative.\n</think>\n\npositive"),
                          when_text("love"))
    rows = [{"text": "It broke after one day."}, {"text": "I love it."}]
    done, out = run_recipe(tmp_path, RECIPE, config(reasoning_effort="medium"), fault_preset(fault_server), rows)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_label"] for r in result] == ["negative", "positive"]
    assert [r["llm_error_type"] for r in result] == ["", ""]
    assert {r.json["reasoning_effort"] for r in fault_server.requests} == {"medium"}
