"""One measurement, in a fresh process: ``python bench/workloads.py '<json config>'``.

``bench/run.py`` starts this once per measurement, so that CPU time and the RSS high-water mark belong
to that measurement alone. The last line printed is ``RESULT <json>``; progress goes to stderr.

Kinds:
- ``engine``: the plugin, i.e. RowEngine + PromptTask + Client, over lazily generated unique rows;
- ``peer``: the official ``openai`` SDK's ``AsyncOpenAI`` with an ``asyncio.Semaphore`` over the same rows.

Both first send a few warm-up rows (imports, connections, threads), then measure the run proper.
"""
from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import re
import resource
import sys
import threading
import time
from collections import Counter
from typing import Any, Callable, Iterator, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python-lib"))

MODEL = "bench-model"
TEMPLATE = "Summarise this review in one line: {{text}}"
COLUMNS = ["id", "text"]
CHUNK_ROWS = 1000  # what the prompt recipe reads per chunk (dss.run_row_recipe)


# --- the rows -------------------------------------------------------------------------------------

def review(index: int, tag: str = "") -> str:
    """The text of row ``index``: unique per row, so de-duplication never short-circuits a request."""
    return f"review {tag}{index}: the parcel came on time, the product works as described, five stars"


def prompt(index: int, tag: str = "") -> str:
    """The prompt the template makes of that row (what the peer sends as is)."""
    return TEMPLATE.replace("{{text}}", review(index, tag))


def chunks(rows: int, tag: str = "", size: int = CHUNK_ROWS) -> Iterator[list[dict]]:
    """The rows, ``size`` at a time, generated as they are asked for: nothing is held in advance."""
    for start in range(0, rows, size):
        yield [{"id": i, "text": review(i, tag)} for i in range(start, min(rows, start + size))]


def peak_rss_mb() -> float:
    """The process's RSS high-water mark (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Sampler(threading.Thread):
    """Samples RSS against rows done every ``every_s`` seconds; prints progress for long runs."""

    def __init__(self, rows: int, done: Callable[[], int], every_s: float = 1.0, label: str = "") -> None:
        super().__init__(daemon=True, name="bench-sampler")
        import psutil

        self._process = psutil.Process()
        self.rows = rows
        self.done = done
        self.every_s = every_s
        self.label = label
        self.samples: list[tuple[int, float]] = []
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()

    def sample(self) -> None:
        self.samples.append((self.done(), self._process.memory_info().rss / (1024.0 * 1024.0)))

    def run(self) -> None:
        last_print = time.monotonic()
        while not self._stop_event.wait(self.every_s):
            self.sample()
            now = time.monotonic()
            if self.label and now - last_print >= 30:
                last_print = now
                done = self.done()
                rate = done / max(now - self._t0, 1e-9)
                eta = (self.rows - done) / rate if rate else float("inf")
                print(f"  {self.label}: {done}/{self.rows} rows, {rate:.0f} rows/s, RSS {self.samples[-1][1]:.0f} MB, "
                      f"ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)

    def stop(self, keep: int = 120) -> list[tuple[int, float]]:
        self._stop_event.set()
        self.join()
        self.sample()
        step = max(1, len(self.samples) // keep)
        kept = self.samples[::step]
        if kept[-1] != self.samples[-1]:
            kept.append(self.samples[-1])
        return [(n, round(mb, 1)) for n, mb in kept]


# --- profiling ------------------------------------------------------------------------------------

class ThreadProfiles:
    """cProfile on CPU time (``time.thread_time``), one profiler per thread, merged at the end.

    cProfile only sees the thread it is enabled in, so the main thread gets one and each worker thread
    gets its own around every call it makes.
    """

    def __init__(self) -> None:
        self.main = cProfile.Profile(time.thread_time)
        self._workers: list[cProfile.Profile] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            profile = getattr(self._local, "profile", None)
            if profile is None:
                profile = self._local.profile = cProfile.Profile(time.thread_time)
                with self._lock:
                    self._workers.append(profile)
            profile.enable()
            try:
                return function(*args, **kwargs)
            finally:
                profile.disable()

        return profiled

    def report(self, rows: int, top: int = 20) -> dict[str, Any]:
        stats = pstats.Stats(self.main)
        for profile in self._workers:
            stats.add(profile)
        entries = stats.stats  # type: ignore[attr-defined]
        total = sum(tt for (_, _, tt, _, _) in entries.values()) or 1e-9
        groups: Counter = Counter()
        for (filename, _, name), (_, _, tt, _, _) in entries.items():
            groups[_group(filename, name)] += tt

        def label(key: tuple) -> str:
            filename, line, name = key
            return f"{_short(filename)}:{line}({name})" if filename != "~" else name

        by_own = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
        by_cum = sorted(entries.items(), key=lambda kv: kv[1][3], reverse=True)[:top]
        return {
            "rows": rows,
            "profiled_cpu_s": round(total, 3),
            "note": "CPU time per thread under cProfile (which adds overhead); compare shares, not absolutes",
            "by_package": [[g, round(100.0 * t / total, 1)] for g, t in groups.most_common(15)],
            "top_own": [[label(k), v[1], round(100.0 * v[2] / total, 1)] for k, v in by_own],
            "top_cumulative": [[label(k), v[1], round(100.0 * v[3] / total, 1)] for k, v in by_cum],
        }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "python-lib/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    match = re.search(r"lib/python3\.\d+/(.*)$", filename)
    return match.group(1) if match else filename


def _group(filename: str, name: str) -> str:
    """Which package a profiled function belongs to."""
    if filename == "~":
        match = re.search(r"of '([\w.]+)' objects|built-in method ([\w.]+)", name)
        qualified = (match.group(1) or match.group(2)) if match else name
        return "(C) " + qualified.split(".")[0]
    if filename.startswith("<frozen "):
        return filename[len("<frozen "):-1]
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "python-lib/" in filename:
        return filename.split("python-lib/", 1)[1].replace("/", ".").removesuffix(".py")
    short = _short(filename).removesuffix(".py").split("/")
    return ".".join(short[:2])


# --- the plugin -----------------------------------------------------------------------------------

def run_engine(cfg: dict[str, Any]) -> dict[str, Any]:
    from openai_compatible.client import Client
    from openai_compatible.engine import RowEngine
    from openai_compatible.tasks.prompt import PromptSpec, PromptTask

    rows = int(cfg["rows"])
    preset = {"style": "openai", "base_url": cfg["url"], "models": [MODEL], "auth_scheme": "none",
              "max_concurrency": int(cfg["concurrency"]), "requests_per_minute": int(cfg.get("rpm") or 0)}
    client = Client.from_preset(preset)
    concurrency = client.settings.max_concurrency  # as the prompt recipe does
    task = PromptTask(PromptSpec(model=MODEL, prompt_template=TEMPLATE), COLUMNS)

    warm = RowEngine(task, client, concurrency=concurrency)
    for _ in warm.run(chunks(int(cfg.get("warmup", concurrency)), tag="warm-up ")):
        pass
    warmup_calls = warm.summary.http_calls
    task.request({"id": -1, "text": review(-1)})  # the template's lazy imports (pandas) belong to no run

    profiles: Optional[ThreadProfiles] = None
    if cfg.get("profile"):
        profiles = ThreadProfiles()
        task.call = profiles.wrap(task.call)  # type: ignore[method-assign]
    engine = RowEngine(task, client, concurrency=concurrency, total_rows=rows, progress_every_s=3600)
    done = 0
    sampler = Sampler(rows, lambda: done, every_s=float(cfg.get("sample_every_s", 1.0)), label=cfg.get("label", ""))
    order_ok = True
    answered = 0
    latencies: list[float] = []
    sampler.start()
    trace: list[list] = []  # the limits over time, every 0.25 s: seconds, share of the RPM, concurrency, 429s
    tracing = threading.Event()

    def trace_limits() -> None:
        while not tracing.wait(0.25):
            stats = client.stats.snapshot()
            trace.append([round(time.perf_counter() - wall0, 2), round(client.limiter.share, 3),
                          client.concurrency.limit, stats["rate_limited"], stats["http_calls"]])

    cpu0, wall0 = time.process_time(), time.perf_counter()
    threading.Thread(target=trace_limits, daemon=True).start()
    if profiles:
        profiles.main.enable()
    for outputs, expected in zip(engine.run(chunks(rows)), range(0, rows, CHUNK_ROWS)):
        size = min(CHUNK_ROWS, rows - expected)
        if (len(outputs) != size or outputs[0].get("response") != "echo: " + prompt(expected)
                or outputs[-1].get("response") != "echo: " + prompt(expected + size - 1)):
            order_ok = False
        answered += sum(1 for values in outputs if not values.get("error_type"))
        latencies.extend(float(v["latency_ms"]) for v in outputs if not v.get("error_type") and v.get("latency_ms"))
        done += len(outputs)
    tracing.set()
    if profiles:
        profiles.main.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    samples = sampler.stop()
    client.close()
    summary = engine.summary
    result = {
        "kind": "engine", "rows": done, "seconds": round(wall, 3), "rows_per_s": round(done / wall, 2),
        "cpu_s": round(cpu, 3), "cpu_ms_per_row": round(1000.0 * cpu / max(done, 1), 4),
        "answered": answered, "errors": dict(summary.errors), "order_ok": order_ok and done == rows,
        "http_calls": summary.http_calls, "http_calls_per_row": round(summary.http_calls / max(done, 1), 4),
        "rate_limited": summary.rate_limited, "retries": summary.retries,
        "deduplicated": summary.deduplicated, "warmup_http_calls": warmup_calls,
        "peak_rss_mb": round(peak_rss_mb(), 1), "rss_samples": samples,
        "latency_p50_ms": round(sorted(latencies)[len(latencies) // 2], 1) if latencies else None,
        "concurrency": summary.concurrency, "concurrency_final": client.concurrency.limit,
        "concurrency_peak": client.concurrency.peak_limit, "trace": trace,
    }
    if profiles:
        result["profile"] = profiles.report(done)
    return result


# --- the peer: the official SDK -------------------------------------------------------------------

async def _peer(cfg: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import openai
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    calls = 0

    async def count(_: httpx.Request) -> None:
        nonlocal calls
        calls += 1

    client = AsyncOpenAI(base_url=cfg["url"], api_key="bench",
                         http_client=DefaultAsyncHttpxClient(event_hooks={"request": [count]}))
    semaphore = asyncio.Semaphore(int(cfg["concurrency"]))
    errors: Counter = Counter()

    async def one(index: int, tag: str = "") -> bool:
        async with semaphore:
            text = prompt(index, tag)
            try:
                answer = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
            except openai.APIError as exc:
                errors[type(exc).__name__] += 1
                return False
            return answer.choices[0].message.content == "echo: " + text

    warmup = int(cfg.get("warmup", cfg["concurrency"]))
    await asyncio.gather(*(one(i, "warm-up ") for i in range(warmup)))
    warmup_calls, calls = calls, 0
    errors.clear()
    rows = int(cfg["rows"])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(rows)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await client.close()
    return {
        "kind": "peer", "rows": rows, "seconds": round(wall, 3), "rows_per_s": round(rows / wall, 2),
        "cpu_s": round(cpu, 3), "cpu_ms_per_row": round(1000.0 * cpu / rows, 4),
        "answered": sum(outcomes), "errors": dict(errors), "order_ok": all(outcomes),
        "http_calls": calls, "http_calls_per_row": round(calls / rows, 4), "warmup_http_calls": warmup_calls,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_peer(cfg: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_peer(cfg))


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    if cfg.get("tmpdir"):
        import tempfile

        os.makedirs(cfg["tmpdir"], exist_ok=True)
        tempfile.tempdir = cfg["tmpdir"]  # the engine's temporary answer store goes there
    result = run_engine(cfg) if cfg["kind"] == "engine" else run_peer(cfg)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
