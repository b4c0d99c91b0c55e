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
            if line.startswith(":"):
                continue  # SSE comment, e.g. ": OPENROUTER PROCESSING" or ": keep-alive"
            name, _, value = line.partition(":")
            if name == "data":
                value = value[1:] if value.startswith(" ") else value
                if value.strip().startswith(":"):
                    continue  # non-conformant "data: : keepalive"
                data_lines.append(value)
    tail = buffer.rstrip(b"\r").decode("utf-8", errors="replace")
    if tail.startswith("data:"):
        data_lines.append(tail[5:].lstrip(" "))
    if data_lines:
        yield "\n".join(data_lines)
