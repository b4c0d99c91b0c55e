"""Message content to text: one rule for strings, content parts and everything else."""
import pytest
from openai_compatible.content import content_text


@pytest.mark.parametrize("content, text", [
    ("plain text", "plain text"),
    ("", ""),
    ([{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}], "Hello, world"),
    ([{"type": "text", "text": "look: "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
      {"type": "text", "text": "a cat"}], "look: a cat"),
    ([{"type": "text", "text": None}, "not a part", 3, {"type": "text"}], ""),
    ([], ""),
    (None, ""),
    ({"text": "a dict is not a content shape"}, ""),
    (42, ""),
])
def test_content_text(content, text):
    assert content_text(content) == text
