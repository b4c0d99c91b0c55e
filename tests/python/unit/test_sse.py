"""SSE framing hazards: comments, ``data: : keepalive``, CRLF, UTF-8 split across chunks, U+2028 inside JSON."""

import json

import pytest
from openai_compatible.sse import iter_sse_data, iter_sse_lines


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


# --- the specification's line ends (CRLF, LF, CR) and byte-order mark -----------------------------------------

@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"])
def test_every_line_end_of_the_specification_at_every_chunk_boundary(end):
    payload = (b"data: " + chunk("a").encode() + end + end + b": comment" + end
               + b"data: " + chunk("b").encode() + end + end + b"data: [DONE]" + end + end)
    for chunks in split_everywhere(payload):
        assert events(*chunks) == [chunk("a"), chunk("b"), "[DONE]"], chunks


def test_mixed_line_ends_in_one_stream():
    payload = b"data: one\r\rdata: two\n\ndata: three\r\n\r\ndata: four\r\ndata: more\n\r"
    assert events(payload) == ["one", "two", "three", "four\nmore"]


def test_cr_then_lf_in_the_next_chunk_is_one_line_end():
    """A CR closing a chunk and an LF opening the next are one CRLF, not an empty line that ends an event."""
    assert events(b"data: one\r", b"\ndata: two\r\n\r\n") == ["one\ntwo"]


def test_a_bare_cr_ends_a_line_at_once():
    """A line ended by CR is read without waiting for the next chunk (a stream must not lag a piece behind)."""
    lines = iter_sse_lines(iter([b"data: one\r", b"\r"]))
    assert next(lines) == "data: one"


def test_a_leading_byte_order_mark_is_skipped():
    payload = b"\xef\xbb\xbfdata: one\n\ndata: [DONE]\n\n"
    for chunks in split_everywhere(payload):
        assert events(*chunks) == ["one", "[DONE]"], chunks


def test_only_the_first_byte_order_mark_is_skipped():
    assert events(b"\xef\xbb\xbf\xef\xbb\xbfdata: one\n\n") == []  # the second one is part of a field name
    assert events(b"data: one\n\n\xef\xbb\xbfdata: two\n\n") == ["one"]


def test_a_body_of_just_a_byte_order_mark_has_no_event():
    assert events(b"\xef\xbb") == []
    assert events(b"\xef\xbb\xbf") == []


def test_a_byte_order_mark_opening_a_later_chunk_is_data():
    lines = list(iter_sse_lines(iter([b"\xef\xbb\xbfdata: one\n", b"\xef\xbb\xbfx\n", b"\xef\xbb", b"\xbfy\n"])))
    assert lines == ["data: one", "\ufeffx", "\ufeffy"]


def test_a_stream_opening_with_a_line_end_keeps_the_empty_line():
    for opening in (b"\n", b"\r\n", b"\r"):
        assert list(iter_sse_lines(iter([opening + b"data: x\n"]))) == ["", "data: x"], opening


def test_an_event_left_open_at_the_end_keeps_all_its_data_lines():
    assert events(b"data: first\ndata: second") == ["first\nsecond"]


def test_each_line_is_yielded_as_soon_as_its_chunk_arrives():
    """A streamed answer is shown while it arrives: a line never waits for the next chunk."""
    received = []

    def network(chunks):
        for piece in chunks:
            received.append(piece)
            yield piece

    for first in (b"a\n", b"ab\n", b"data: x\n"):
        lines = iter_sse_lines(network([first, b"later\n"]))
        assert next(lines) == first.decode().rstrip("\n")
        assert received == [first], first
        received.clear()


def test_a_stream_ending_on_a_line_end_has_no_extra_empty_line():
    for payload in (b"a\n", b"a\r\n", b"data: x\n\n"):
        for chunks in split_everywhere(payload):
            assert list(iter_sse_lines(iter(chunks))) == payload.decode().splitlines(), chunks


def test_an_unterminated_last_line_is_kept_even_if_it_looks_like_a_byte_order_mark():
    assert list(iter_sse_lines(iter([b"data: x\n\xef\xbb"]))) == ["data: x", "\ufffd"]


def test_invalid_utf8_in_an_unterminated_last_line_is_replaced():
    assert list(iter_sse_lines(iter([b"data: ok\n", b"data: \xff"]))) == ["data: ok", "data: \ufffd"]
