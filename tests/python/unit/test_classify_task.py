"""The classify task: settings checks, requests, answer parsing, confidence; and against the fault server."""
from __future__ import annotations

import json
import math

import pytest
from openai_compatible import Client, OutputValidationError, SettingsError
from openai_compatible.engine import RowEngine
from openai_compatible.store import request_key
from openai_compatible.tasks.base import RowInputError
from openai_compatible.tasks.classify import (
    NONE_ANSWER,
    ClassifySpec,
    ClassifyTask,
    label_confidence,
    normalize_classes,
)

from tests.servers.fault_server import Fault, when_text

SENTIMENT = [{"from": "positive", "to": "the writer is happy"}, {"from": "negative", "to": ""}]


def task_for(**changes) -> ClassifyTask:
    spec = dict(model="m", text_column="text", classes=SENTIMENT)
    spec.update(changes)
    return ClassifyTask(ClassifySpec(**spec), ["id", "text", "title"])


def chat_answer(content: str, logprobs=None) -> Fault:
    """A 200 chat completion with this content (and logprobs), as the fault server sends it."""
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": logprobs,
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}
    return Fault.error(200, body, label="answer")


def token_logprobs(*tokens) -> dict:
    """``token_logprobs(("{", -0.1), ("pos", -0.5, [("neg", -1.0)]))`` as an OpenAI logprobs object."""
    content = []
    for token in tokens:
        alternatives = token[2] if len(token) > 2 else []
        content.append({"token": token[0], "logprob": token[1],
                        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives]})
    return {"content": content}


# --- settings ---------------------------------------------------------------------------------------------------

def test_classes_from_every_shape():
    assert normalize_classes(SENTIMENT) == [("positive", "the writer is happy"), ("negative", "")]
    assert normalize_classes({"a": "first", "b": None}) == [("a", "first"), ("b", "")]
    assert normalize_classes(["a", ("b", "second")]) == [("a", ""), ("b", "second")]
    assert normalize_classes("a, b\nc") == [("a", ""), ("b", ""), ("c", "")]
    assert normalize_classes([{"from": " a ", "to": " x "}, {"from": "", "to": ""}]) == [("a", "x")]


@pytest.mark.parametrize("classes, message", [
    ([], "'classes' is empty"),
    ([{"from": "a"}, {"from": "A"}], "given twice"),
    ([{"from": "", "to": "orphan description"}], "no class name"),
    (42, "must be a list"),
])
def test_bad_classes(classes, message):
    with pytest.raises(SettingsError, match=message):
        normalize_classes(classes)


@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "'model' is empty"),
    ({"text_column": ""}, "'text_column' is empty"),
    ({"text_column": "txt"}, "'txt' is not a column"),
    ({"text_column": "", "text_template": "{{titel}}: {{text}}"}, "Did you mean 'title'"),
    ({"classes": ["spam"]}, "single class"),
    ({"classes": ["a", NONE_ANSWER], "allow_none": True}, "reserved"),
    ({"examples": [{"from": "great", "to": "neutral"}]}, "'neutral' is not one of the classes"),
    ({"examples": [{"from": "", "to": "positive"}]}, "has no text"),
    ({"examples": [{"from": "meh", "to": ""}]}, "has no label"),
    ({"multi_label": True, "examples": [{"from": "x", "to": "[positive"}]}, "not a valid JSON list"),
])
def test_bad_settings_are_caught_before_any_request(changes, message):
    with pytest.raises(SettingsError, match=message):
        task_for(**changes)


def test_one_class_is_fine_when_the_model_may_say_none_of_these():
    task = task_for(classes=["spam"], allow_none=True)
    assert task.schema["properties"]["label"]["enum"] == ["spam", NONE_ANSWER]


# --- requests ---------------------------------------------------------------------------------------------------

def test_single_label_request():
    task = task_for()
    key, messages = task.request({"text": "I love it"})
    system, user = messages
    assert "exactly one of these classes" in system["content"]
    assert "- positive: the writer is happy\n- negative\n" in system["content"]
    assert user == {"role": "user", "content": "Text to classify:\nI love it"}
    fmt = task._options["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == {"type": "object", "additionalProperties": False, "required": ["label"],
                                            "properties": {"label": {"type": "string",
                                                                     "enum": ["positive", "negative"]}}}
    assert task._options["logprobs"] is True and task._options["top_logprobs"] == 5
    assert task._options["temperature"] == 0.0
    assert key == task.request({"text": "I love it", "id": "other"})[0]
    assert key != task.request({"text": "I hate it"})[0]


def test_multi_label_none_explanation_and_examples_request():
    task = task_for(multi_label=True, allow_none=True, explanation=True,
                    examples=[{"from": "good and bad", "to": "positive, negative"},
                              {"from": "nothing", "to": ""}, {"from": "ok", "to": '["Positive"]'}])
    schema = task.schema
    assert schema["required"] == ["labels", "explanation"]
    assert schema["properties"]["labels"] == {"type": "array", "items": {"type": "string",
                                                                         "enum": ["positive", "negative"]}}
    system = task.request({"text": "x"})[1][0]["content"]
    assert "every class that applies" in system and "answer an empty list" in system
    assert '"explanation"' in system
    assert 'Text: good and bad\nAnswer: {"labels": ["positive", "negative"]}' in system
    assert 'Text: nothing\nAnswer: {"labels": []}' in system
    assert 'Text: ok\nAnswer: {"labels": ["positive"]}' in system
    # the examples carry no reasons: the last line says the answer still needs one, or a model copies their shape
    assert system.endswith('Answer: {"labels": ["positive"]}\n'
                           'The examples show the classes only: your answer also gives the "explanation".')


def test_examples_without_an_explanation_asked_for_need_no_word_on_it():
    system = task_for(examples=[{"from": "good", "to": "positive"}]).request({"text": "x"})[1][0]["content"]
    assert system.endswith('Text: good\nAnswer: {"label": "positive"}')


def test_text_template_over_several_columns():
    task = task_for(text_column="", text_template="{{title}}: {{text}}")
    assert task.request({"title": "T", "text": "body"})[1][-1]["content"] == "Text to classify:\nT: body"


@pytest.mark.parametrize("value", [None, "", "   ", float("nan")])
def test_empty_text_is_a_row_error_without_request(value):
    with pytest.raises(RowInputError, match="no text to classify"):
        task_for().request({"text": value})


def test_no_logprobs_when_not_wanted():
    assert "logprobs" not in task_for(logprobs=False)._options


# --- answers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, label", [
    ('{"label": "positive"}', "positive"),
    ('```json\n{"label": "negative"}\n```', "negative"),
    ('Sure! Here it is: {"label": "Negative"} Hope it helps.', "negative"),
    ("positive", "positive"),
    ('"Positive."', "positive"),
    ('{"class": "positive"}', "positive"),
])
def test_answers_that_name_a_class(text, label):
    values, problem = task_for().row_values({"text": text, "finish_reason": "stop"})
    assert problem is None
    assert values["label"] == label


@pytest.mark.parametrize("text, message", [
    ('{"label": "neutral"}', '"neutral" is not one of the classes'),
    ("The sentiment is mostly positive", "not one of the classes"),
    ('{"labels": 3}', "no 'label'"),
    ("", "an empty answer"),
    (f'{{"label": "{NONE_ANSWER}"}}', "is not one of the classes"),  # not allowed here
])
def test_answers_outside_the_classes_are_row_errors(text, message):
    values, problem = task_for().row_values({"text": text, "finish_reason": "stop", "model": "m"})
    assert isinstance(problem, OutputValidationError) and problem.kind == "invalid_output"
    assert message in str(problem)
    assert values.get("label") is None and values["model"] == "m"


def test_cut_answer_and_content_filter():
    _, problem = task_for().row_values({"text": '{"label": "pos', "finish_reason": "length"})
    assert "cut off at the output token limit" in str(problem)
    _, problem = task_for().row_values({"text": "", "finish_reason": "content_filter"})
    assert "content filter" in str(problem)


def test_none_of_these():
    values, problem = task_for(allow_none=True).row_values({"text": '{"label": "None of these"}'})
    assert problem is None and values["label"] is None


def test_multi_label_answers():
    task = task_for(multi_label=True, explanation=True)
    values, problem = task.row_values({"text": '{"labels": ["negative", "POSITIVE", "negative"], '
                                            '"explanation": "mixed"}', "confidence": 0.5})
    assert problem is None
    assert json.loads(values["label"]) == ["negative", "positive"]
    assert values["explanation"] == "mixed" and values["confidence"] == 0.5
    assert task.row_values({"text": '["positive"]'})[0]["label"] == '["positive"]'
    assert task.row_values({"text": "positive, negative"})[0]["label"] == '["positive", "negative"]'
    _, problem = task.row_values({"text": '{"labels": []}'})
    assert "names no class" in str(problem)
    _, problem = task.row_values({"text": '{"labels": ["positive", "meh"]}'})
    assert '"meh" is not one of the classes' in str(problem)
    values, problem = task_for(multi_label=True, allow_none=True).row_values({"text": '{"labels": []}'})
    assert problem is None and values["label"] == "[]"


@pytest.mark.parametrize("classes, message", [
    ([], "Parameter 'labels' is empty: give at least two classes (a name, and optionally a description that "
         "tells the model what belongs there)."),
    ("  ,\n", "Parameter 'labels' is empty: give at least two classes (a name, and optionally a description "
               "that tells the model what belongs there)."),
    ([{"from": "a"}, {"from": "A"}], "Parameter 'labels': the class 'A' is given twice (as 'a' before); class "
                                     "names must be unique."),
    ([{"from": "a"}, {"from": "", "to": "x"}], "Parameter 'labels' entry 2 has a description but no class name."),
    (42, "Parameter 'labels' must be a list of classes (a name and an optional description)."),
])
def test_bad_classes_messages_name_the_field_given_and_the_fix(classes, message):
    with pytest.raises(SettingsError) as info:
        normalize_classes(classes, field="labels")
    assert str(info.value) == message


@pytest.mark.parametrize("changes, description", [
    ({}, "The class the model chose"),
    ({"allow_none": True}, "The class the model chose (empty when no class fits)"),
    ({"multi_label": True}, "The classes that apply, as a JSON array of class names ([] when none applies)"),
])
def test_the_label_and_confidence_columns_types_and_descriptions(changes, description):
    columns = {c.name: c for c in task_for(**changes).output_columns()}
    assert (columns["label"].type, columns["label"].description) == ("string", description)
    assert columns["confidence"].type == "double"
    assert columns["confidence"].description.startswith("Probability (0 to 1) the model gave its label")


def test_output_columns():
    names = [c.name for c in task_for(explanation=True).output_columns()]
    assert names[:3] == ["label", "explanation", "confidence"]
    assert {"error_message", "error_type", "finish_reason", "prompt_tokens", "completion_tokens", "model",
            "latency_ms"} <= set(names)
    assert "explanation" not in [c.name for c in task_for().output_columns()]


# --- confidence -------------------------------------------------------------------------------------------------

def test_confidence_is_the_label_tokens_probability():
    logprobs = token_logprobs(('{"', -0.01), ("label", -0.02), ('":', -0.01), (' "', -0.05),
                              ("pos", math.log(0.8)), ("itive", math.log(0.5)), ('"}', -0.3))
    assert label_confidence(logprobs, ["positive"], ["positive", "negative"]) == pytest.approx(0.4)


def test_confidence_renormalised_among_alternatives_that_spell_a_class():
    # the server reports the distribution before its grammar: only "neg" could replace "pos"
    logprobs = token_logprobs((' {"label": "', -0.1),
                              ("pos", math.log(0.2), [("pos", math.log(0.2)), ("neg", math.log(0.1)),
                                                      ("Product", math.log(0.6))]),
                              ("itive", math.log(0.3), [("itive", math.log(0.3)), ("ative", math.log(0.3))]),
                              ('"}', -0.01))
    # "ative" cannot follow "pos": the second token is certain among the possible ones
    assert label_confidence(logprobs, ["positive"], ["positive", "negative"]) == pytest.approx(0.2 / 0.3)


def test_confidence_of_several_labels_is_the_lowest():
    logprobs = token_logprobs(('{"labels": ["', 0.0), ("a", math.log(0.9)), ('", "', 0.0), ("b", math.log(0.6)),
                              ('"]}', 0.0))
    assert label_confidence(logprobs, ["a", "b"], ["a", "b", "c"]) == pytest.approx(0.6)


@pytest.mark.parametrize("spelt", ["-Infinity", "NaN", "Infinity"])
def test_a_label_token_without_a_finite_log_probability_has_confidence_zero(spelt):
    # Python servers write float('-inf') and float('nan') as these JSON words; the other token of the label
    # claims a log-probability above 0, which must not lift a probability of zero
    logprobs = json.loads('{"content": [{"token": "{\\"label\\": \\"", "logprob": 0.0}, '
                          f'{{"token": "pos", "logprob": {spelt}}}, {{"token": "itive", "logprob": 2e9}}, '
                          '{"token": "\\"}", "logprob": 0.0}]}')
    assert label_confidence(logprobs, ["positive"], ["positive", "negative"]) == 0.0
    logprobs["content"][2]["logprob"] = -0.1  # and without the odd claim
    assert label_confidence(logprobs, ["positive"], ["positive", "negative"]) == 0.0


def test_a_log_probability_above_zero_counts_as_a_certainty_and_never_overflows():
    logprobs = token_logprobs(('{"label": "', 0.0), ("pos", 800.0, [("pos", 800.0), ("neg", 900.0)]),
                              ("itive", 1e-7), ('"}', 0.0))
    # "pos" and "neg" both claim a probability above 1: each counts as 1, so "pos" has half the possible mass
    assert label_confidence(logprobs, ["positive"], ["positive", "negative"]) == 0.5
    assert label_confidence(token_logprobs(("pos", 800.0), ("itive", 1e-7)), ["positive"], ["positive"]) == 1.0


def test_no_confidence_without_logprobs_or_label():
    assert label_confidence(None, ["a"], ["a", "b"]) is None
    assert label_confidence({"content": None}, ["a"], ["a", "b"]) is None
    assert label_confidence(token_logprobs(('{"label": "b"}', -0.1)), ["a"], ["a", "b"]) is None
    assert label_confidence({"content": [{"token": "x"}]}, ["x"], ["x"]) is None


# --- against the fault server -----------------------------------------------------------------------------------

def run_rows(server, task, rows, **preset):
    client = Client.from_preset(dict({"base_url": server.url, "models": ["m"], "max_retries": 0}, **preset))
    with client:
        return list(RowEngine(task, client, concurrency=1).run([rows]))[0]


def test_rows_through_the_fault_server(fault_server):
    fault_server.add_rule(Fault.error(400), when_text("BOOM"))
    rows = [{"text": "good"}, {"text": None}, {"text": "BOOM"}, {"text": "good"}]
    out = run_rows(fault_server, task_for(), rows)
    assert [r.get("label") for r in out] == ["positive", None, None, "positive"]  # the schema's first class
    assert [r.get("error_type") for r in out] == [None, "input", "bad_request", None]
    assert out[0]["confidence"] is None  # the fault server returns no logprobs
    assert fault_server.calls == 2
    body = fault_server.requests[0].json
    assert body["logprobs"] is True and body["response_format"]["type"] == "json_schema"


def test_an_answer_outside_the_classes_is_an_error(fault_server):
    fault_server.script(chat_answer('{"label": "neutral"}'), chat_answer("I think it is positive"))
    out = run_rows(fault_server, task_for(), [{"text": "a"}, {"text": "b"}])
    assert [r["error_type"] for r in out] == ["invalid_output", "invalid_output"]
    assert all(r.get("label") is None for r in out)
    assert out[0]["prompt_tokens"] == 10  # usage is kept even when the answer is invalid


def test_confidence_from_the_providers_logprobs(fault_server):
    logprobs = token_logprobs(('{"label": "', -0.01), ("neg", math.log(0.9), [("pos", math.log(0.1))]),
                              ("ative", 0.0), ('"}', 0.0))
    fault_server.script(chat_answer('{"label": "negative"}', logprobs))
    out = run_rows(fault_server, task_for(), [{"text": "awful"}])
    assert out[0]["label"] == "negative"
    assert out[0]["confidence"] == pytest.approx(0.9)


def test_a_provider_refusing_logprobs_still_classifies(fault_server):
    fault_server.reject_param("logprobs")
    out = run_rows(fault_server, task_for(), [{"text": "a"}, {"text": "b"}])
    assert [r["label"] for r in out] == ["positive", "positive"]
    assert all(r["confidence"] is None and r.get("error_type") is None for r in out)
    assert fault_server.calls == 3  # one refusal, then both rows without logprobs
    assert "logprobs" not in fault_server.requests[-1].json


def test_a_provider_without_json_mode_answering_a_bare_label(fault_server):
    fault_server.script(chat_answer("negative"))
    out = run_rows(fault_server, task_for(), [{"text": "awful"}], json_mode="none")
    assert out[0]["label"] == "negative"
    assert "response_format" not in fault_server.requests[0].json


# --- details of the prompt, the answer's parsing and the columns --------------------------------------------------

def test_a_class_given_as_a_one_item_pair_has_no_description():
    assert normalize_classes([("a",), ("b", "second")]) == [("a", ""), ("b", "second")]


def test_an_example_that_is_neither_a_mapping_nor_a_pair_is_refused():
    with pytest.raises(SettingsError, match="'examples' entry 1 must be a text and its label"):
        task_for(examples=["ok"])  # two characters, but not a (text, label) pair


def test_the_instructions_show_the_answer_shape_and_the_examples_answers():
    single = task_for(examples=[{"from": "I love it", "to": "positive"}])._fixed_messages[0]["content"]
    assert 'Answer with a JSON object only: {"label": "<class>"}. ' in single
    assert 'Text: I love it\nAnswer: {"label": "positive"}' in single
    multi = task_for(multi_label=True, explanation=True)._fixed_messages[0]["content"]
    assert ('Answer with a JSON object only: {"labels": ["<class>", ...], "explanation": '
            '"<one sentence saying why>"}. ') in multi


def test_the_explanation_is_a_string_in_the_schema_and_a_described_string_column():
    task = task_for(explanation=True)
    assert task.schema["properties"]["explanation"] == {"type": "string"}
    assert task.schema["required"] == ["label", "explanation"]
    explanation = [c for c in task.output_columns() if c.name == "explanation"]
    assert [(c.type, c.description) for c in explanation] == [
        ("string", "Why the model chose this label, in its words")]


def test_an_answer_in_prose_whose_explanation_holds_braces_is_read():
    parsed, _ = task_for(explanation=True).parse(
        'Here it is: {"label": "positive", "explanation": "a smiley {:-)} and praise"} Hope this helps.')
    assert parsed == {"labels": ["positive"], "explanation": "a smiley {:-)} and praise"}


def test_a_long_answer_outside_the_classes_is_shown_cut_with_its_spaces_collapsed():
    text = "It is  hard\nto say " + "x" * 200
    with pytest.raises(OutputValidationError) as caught:
        task_for().parse(text)
    flat = " ".join(text.split())
    assert str(caught.value) == f"The answer is not one of the classes: {flat[:117] + '...'!r}."


def test_an_alternative_token_that_ends_another_class_counts_against_the_label():
    # "posh" could still be written after "pos": the "h" alternative takes half of the second token's mass
    logprobs = token_logprobs(('{"label": "', 0.0), ("pos", math.log(0.5)),
                              ("itive", math.log(0.3), [("itive", math.log(0.3)), ("h", math.log(0.3))]),
                              ('"}', 0.0))
    assert label_confidence(logprobs, ["positive"], ["positive", "posh"]) == pytest.approx(0.25)


def test_a_request_key_names_the_task_kind_so_tasks_sharing_a_cache_never_mix_answers():
    task = task_for()
    key, messages = task.request({"text": "I love it"})
    assert key == request_key("classify", "m", messages, task._options)


def test_examples_given_as_text_and_label_pairs():
    task = task_for(examples=[("I love it", "positive"), ["awful", "negative"]])
    assert 'Text: awful\nAnswer: {"label": "negative"}' in task._fixed_messages[0]["content"]


def test_examples_are_shown_to_the_model_as_written_after_a_blank_line():
    """Few-shot examples follow the class list after a blank line, their labels in plain UTF-8 (a class named
    'négatif' must reach the model as such, not as a \\u escape it would have to decode)."""
    task = task_for(classes=[{"from": "positif", "to": ""}, {"from": "négatif", "to": ""}],
                    examples=[{"from": "Très déçu", "to": "négatif"}])
    instructions = task.messages_for({"text": "Bien"})[0]["content"]  # the system message
    assert '\n\nExamples:\nText: Très déçu\nAnswer: {"label": "négatif"}' in instructions
    assert "\\u00e9" not in instructions


def test_no_text_column_nor_template_says_what_to_choose():
    with pytest.raises(SettingsError, match=r"^Parameter 'text_column' is empty: choose the column holding the text"):
        task_for(text_column="")


def test_the_instructions_open_with_the_role_and_the_task_of_each_mode():
    single = task_for().request({"text": "x"})[1][0]["content"]
    assert single.startswith("You are a text classifier.\nPut the text in exactly one of these classes:\n"
                             "- positive: the writer is happy\n- negative\n")
    multi = task_for(multi_label=True).request({"text": "x"})[1][0]["content"]
    assert multi.startswith("You are a text classifier.\nGive every class that applies to the text, from these "
                            "classes:\n- positive: the writer is happy\n- negative\nGive at least one class.\n")


def test_no_text_column_nor_template_message_in_full():
    with pytest.raises(SettingsError) as info:
        task_for(text_column="", text_template="  ")
    assert str(info.value) == ("Parameter 'text_column' is empty: choose the column holding the text to classify "
                               "(or write a text template over several columns).")


@pytest.mark.parametrize("answer, shown", [('{"labels": ["positive", 7]}', "7"), ('{"labels": [null]}', "null"),
                                           ('{"labels": [["positive"]]}', '["positive"]')])
def test_a_label_that_is_not_text_is_named_as_outside_the_classes(answer, shown):
    with pytest.raises(OutputValidationError) as info:
        task_for(multi_label=True).parse(answer)
    assert str(info.value) == f"The answer {shown} is not one of the classes (positive, negative)."


def test_a_class_without_a_name_is_skipped_not_named_none():
    assert normalize_classes([{"from": None, "to": None}, "a", ("b",)]) == [("a", ""), ("b", "")]
    assert normalize_classes([(None, "")] + ["a", "b"]) == [("a", ""), ("b", "")]


def test_settings_messages_whole():
    # a message is what the user reads: each is pinned whole, with its fix
    with pytest.raises(SettingsError) as caught:
        task_for(classes=["spam"])
    assert str(caught.value) == ("Parameter 'classes' has a single class: add another class, or allow 'none of "
                                 "these' (allow_none) so that the model can say the text doesn't belong to it.")
    with pytest.raises(SettingsError) as caught:
        task_for(examples=[{"from": "great", "to": "neutral"}], allow_none=True)
    assert str(caught.value) == (f"Parameter 'examples' entry 1: 'neutral' is not one of the classes (positive, "
                                 f"negative, {NONE_ANSWER}).")


def test_a_multi_label_answer_without_a_list_says_so_and_quotes_it():
    _, problem = task_for(multi_label=True).row_values({"text": '{"labels": {"a": 1}}'})
    assert str(problem) == "The answer has no 'labels' list: '{\"labels\": {\"a\": 1}}'."


@pytest.mark.parametrize("changes, message", [
    ({"model": ""}, "Parameter 'model' is empty: choose a model of the connection."),
    ({"text_column": ""}, "Parameter 'text_column' is empty: choose the column holding the text to classify (or "
                          "write a text template over several columns)."),
    ({"text_column": "txt"}, "Parameter 'text_column': 'txt' is not a column of the input dataset. Input columns: "
                             "id, text, title."),
    ({"text_column": "", "text_template": "{{titel}}: {{text}}"},
     "Parameter 'text_template': the placeholder {{titel}} names no input column. Did you mean 'title'? Input "
     "columns: id, text, title."),
    ({"classes": ["a", NONE_ANSWER], "allow_none": True},
     f"Parameter 'classes': '{NONE_ANSWER}' is the answer reserved for texts that fit no class when 'allow_none' "
     "is on; rename that class or turn 'allow_none' off."),
    ({"examples": [{"from": "", "to": "positive"}]}, "Parameter 'examples' entry 1 has no text."),
    ({"examples": [{"from": "ok", "to": "positive"}, {"from": "meh", "to": ""}]},
     "Parameter 'examples' entry 2 has no label: give the class of the example text."),
    ({"multi_label": True, "examples": [{"from": "x", "to": "[positive"}]},
     "Parameter 'examples' entry 1: the labels '[positive' are not a valid JSON list."),
    ({"examples": [["only one"]]}, "Parameter 'examples' entry 1 must be a text and its label."),
    ({"multi_label": True, "examples": [{"from": "x", "to": "positive, meh"}]},
     "Parameter 'examples' entry 1: 'meh' is not one of the classes (positive, negative)."),
])
def test_every_settings_message_whole(changes, message):
    with pytest.raises(SettingsError) as caught:
        task_for(**changes)
    assert str(caught.value) == message


@pytest.mark.parametrize("changes, text, message", [
    ({}, '{"label": "neutral"}', 'The answer "neutral" is not one of the classes (positive, negative).'),
    ({}, "The sentiment is mostly positive", "The answer is not one of the classes: 'The sentiment is mostly "
                                             "positive'."),
    ({}, '{"labels": 3}', "The answer has no 'label': '{\"labels\": 3}'."),
    ({}, "", "The answer is not one of the classes: an empty answer."),
    ({"multi_label": True}, '{"labels": []}', "The answer names no class, and 'none of these' is not allowed."),
    ({"multi_label": True}, '{"labels": ["positive", "meh"]}',
     'The answer "meh" is not one of the classes (positive, negative).'),
])
def test_every_answer_error_whole(changes, text, message):
    _, problem = task_for(**changes).row_values({"text": text, "finish_reason": "stop"})
    assert str(problem) == message


CLASSES_LINES = "- positive: the writer is happy\n- negative\n"


@pytest.mark.parametrize("changes, system", [
    ({"allow_none": True, "explanation": True, "examples": [{"input": "I love it", "output": "positive"}]},
     "You are a text classifier.\nPut the text in exactly one of these classes:\n" + CLASSES_LINES +
     f'If no class fits, answer "{NONE_ANSWER}".\nAnswer with a JSON object only: {{"label": "<class>", '
     '"explanation": "<one sentence saying why>"}. Write class names exactly as listed.\n\nExamples:\n'
     'Text: I love it\nAnswer: {"label": "positive"}\n'
     'The examples show the classes only: your answer also gives the "explanation".'),
    ({"multi_label": True, "allow_none": True},
     "You are a text classifier.\nGive every class that applies to the text, from these classes:\n" + CLASSES_LINES +
     'If no class applies, answer an empty list.\nAnswer with a JSON object only: {"labels": ["<class>", ...]}. '
     "Write class names exactly as listed."),
    ({"multi_label": True},
     "You are a text classifier.\nGive every class that applies to the text, from these classes:\n" + CLASSES_LINES +
     'Give at least one class.\nAnswer with a JSON object only: {"labels": ["<class>", ...]}. Write class names '
     "exactly as listed."),
])
def test_the_instructions_the_model_gets_whole(changes, system):
    # examples may be given as input/output as well as from/to (the prompt recipe's names)
    _, messages = task_for(**changes).request({"id": 1, "text": "hi", "title": "t"})
    assert messages == [{"role": "system", "content": system}, {"role": "user", "content": "Text to classify:\nhi"}]
