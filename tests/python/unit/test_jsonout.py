import json

import pytest
from openai_compatible.errors import OutputValidationError, SettingsError
from openai_compatible.jsonout import column_value, load_schema, read_json_answer, schema_columns, strict_schema

SCHEMA = {"type": "object", "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative"], "description": "The sentiment"},
    "stars": {"type": "integer"}, "score": {"type": "number"}, "ok": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}}}}


def test_schema_columns_are_typed_and_described():
    columns = {c.suffix: c for c in schema_columns(load_schema(json.dumps(SCHEMA)))}
    assert {k: c.type for k, c in columns.items()} == {
        "sentiment": "string", "stars": "bigint", "score": "double", "ok": "boolean", "tags": "string"}
    assert columns["sentiment"].description == "The sentiment"


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"type": "object", "properties": {"a": {"type": "strin"}}}', "not a valid JSON Schema"),
    ('{"type": "array", "items": {"type": "string"}}', "must describe an object with properties"),
    ('{"type": "object"}', "must describe an object with properties"),
])
def test_bad_schemas_are_refused_with_the_field_name(text, message):
    with pytest.raises(SettingsError) as info:
        load_schema(text)
    assert "'json_schema'" in str(info.value)
    assert message in str(info.value)


def test_strict_schema_requires_every_property_and_no_extra():
    strict = strict_schema(SCHEMA)
    assert strict["required"] == list(SCHEMA["properties"])
    assert strict["additionalProperties"] is False
    assert "required" not in SCHEMA  # the user's schema is not modified


def test_answers_are_validated_against_the_schema():
    assert read_json_answer('{"sentiment": "positive", "stars": 5}', "stop", SCHEMA)["stars"] == 5
    assert read_json_answer('```json\n{"sentiment": "negative"}\n```', "stop", SCHEMA)["sentiment"] == "negative"
    with pytest.raises(OutputValidationError) as info:
        read_json_answer('{"sentiment": "meh"}', "stop", SCHEMA)
    assert "at sentiment" in str(info.value)
    with pytest.raises(OutputValidationError) as info:
        read_json_answer('{"sentiment": "posi', "length", SCHEMA)
    assert "finish_reason=length" in str(info.value)
    with pytest.raises(OutputValidationError):
        read_json_answer('"just a string"', "stop", None)


def test_column_values_follow_their_type():
    assert column_value(["a", "b"], "string") == '["a", "b"]'
    assert column_value(4.0, "bigint") == 4
    assert column_value(3, "double") == 3.0
    assert column_value(None, "bigint") is None


@pytest.mark.parametrize("text, inner", [
    ('{"a": 1}', '{"a": 1}'),
    ('  ```json\n{"a": 1}\n```  ', '{"a": 1}'),
    ('```JSON{"a": 1}```', '{"a": 1}'),
    ('```\n[1, 2]\n```', '[1, 2]'),
    ("no fence here", "no fence here"),
])
def test_code_fences_are_stripped(text, inner):
    from openai_compatible.jsonout import strip_code_fence

    assert strip_code_fence(text) == inner


def _object_with(**properties) -> dict:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize("schema", [
    dict(_object_with(a={"$ref": "#/$defs/Label"}), **{"$defs": {"Label": {"type": "string"}}}),
    dict(_object_with(a={"$ref": "#/definitions/x~1y"}), definitions={"x/y": {"type": "string"}}),
    dict(_object_with(a={"$ref": "#label"}), **{"$defs": {"L": {"$anchor": "label", "type": "string"}}}),
    dict(_object_with(a={"$ref": "#/$defs/L%20x"}), **{"$defs": {"L x": {"type": "string"}}}),
    dict(_object_with(a={"$ref": "https://example.com/b.json#/$defs/c"}),
         **{"$defs": {"b": {"$id": "https://example.com/b.json", "$defs": {"c": {"type": "string"}}}}}),
    _object_with(a={"enum": [{"$ref": "#/nowhere"}]}),  # data, not a schema
    _object_with(tree={"type": "array", "items": {"$ref": "#"}}),
])
def test_refs_that_resolve_inside_the_schema_are_accepted(schema):
    assert load_schema(json.dumps(schema)) == schema


@pytest.mark.parametrize("schema, message", [
    (_object_with(a={"$ref": "#/$defs/missing"}), "points to nothing in the schema"),
    (_object_with(a={"$ref": "#no-such-anchor"}), "points to nothing in the schema"),
    (dict(_object_with(a={"type": "string"}), **{"$defs": {"x": {"$ref": "#/$defs/gone"}}}), "points to nothing"),
    (_object_with(a={"$ref": "https://example.com/schemas/label.json"}), "a reference outside the schema"),
    (_object_with(a={"$ref": "label.json"}), "a reference outside the schema"),
])
def test_refs_that_do_not_resolve_are_refused_before_any_request(schema, message):
    with pytest.raises(SettingsError) as info:
        load_schema(json.dumps(schema))
    assert "'json_schema'" in str(info.value) and message in str(info.value)
