import math

import pytest
from openai_compatible.errors import SettingsError
from openai_compatible.template import EmptyValueError, Template, format_value


def test_renders_placeholders_with_or_without_spaces():
    template = Template("Review of {{product}}: {{ review }} ({{product}})")
    assert template.columns == ["product", "review"]
    assert template.render({"product": "lamp", "review": "great"}) == "Review of lamp: great (lamp)"


def test_unknown_column_is_named_with_a_suggestion():
    template = Template("Say {{txet}}")
    with pytest.raises(SettingsError) as info:
        template.check_columns(["text", "id"])
    assert "{{txet}} names no input column" in str(info.value)
    assert "Did you mean 'text'?" in str(info.value)


@pytest.mark.parametrize("text", ["Say {{text}", "Say {text}} and {{x}}", "{{a}} }} b", "{{ }}", ""])
def test_malformed_templates_are_rejected(text):
    with pytest.raises(SettingsError) as info:
        Template(text)
    assert "prompt_template" in str(info.value)


@pytest.mark.parametrize("value", [None, "", "   ", float("nan")])
def test_empty_cells_are_row_errors(value):
    with pytest.raises(EmptyValueError) as info:
        Template("x {{a}}").render({"a": value})
    assert "column 'a' is empty" in str(info.value)


def test_values_are_formatted_like_a_user_reads_them():
    assert format_value(3.0) == "3"
    assert format_value(2.5) == "2.5"
    assert format_value(12) == "12"
    assert format_value("None") == "None"
    assert format_value(True) == "True"
    assert format_value(math.inf) == "inf"


def test_every_unknown_placeholder_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        Template("{{titel}} by {{autor}}: {{text}} ({{nope}}, {{titel}})").check_columns(["title", "author", "text"])
    message = str(info.value)
    assert "3 placeholders name no input column" in message
    assert "{{titel}} (did you mean 'title'?)" in message and "{{autor}} (did you mean 'author'?)" in message
    assert "{{nope}}" in message and message.count("{{titel}}") == 1
