"""Server-sent events from a streamed ``requests`` response, read as bytes and decoded as UTF-8.

``requests`` would decode ``text/event-stream`` as ISO-8859-1 and ``iter_lines`` splits on Unicode
line separators that are legal inside JSON strings, so lines are split on ``\\n`` here.
"""
from __future__ import annotations

from typing import Iterable, Iterator


def iter_sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yields the ``data`` payload of each event; comments, keep-alives and other fields are skipped."""
    buffer = b""
    data_lines: list[str] = []
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                break
            raw, buffer = buffer[:newline], buffer[newline + 1:]
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line:
                if data_lines:
                    yield "\n".join(data_lines)
                    data_lines = []
                continue
            _read_line(line, data_lines)
    if buffer:  # the stream closed in the middle of a line (or without the final blank line)
        _read_line(buffer.rstrip(b"\r").decode("utf-8", errors="replace"), data_lines)
    if data_lines:
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
