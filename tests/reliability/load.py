"""Load: a long run at high concurrency (100k rows, 64 requests in flight) through ``python -m localdss``, with the
recipe process's resident memory sampled every 0.2 s. Memory must stay flat (what it holds at the end is within a
margin of what it held once the run was warm) and the counts must be right: every row out, in order, with its own
answer, one request per distinct row (one per batch for embeddings)."""
from __future__ import annotations

import os
from pathlib import Path

from tests.reliability import harness as h

CONCURRENCY = 64
FLAT_MARGIN_MB = 40.0  # allowed RSS growth from a quarter of the run to its end


def run_load(recipe: str, rows: int, work: Path, scheme: str = "bearer") -> dict:
    work.mkdir(parents=True, exist_ok=True)
    source = h.write_numbered_csv(work / "in.csv", rows, tag="load")
    batch = 1 if recipe == "prompt" else 32
    config = h.recipe_config(recipe, **({"batch_size": batch} if recipe == "embed" else {}))
    load_before = os.getloadavg()[0]
    with h.fault_server(record=False) as server:
        preset = h.preset_for(server, scheme, max_concurrency=CONCURRENCY)
        result = h.run_recipe(recipe, work, config, preset, source, sample_rss=True, server=server, timeout=1800)
        calls = server.calls
    figures = h.count_outcome_streaming(recipe, rows, result.output, tag="load").as_dict()
    samples = result.rss_samples
    expected_calls = _expected_calls(rows, batch)
    memory = _memory(samples, expected_calls)
    engine_s = result.engine_seconds()
    problems = []
    if result.returncode != 0:
        problems.append(f"the job failed: {result.error}")
    if figures["lost"] or figures["wrong"] or figures["answered"] != rows:
        problems.append(f"counts: {figures}")
    if calls != expected_calls:
        problems.append(f"{calls} HTTP calls, expected {expected_calls}")
    if memory["growth_mb"] is None or memory["growth_mb"] > FLAT_MARGIN_MB:
        problems.append(f"memory grew by {memory['growth_mb']} MB after warm-up (limit {FLAT_MARGIN_MB})")
    return {"recipe": recipe, "rows": rows, "concurrency": CONCURRENCY, "batch_size": batch, "http_calls": calls,
            "expected_calls": expected_calls, "job_s": round(result.seconds, 1), "engine_s": engine_s,
            "rows_per_s": round(rows / engine_s, 1) if engine_s else None, "load_average": round(load_before, 1),
            "summary": result.summary(), "outcome": figures, "memory": memory, "problems": problems}


def _expected_calls(rows: int, batch: int) -> int:
    """One request per row, or per batch: the recipe reads its input in chunks of 1000 rows (4 x the concurrency
    when that is more) and batches texts within a chunk."""
    chunk = max(1000, 4 * CONCURRENCY)
    full, rest = divmod(rows, chunk)
    return full * -(-chunk // batch) + -(-rest // batch)


def _memory(samples: list[tuple[float, int, int]], expected_calls: int) -> dict:
    """RSS at points of progress (by server calls), the peak, and the growth from a quarter of the run to its end."""
    if not samples:
        return {"samples": 0, "growth_mb": None}
    mb = 1024 * 1024

    def at(fraction: float) -> float:
        target = expected_calls * fraction
        for _, rss, calls in samples:
            if calls >= target:
                return round(rss / mb, 1)
        return round(samples[-1][1] / mb, 1)

    warm = at(0.25)
    step = max(1, len(samples) // 40)
    end = round(max(rss for _, rss, calls in samples if calls >= expected_calls * 0.9) / mb, 1) \
        if any(calls >= expected_calls * 0.9 for _, _, calls in samples) else round(samples[-1][1] / mb, 1)
    return {"samples": len(samples), "rss_mb_at_10pct": at(0.10), "rss_mb_at_25pct": warm,
            "rss_mb_at_50pct": at(0.50), "rss_mb_at_75pct": at(0.75), "rss_mb_at_end": end,
            "peak_mb": round(max(rss for _, rss, _ in samples) / mb, 1), "growth_mb": round(end - warm, 1),
            "curve": [[round(t, 1), round(rss / mb, 1), calls] for t, rss, calls in samples[::step]]}


HEADER = ["recipe", "rows", "concurrency", "HTTP calls", "answered", "lost", "rows/s", "RSS 10%", "RSS 50%",
          "RSS end", "peak", "growth", "check"]


def as_row(r: dict) -> list:
    m = r["memory"]
    return [r["recipe"], r["rows"], r["concurrency"], r["http_calls"], r["outcome"]["answered"], r["outcome"]["lost"],
            r["rows_per_s"], m.get("rss_mb_at_10pct"), m.get("rss_mb_at_50pct"), m.get("rss_mb_at_end"),
            m.get("peak_mb"), m.get("growth_mb"), "; ".join(r["problems"]) or "ok"]
