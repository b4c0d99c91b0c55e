"""Server-sent events from a streamed ``requests`` response, read as bytes and decoded as UTF-8.

Follows the SSE specification (https://html.spec.whatwg.org/multipage/server-sent-events.html,
"Parsing an event stream"): a line ends with CRLF, LF or CR, and one leading UTF-8 byte-order mark is
skipped. ``requests`` would decode ``text/event-stream`` as ISO-8859-1, and ``iter_lines`` splits on
Unicode line separators that are legal inside JSON strings, so lines are split here, on bytes.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

_BOM = b"\xef\xbb\xbf"
_END_OF_LINE = re.compile(rb"\r\n|\r|\n")


def iter_sse_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yields the lines of an event stream, decoded, without their line ends (CRLF, LF or CR).

    A CR at the end of one chunk and an LF at the start of the next are one line end. A last line
    without a line end is yielded when the stream closes.
    """
    buffer = b""
    at_start = True
    skip_lf = False  # the previous chunk ended in CR: an LF opening this one belongs to it
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        if skip_lf:
            skip_lf = False
            if buffer.startswith(b"\n"):
                buffer = buffer[1:]
        if at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                continue  # maybe a byte-order mark cut across chunks: wait for the rest
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM):]
            at_start = False
        position = 0
        for match in _END_OF_LINE.finditer(buffer):
            yield buffer[position:match.start()].decode("utf-8", errors="replace")
            position = match.end()
            if match.group() == b"\r" and position == len(buffer):
                skip_lf = True
        buffer = buffer[position:]
    if buffer and not (at_start and _BOM.startswith(buffer)):
        yield buffer.decode("utf-8", errors="replace")


def iter_sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yields the ``data`` payload of each event; comments, keep-alives and other fields are skipped."""
    data_lines: list[str] = []
    for line in iter_sse_lines(chunks):
        if not line:
            if data_lines:
                yield "\n".join(data_lines)
                data_lines = []
            continue
        _read_line(line, data_lines)
    if data_lines:  # the stream closed without the final blank line
        yield "\n".join(data_lines)


def _read_line(line: str, data_lines: list[str]) -> None:
    """Adds the value of a ``data`` line to the event being built; other lines are skipped."""
    if line.startswith(":"):
        return  # SSE comment, e.g. ": OPENROUTER PROCESSING" or ": keep-alive"
    name, _, value = line.partition(":")
    if name != "data":
        return  # event, id, retry: not used by the API
    value = value[1:] if value.startswith(" ") else value
    if value.strip().startswith(":"):
        return  # non-conformant "data: : keepalive"
    data_lines.append(value)
