"""SSE framing hazards: comments, ``data: : keepalive``, CRLF, UTF-8 split across chunks, U+2028 inside JSON."""

import json

import pytest
from openai_compatible.sse import iter_sse_data


def events(*chunks):
    return list(iter_sse_data(iter(chunks)))


def split_everywhere(payload: bytes):
    """Every way of cutting ``payload`` in two, plus one byte at a time."""
    yield [payload]
    for cut in range(1, len(payload)):
        yield [payload[:cut], payload[cut:]]
    yield [payload[i:i + 1] for i in range(len(payload))]


def chunk(text):
    return json.dumps({"choices": [{"delta": {"content": text}}]}, ensure_ascii=False)


def test_canonical_framing():
    stream = f"data: {chunk('Hel')}\n\ndata: {chunk('lo')}\n\ndata: [DONE]\n\n".encode()
    assert events(stream) == [chunk("Hel"), chunk("lo"), "[DONE]"]


def test_comments_are_skipped():
    stream = (b": OPENROUTER PROCESSING\n\n"
              b":keep-alive\n\n"
              b"data: {\"a\": 1}\n\n"
              b": ping\n\n"
              b"data: [DONE]\n\n")
    assert events(stream) == ['{"a": 1}', "[DONE]"]


def test_comment_between_data_lines_of_one_event():
    assert events(b"data: {\"a\":\n: interleaved comment\ndata: 1}\n\n") == ['{"a":\n1}']


def test_non_conformant_data_keepalive_is_skipped():
    stream = b"data: : keepalive\n\ndata: {\"a\": 1}\n\ndata: :keepalive\n\ndata: [DONE]\n\n"
    assert events(stream) == ['{"a": 1}', "[DONE]"]


def test_crlf_line_endings():
    stream = b"data: {\"a\": 1}\r\n\r\n: comment\r\n\r\ndata: [DONE]\r\n\r\n"
    assert events(stream) == ['{"a": 1}', "[DONE]"]


def test_other_fields_are_ignored():
    stream = b"event: message\nid: 7\nretry: 1000\ndata: {\"a\": 1}\n\nid: 8\n\ndata: [DONE]\n\n"
    assert events(stream) == ['{"a": 1}', "[DONE]"]


def test_data_without_a_space_after_the_colon():
    assert events(b"data:{\"a\":1}\n\ndata:[DONE]\n\n") == ['{"a":1}', "[DONE]"]


def test_multi_line_data_is_joined_with_newlines():
    assert events(b"data: line one\ndata: line two\n\n") == ["line one\nline two"]


@pytest.mark.parametrize("text", ["héllo wörld", "日本語のテキスト", "emoji 🎉🚀", "Ω≈ç√∫"])
def test_multibyte_utf8_split_across_chunks(text):
    payload = f"data: {chunk(text)}\n\ndata: [DONE]\n\n".encode()
    for chunks in split_everywhere(payload):
        got = events(*chunks)
        assert got == [chunk(text), "[DONE]"], chunks
        assert json.loads(got[0])["choices"][0]["delta"]["content"] == text


def test_unicode_line_separators_inside_json_do_not_split_events():
    text = "before\u2028middle\u2029after\u0085end\x1cfs"
    payload = f"data: {chunk(text)}\n\ndata: [DONE]\n\n".encode()
    got = events(payload)
    assert len(got) == 2
    assert json.loads(got[0])["choices"][0]["delta"]["content"] == text


def test_arbitrary_chunk_boundaries_give_the_same_events():
    payload = (b": hi\r\n\r\ndata: {\"x\": \"\xc3\xa9\"}\r\n\r\ndata: : keepalive\n\n"
               b"data: {\"y\": 2}\n\ndata: [DONE]\n\n")
    expected = ['{"x": "é"}', '{"y": 2}', "[DONE]"]
    for chunks in split_everywhere(payload):
        assert events(*chunks) == expected


def test_empty_chunks_are_harmless():
    assert events(b"", b"data: 1\n", b"", b"\n", b"") == ["1"]


def test_stream_closing_without_a_blank_line_keeps_the_last_event():
    assert events(b"data: {\"a\": 1}\n\ndata: [DONE]") == ['{"a": 1}', "[DONE]"]
    assert events(b"data: {\"a\": 1}\n\ndata: [DONE]\n") == ['{"a": 1}', "[DONE]"]


def test_trailing_keepalive_or_comment_without_newline_is_not_an_event():
    assert events(b"data: {\"a\": 1}\n\ndata: : keepalive") == ['{"a": 1}']
    assert events(b"data: {\"a\": 1}\n\n: still there") == ['{"a": 1}']


def test_empty_body():
    assert events() == []
    assert events(b"") == []
    assert events(b"\n\n\n") == []


def test_invalid_utf8_is_replaced_not_fatal():
    got = events(b"data: {\"a\": \"\xff\"}\n\n")
    assert got == ['{"a": "\ufffd"}']
