"""The embed task: settings, requests, batches split around the texts the provider refuses, truncation.

The fault server embeds each text as a deterministic vector (``embedding_vector``), fails any batch
holding ``FAIL:<mode>``, and counts its calls: what each row gets, and what it cost, are both checked.
"""
from __future__ import annotations

import json

import pytest
from openai_compatible import Client, SettingsError
from openai_compatible.engine import RowEngine
from openai_compatible.errors import ContextLengthError, ServerError
from openai_compatible.store import request_key
from openai_compatible.tasks.base import RowInputError
from openai_compatible.tasks.embed import EmbedSpec, EmbedTask, _shorter_length, _too_long

from tests.servers.fault_server import Fault, embedding_vector
from tests.servers.fault_server.faults import oai_error


def task_for(**changes) -> EmbedTask:
    spec = dict(model="fault-embed", text_column="text", batch_size=8)
    spec.update(changes)
    return EmbedTask(EmbedSpec(**spec), ["id", "text"])


def client_for(server, **preset) -> Client:
    return Client.from_preset(dict({"base_url": server.url, "models": ["fault-embed"], "max_retries": 0}, **preset))


def embed_rows(server, task, rows, concurrency=1, **preset):
    with client_for(server, **preset) as client:
        return list(RowEngine(task, client, concurrency=concurrency).run([rows]))[0]


def too_long_rule(server, limit: int):
    """Any embeddings request holding a text longer than ``limit`` characters gets OpenAI's 400."""
    def too_long(req) -> bool:
        return req.route == "embeddings" and any(len(t) > limit for t in req.json.get("input", []))
    return server.add_rule(Fault.context_length(512), too_long)


# --- settings and requests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "'model' is empty"),
    ({"text_column": ""}, "'text_column' is empty"),
    ({"text_column": "body"}, "'body' is not a column"),
    ({"too_long": "drop"}, "'too_long' is 'drop'"),
    ({"batch_size": 0}, "between 1 and 2048"),
    ({"batch_size": 5000}, "between 1 and 2048"),
    ({"dimensions": -3}, "positive"),
])
def test_bad_settings(changes, message):
    with pytest.raises(SettingsError, match=message):
        task_for(**changes)


def test_requests_and_keys():
    task = task_for()
    key, text = task.request({"text": "hello", "id": 1})
    assert text == "hello"
    assert key == task.request({"text": "hello", "id": 2})[0]
    assert key != task_for(dimensions=16).request({"text": "hello"})[0]
    assert key != task_for(model="other").request({"text": "hello"})[0]
    assert task.request({"text": 12.0})[1] == "12"
    assert task.batch_size == 8


@pytest.mark.parametrize("value", [None, "", "  \n", float("nan")])
def test_empty_text_is_a_row_error(value):
    with pytest.raises(RowInputError, match="no text to embed"):
        task_for().request({"text": value})


def test_output_columns_and_values():
    task = task_for()
    assert [c.name for c in task.output_columns()] == ["embedding", "dimensions", "error_message", "error_type"]
    assert [c.description for c in task.output_columns()[:2]] == [
        "The text's embedding vector, as a JSON array of floats", "Number of values in the embedding vector"]
    values, problem = task.row_values({"embedding": [0.5, -1.0]})
    assert problem is None and json.loads(values["embedding"]) == [0.5, -1.0] and values["dimensions"] == 2


def test_how_much_to_keep_after_a_too_long_error():
    said = ContextLengthError("x", provider_message="This model's maximum context length is 8192 tokens, however "
                                                    "you requested 16384 tokens (16384 in your prompt).")
    assert _shorter_length(1000, said) == 450  # 0.9 * 8192 / 16384
    assert _shorter_length(1000, ContextLengthError("x", provider_message="too long")) == 750
    llama = ServerError("x", status=500, provider_message="input (3001 tokens) is too large to process. increase "
                                                          "the physical batch size (current batch size: 512)")
    assert _too_long(llama)
    assert not _too_long(ServerError("x", status=500, provider_message="overloaded"))


# --- against the fault server -----------------------------------------------------------------------------------

def test_one_request_per_batch_and_duplicates_embedded_once(fault_server):
    rows = [{"text": f"text {i % 10}"} for i in range(30)]
    out = embed_rows(fault_server, task_for(batch_size=4), rows)
    assert [json.loads(r["embedding"]) for r in out] == [embedding_vector(r["text"]) for r in rows]
    assert all(r["dimensions"] == 8 and r.get("error_type") is None for r in out)
    sizes = [len(req.json["input"]) for req in fault_server.requests]
    assert sorted(sizes) == [2, 4, 4] and fault_server.calls == 3  # 10 distinct texts, 4 per request
    assert fault_server.requests[0].json["encoding_format"] == "float"


def test_a_batch_refused_for_one_text_is_split_until_only_that_text_fails(fault_server):
    rows = [{"text": f"fine {i}"} for i in range(8)]
    rows[5] = {"text": "bad FAIL:400"}
    out = embed_rows(fault_server, task_for(batch_size=8), rows)
    assert [r.get("error_type") for r in out] == [None] * 5 + ["bad_request"] + [None] * 2
    for row, result in zip(rows, out):
        if result.get("error_type") is None:
            assert json.loads(result["embedding"]) == embedding_vector(row["text"])
    # 8 refused -> 4 fine + 4 refused -> 2 refused (1 fine + 1 refused) + 2 fine
    assert [len(req.json["input"]) for req in fault_server.requests] == [8, 4, 4, 2, 1, 1, 2]


def test_two_bad_texts_in_one_batch(fault_server):
    rows = [{"text": "bad one FAIL:422"}, {"text": "a"}, {"text": "b"}, {"text": "bad two FAIL:400"}]
    out = embed_rows(fault_server, task_for(batch_size=4), rows)
    assert [r.get("error_type") for r in out] == ["bad_request", None, None, "bad_request"]
    assert fault_server.calls == 7  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1


def test_a_provider_failure_is_not_blamed_on_the_texts(fault_server):
    fault_server.always("500")
    out = embed_rows(fault_server, task_for(batch_size=4), [{"text": str(i)} for i in range(4)])
    assert [r["error_type"] for r in out] == ["server_error"] * 4
    assert fault_server.calls == 1  # no splitting: the texts are not the problem


def test_too_long_is_a_row_error(fault_server):
    too_long_rule(fault_server, 100)
    rows = [{"text": "short"}, {"text": "x" * 300}, {"text": "also short"}]
    out = embed_rows(fault_server, task_for(batch_size=3), rows)
    assert [r.get("error_type") for r in out] == [None, "context_length", None]
    assert "Set 'too_long' to truncate" in out[1]["error_message"]
    assert fault_server.calls == 5  # 3 -> 1 + 2 -> 1 + 1


def test_too_long_texts_are_truncated_and_retried(fault_server, caplog):
    too_long_rule(fault_server, 100)
    long_text = "".join(str(i % 10) for i in range(300))
    rows = [{"text": "short"}, {"text": long_text}]
    with caplog.at_level("WARNING", logger="openai_compatible"):
        out = embed_rows(fault_server, task_for(batch_size=2, too_long="truncate"), rows)
    assert all(r.get("error_type") is None for r in out)
    sent = fault_server.requests[-1].json["input"]
    assert len(sent) == 1 and len(sent[0]) <= 100 and long_text.startswith(sent[0])
    assert json.loads(out[1]["embedding"]) == embedding_vector(sent[0])
    assert "TRUNCATED: a text of 300 characters" in caplog.text
    # 2 refused -> 1 fine + 1 refused -> 300 * 0.75 = 225 chars refused -> 168 refused -> 126 refused -> 94 fine
    assert [len(req.json["input"][0]) for req in fault_server.requests[2:]] == [300, 225, 168, 126, 94]


def test_dimensions_are_sent(fault_server):
    out = embed_rows(fault_server, task_for(dimensions=16), [{"text": "a"}])
    assert out[0]["dimensions"] == 16
    assert fault_server.requests[0].json["dimensions"] == 16


def test_a_provider_that_ignores_dimensions_is_named_once_and_its_vectors_kept(fault_server, caplog):
    # some servers (Ollama, older vLLM) answer with the model's own size whatever 'dimensions' asks
    vectors = {"object": "list", "model": "fault-embed", "usage": {"prompt_tokens": 2, "total_tokens": 2},
               "data": [{"object": "embedding", "index": i, "embedding": [0.5, -1.0, 0.25]} for i in range(2)]}
    fault_server.always(Fault.error(200, vectors))
    with caplog.at_level("WARNING", logger="openai_compatible"):
        out = embed_rows(fault_server, task_for(dimensions=16, batch_size=2), [{"text": f"t{i}"} for i in range(4)])
    assert [(json.loads(r["embedding"]), r["dimensions"]) for r in out] == [([0.5, -1.0, 0.25], 3)] * 4
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == ["Asked for 16 dimensions but the provider returned vectors of 3: it ignores 'dimensions' "
                    "for model 'fault-embed'."]


def test_batch_size_one_uses_single_calls(fault_server):
    rows = [{"text": "a"}, {"text": "bad FAIL:400"}]
    out = embed_rows(fault_server, task_for(batch_size=1), rows, concurrency=2)
    assert [r.get("error_type") for r in out] == [None, "bad_request"]
    assert fault_server.calls == 2


def test_a_truncated_vector_from_the_cache_is_an_error_when_truncation_is_off():
    answer = {"embedding": [0.1, 0.2], "truncated_to_chars": 90}
    assert task_for(too_long="truncate").row_values(answer)[1] is None
    values, problem = task_for(too_long="error").row_values(answer)
    assert isinstance(problem, ContextLengthError) and "first 90 characters" in str(problem)
    assert "embedding" not in values


# --- requests the provider refuses for a field, not for a text ----------------------------------------------------

def refuse_texts_marked(server, marker: str, param: str, message: str = "Invalid value"):
    """Any embeddings request holding a text with ``marker`` gets a 400 blaming ``param``."""
    def marked(req) -> bool:
        return req.route == "embeddings" and any(marker in t for t in req.json.get("input", []))
    return server.add_rule(Fault.error(400, oai_error(message, param=param)), marked)


def test_a_refused_request_field_fails_every_row_with_advice_and_costs_no_more_calls(fault_server):
    fault_server.always(Fault.error(400, oai_error("Unsupported value: 'v2'.", param="api_revision")))
    rows = [{"text": f"text {i}"} for i in range(4)]
    out = embed_rows(fault_server, task_for(batch_size=2), rows)
    assert [r["error_type"] for r in out] == ["bad_request"] * 4
    assert out[0]["error_message"] == ("The provider refuses the request's 'api_revision' field for model "
                                       "'fault-embed', whatever the texts: Unsupported value: 'v2'.")
    assert fault_server.calls == 1  # the second batch would be refused the same way: not sent


@pytest.mark.parametrize("param", ["input", "prompt"])
def test_a_refusal_blaming_the_texts_is_narrowed_down_to_the_text(fault_server, param):
    refuse_texts_marked(fault_server, "bad", param)
    rows = [{"text": "fine 1"}, {"text": "bad"}, {"text": "fine 2"}, {"text": "fine 3"}]
    out = embed_rows(fault_server, task_for(batch_size=4), rows)
    assert [r.get("error_type") for r in out] == [None, "bad_request", None, None]
    assert fault_server.calls == 5  # 4 -> 2 + 2 -> 1 + 1 and the fine pair


def test_splitting_a_refused_batch_is_logged_with_its_size(fault_server, caplog):
    refuse_texts_marked(fault_server, "bad", "input")
    with caplog.at_level("INFO", logger="openai_compatible"):
        embed_rows(fault_server, task_for(batch_size=4), [{"text": t} for t in ("a", "b", "bad", "c")])
    said = [r.getMessage() for r in caplog.records if "splitting it" in r.getMessage()]
    assert said[0] == "The provider refused a batch of 4 texts (bad_request); splitting it to find the culprit."


def test_a_too_long_text_error_says_how_to_embed_its_beginning(fault_server):
    too_long_rule(fault_server, 100)
    out = embed_rows(fault_server, task_for(batch_size=1), [{"text": "x" * 300}])
    assert out[0]["error_message"].endswith("Set 'too_long' to truncate to embed the beginning of such texts.")


def test_a_text_still_too_long_after_every_cut_is_a_row_error_saying_how_far_it_was_cut(fault_server):
    too_long_rule(fault_server, 0)  # no text is short enough
    out = embed_rows(fault_server, task_for(batch_size=1, too_long="truncate"), [{"text": "y" * 300}])
    cuts = [len(req.json["input"][0]) for req in fault_server.requests]
    assert cuts[0] == 300 and len(cuts) == 9  # the text, then MAX_TRUNCATIONS cuts
    assert out[0]["error_type"] == "context_length"
    message = out[0]["error_message"]
    assert message.startswith(f"The text is too long for the model (still too long after cutting it to {cuts[-1]} "
                              "characters): ")
    assert message.endswith("Set 'too_long' to truncate to embed the beginning of such texts.")


@pytest.mark.parametrize("message, param, dimensions, blamed, advice", [
    ("Invalid value.", "dimensions", 16, "dimensions", "The provider refuses the 'dimensions' parameter (16)"),
    ("This model does not support matryoshka representation: set dimensions to None.", None, 16, "dimensions",
     "The provider refuses the 'dimensions' parameter (16) for model 'fault-embed'"),
    ("Unsupported value: 'v2'.", "api_revision", None, "api_revision",
     "The provider refuses the request's 'api_revision' field"),
    # llama.cpp started without --embeddings, and a service blaming the model: the model is what to change
    ("This server does not support embeddings. Start it with `--embeddings`", None, None, "model",
     "Model 'fault-embed' does not make embeddings on this provider: This server does not support embeddings."),
    ("This model does not support embeddings", "model", None, "model",
     "Model 'fault-embed' does not make embeddings on this provider"),
    ("'gpt-4o' is not an embedding model.", None, None, "model", "Model 'fault-embed' does not make embeddings"),
])
def test_a_refused_field_is_the_error_of_every_text_and_blames_that_field(fault_server, message, param, dimensions,
                                                                         blamed, advice):
    fault_server.always(Fault.error(400, oai_error(message, param=param)))
    task = task_for(dimensions=dimensions)
    with client_for(fault_server) as client:
        results = task.call_batch(client, ["a", "b"])
    assert results[0] is results[1]  # one error for the batch, kept for the next batches
    assert results[0].kind == "bad_request" and results[0].param == blamed
    assert str(results[0]).startswith(advice) and results[0].provider_message == message


def test_a_400_saying_a_text_is_too_long_is_the_texts_error_even_when_it_names_a_field(fault_server):
    # a provider naming its own input field; the words say the text is too long, so cutting the text helps,
    # and the error is the text's, not a refused field's
    said = "Input length 700 exceeds the maximum of 512 tokens."
    fault_server.always(Fault.error(400, oai_error(said, param="texts")))
    with client_for(fault_server) as client:
        results = task_for().call_batch(client, ["a"])
    assert results[0].kind == "context_length"
    assert str(results[0]) == (f"The text is too long for the model: {said} Set 'too_long' to truncate to embed the "
                               "beginning of such texts.")


@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "Parameter 'model' is empty: choose an embedding model of the connection."),
    ({"text_column": ""}, "Parameter 'text_column' is empty: choose the column holding the texts to embed."),
    ({"text_column": "body"}, "Parameter 'text_column': 'body' is not a column of the input dataset. Input "
                              "columns: id, text."),
    ({"dimensions": 0}, "Parameter 'dimensions' must be a positive number, not 0."),
])
def test_bad_settings_messages_in_full(changes, message):
    with pytest.raises(SettingsError) as info:
        task_for(**changes)
    assert str(info.value) == message


def test_one_dimension_is_the_smallest_size_asked_for():
    assert task_for(dimensions=1).request({"text": "a"})[0] != task_for().request({"text": "a"})[0]


def test_the_output_columns_types_and_a_key_naming_the_task_kind():
    task = task_for(dimensions=16)
    assert [(c.name, c.type) for c in task.output_columns()[:2]] == [("embedding", "string"), ("dimensions", "bigint")]
    # the key names the task kind, so that an embed and another task sharing a cache never mix answers
    assert task.request({"text": "hello"})[0] == request_key("embed", "fault-embed", 16, "hello")


@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "Parameter 'model' is empty: choose an embedding model of the connection."),
    ({"text_column": ""}, "Parameter 'text_column' is empty: choose the column holding the texts to embed."),
    ({"text_column": "body"}, "Parameter 'text_column': 'body' is not a column of the input dataset. Input "
                              "columns: id, text."),
    ({"too_long": "cut"}, "Parameter 'too_long' is 'cut': use one of error, truncate."),
    ({"batch_size": 0}, "Parameter 'batch_size' must be between 1 and 2048, not 0."),
    ({"batch_size": 2049}, "Parameter 'batch_size' must be between 1 and 2048, not 2049."),
    ({"dimensions": 0}, "Parameter 'dimensions' must be a positive number, not 0."),
])
def test_every_settings_message_whole(changes, message):
    with pytest.raises(SettingsError) as caught:
        task_for(**changes)
    assert str(caught.value) == message


def test_the_bounds_of_the_settings_are_allowed():
    assert task_for(batch_size=1).spec.batch_size == 1
    assert task_for(batch_size=2048, dimensions=1).spec.dimensions == 1


def test_a_cached_truncated_answer_in_a_run_that_does_not_truncate_says_what_to_set():
    values, problem = task_for().row_values({"embedding": [1.0], "truncated_to_chars": 12})
    assert values == {} and isinstance(problem, ContextLengthError)
    assert str(problem) == ("The text is too long for the model (a run with 'too_long' = truncate embedded its first "
                            "12 characters). Set 'too_long' to truncate to embed the beginning of such texts.")
    assert task_for(too_long="truncate").row_values({"embedding": [1.0], "truncated_to_chars": 12})[1] is None
