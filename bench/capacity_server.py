"""A provider with a capacity the client is not told: ``python bench/capacity_server.py --capacity 48 ...``.

Answers OpenAI chat completions (``"echo: " + <last user message>``, as the fault server does) after
``--latency-ms``, with one of three limits:

- ``--mode refuse``: at most ``--capacity`` requests served at once; one more is refused at once with
  429, no retry hint (what a gateway's parallel-request limit does);
- ``--mode queue``: at most ``--capacity`` served at once; more wait in a FIFO queue, so their latency
  grows and nothing is refused (vLLM, llama.cpp and Ollama schedule a bounded batch and queue the rest);
- ``--rpm R``: at most R requests per minute, a token bucket holding one second's worth (Azure OpenAI
  evaluates its RPM quota over 1 or 10 second windows: learn.microsoft.com/azure/ai-services/openai/
  how-to/quota); above it, 429 with ``retry-after-ms`` and ``Retry-After`` (both sent by Azure OpenAI,
  and read in that order by the official openai-python client).

One asyncio loop, HTTP/1.1 keep-alive. Prints ``READY <url>`` when listening; on SIGTERM prints
``calls=N refused=M served=K peak_busy=B p50_ms=L bins=a,b,...`` to stderr and exits: ``p50_ms`` is the
median time a served request spent in the server (its wait in the queue included), ``bins`` the requests
served in each 100 ms from the first request's arrival (the bench reads the ramp-up and steady rate there).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from typing import Optional


class Limits:
    def __init__(self, mode: str, capacity: int, latency_s: float, rpm: float) -> None:
        self.mode, self.capacity, self.latency_s, self.rpm = mode, capacity, latency_s, rpm
        self.busy = 0
        self.slots = asyncio.Semaphore(capacity) if capacity else None
        self.calls = self.refused = self.served = 0
        self.peak_busy = 0
        self.first: Optional[float] = None  # when the first request arrived
        self.finished: list[float] = []  # when each served request was answered, from the first arrival
        self.in_server: list[float] = []  # how long each served request spent in the server, queue included
        self._tokens = max(1.0, rpm / 60.0)
        self._stamp = time.monotonic()

    def take_token(self) -> Optional[float]:
        """None when a request may go on, else the seconds until the bucket holds a token."""
        rate = self.rpm / 60.0
        now = time.monotonic()
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate


def answer(body: bytes) -> bytes:
    try:
        messages = json.loads(body or b"{}").get("messages") or []
    except ValueError:
        messages = []
    text = next((m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
    content = "echo: " + (text if isinstance(text, str) else "")
    words = len(str(text).split())
    return json.dumps({
        "id": "chatcmpl-capacity", "object": "chat.completion", "created": int(time.time()), "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words, "completion_tokens": words + 1, "total_tokens": 2 * words + 1},
    }).encode()


def response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 404: "Not Found"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def handle(limits: Limits, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            writer.write(await serve(limits, head, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(limits: Limits, head: bytes, body: bytes) -> bytes:
    if b"/chat/completions" not in head.split(b"\r\n", 1)[0]:
        return response(404, b'{"error": {"message": "only /chat/completions here"}}', {})
    limits.calls += 1
    arrived = time.monotonic()
    if limits.first is None:
        limits.first = arrived
    if limits.rpm:
        wait = limits.take_token()
        if wait is not None:
            limits.refused += 1
            return response(429, b'{"error": {"message": "Requests per minute limit exceeded", "type": "requests"}}',
                            {"retry-after-ms": str(max(1, int(wait * 1000))), "Retry-After": str(math.ceil(wait))})
    if limits.mode == "refuse" and limits.busy >= limits.capacity:
        limits.refused += 1
        return response(429, b'{"error": {"message": "Too many concurrent requests", "type": "concurrency"}}', {})
    if limits.slots is not None and limits.mode == "queue":
        async with limits.slots:  # the queue: FIFO, as asyncio wakes the waiters in order
            return await work(limits, body, arrived)
    return await work(limits, body, arrived)


async def work(limits: Limits, body: bytes, arrived: float) -> bytes:
    limits.busy += 1
    limits.peak_busy = max(limits.peak_busy, limits.busy)
    try:
        await asyncio.sleep(limits.latency_s)
    finally:
        limits.busy -= 1
    limits.served += 1
    now = time.monotonic()
    limits.finished.append(now - (limits.first or now))
    limits.in_server.append(now - arrived)
    return response(200, answer(body), {})


async def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("refuse", "queue"), default="queue")
    parser.add_argument("--capacity", type=int, default=0, help="requests served at once; 0: no limit")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rpm", type=float, default=0.0, help="requests per minute; 0: no limit")
    args = parser.parse_args(argv)
    if args.mode == "refuse" and not args.capacity:
        args.mode = "queue"  # nothing to refuse beyond
    limits = Limits(args.mode, args.capacity, args.latency_ms / 1000.0, args.rpm)
    server = await asyncio.start_server(lambda r, w: handle(limits, r, w), "127.0.0.1", args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    in_server = sorted(limits.in_server)
    p50 = 1000.0 * in_server[len(in_server) // 2] if in_server else 0.0
    bins = [0] * (int(max(limits.finished, default=0.0) / 0.1) + 1)
    for finished in limits.finished:
        bins[int(finished / 0.1)] += 1
    print(f"calls={limits.calls} refused={limits.refused} served={limits.served} peak_busy={limits.peak_busy} "
          f"p50_ms={p50:.1f} bins={','.join(map(str, bins))}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
