"""``make bench``: the row engine against a latency-configurable OpenAI-compatible server.

Measures, through the real RowEngine + PromptTask + Client, each in a fresh process, against the fault
server running in a process of its own:

1. rows/s at concurrency 32 and 200 ms latency, against the ideal min(concurrency / latency, rate limit);
2. the same with an RPM limit in the preset below the server's (3000 < 3600): rows/s and 429s;
3. client CPU per 1000 rows, against a zero-latency server (so the figure isn't idle time);
4. peak RSS at 10k, 100k and 1M rows (one fresh process per size);
5. HTTP calls per row;
6. a peer: the official ``openai`` SDK's ``AsyncOpenAI`` with an ``asyncio.Semaphore``, same rows, same server.

Prints a table, writes ``bench/results/latest.json`` and ``bench/results/latest.png``.
``--quick`` runs smaller sizes (a couple of minutes). By default the largest memory size is run only when
the whole bench is estimated to finish within ``--budget-min`` minutes; ``--full`` runs it regardless.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Optional

import psutil
from child import run_script
from report import plot, table
from servers import ROOT, ServerProcess

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads.py")

CONCURRENCY = 32
LATENCY_MS = 200.0
PRESET_RPM = 3000
SERVER_RPM = 3600
MEMORY_CONCURRENCY = 64
CPU_TARGET_MS_PER_ROW = 0.5
MEMORY_TARGET_MB = 100.0
THROUGHPUT_TARGET_PCT = 95.0
# 6: CPU per Client.chat call, 16 threads against a 5 ms server (issue 12: the bare urllib3 pool measured
# 0.50 ms on the reference machine; the target leaves the client 10% above it)
REFERENCE_URLLIB3_MS = 0.50
CPU_PER_CALL_TARGET_MS = 0.55
# the same target on any machine: the client's CPU per call over the bare urllib3 pool's, measured in the same run
CPU_PER_CALL_TARGET_RATIO = CPU_PER_CALL_TARGET_MS / REFERENCE_URLLIB3_MS
PER_CALL = dict(calls=4000, threads=16, latency_ms=5.0, repeats=3)

SIZES = {
    #          throughput  rpm   cpu     peer cpu  profile  memory
    "standard": dict(thr=4800, rpm=1500, cpu=20000, peer_cpu=3000, profile=3000,
                 memory=[10_000, 100_000, 1_000_000]),
    "quick": dict(thr=1600, rpm=500, cpu=5000, peer_cpu=1000, profile=1500, memory=[2_000, 10_000, 40_000]),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_child(cfg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Runs one workload in a fresh process; returns its RESULT."""
    return run_script([WORKLOADS, json.dumps(cfg)], f"workload {cfg.get('kind')}", timeout_s)


def measure(kind: str, rows: int, *, latency_ms: float = 0.0, server_rpm: Optional[float] = None,
            concurrency: int = CONCURRENCY, **extra: Any) -> dict[str, Any]:
    """One workload against a fresh server; adds what the server saw (calls, 429s, its CPU)."""
    with ServerProcess(latency_ms=latency_ms, rpm_limit=server_rpm) as server:
        cfg = dict(kind=kind, url=server.url, rows=rows, concurrency=concurrency, **extra)
        cpu_before = server.cpu_seconds()
        result = run_child(cfg, timeout_s=180 + rows / 50.0)
        server_cpu = server.cpu_seconds() - cpu_before
        seen = server.stop()
    calls = seen.get("calls")
    result["server"] = {
        "latency_ms": latency_ms, "rpm_limit": server_rpm, "cpu_s": round(server_cpu, 3),
        "calls_total": calls, "injected": seen.get("injected", {}),
        # the measured run's calls, as the server counted them (warm-up calls taken off)
        "calls": None if calls is None else calls - int(result.get("warmup_http_calls") or 0),
    }
    return result


def pct(value: float, ideal: float) -> float:
    return round(100.0 * value / ideal, 1)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=False).stdout.strip())
    import openai

    return {"cpus": psutil.cpu_count(), "cpu_model": model,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform(), "openai_sdk": openai.__version__,
            "commit": commit + ("+dirty" if dirty else "")}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a couple of minutes)")
    parser.add_argument("--full", action="store_true", help="run every memory size, however long it takes")
    parser.add_argument("--budget-min", type=float, default=10.0,
                        help="without --full, skip the memory sizes that would take the bench past this")
    parser.add_argument("--sizes", default="", help="memory sizes, comma-separated (overrides the mode's)")
    parser.add_argument("--no-peer", action="store_true", help="skip the openai SDK peer")
    parser.add_argument("--no-profile", action="store_true", help="don't profile when the CPU target is missed")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="where latest.json/png go")
    args = parser.parse_args(argv)

    sizes = dict(SIZES["quick" if args.quick else "standard"])
    mode = "quick" if args.quick else ("full" if args.full else "standard")
    if args.sizes:
        sizes["memory"] = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    os.makedirs(args.out, exist_ok=True)
    tmpdir = os.path.join(args.out, "tmp")
    started = time.monotonic()
    measures: dict[str, Any] = {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"bench ({mode} mode): fault server and each workload in processes of their own")
    if load_before[0] > (psutil.cpu_count() or 1):
        log(f"note: the machine is busy (load average {load_before[0]:g} on {psutil.cpu_count()} CPUs); "
            "rows/s and latency-bound figures will be pessimistic")

    # 1. throughput at concurrency 32, 200 ms latency, no rate limit
    ideal = CONCURRENCY / (LATENCY_MS / 1000.0)  # no rate limit here
    log(f"1. throughput: {sizes['thr']} rows, concurrency {CONCURRENCY}, {LATENCY_MS:g} ms latency")
    plugin = measure("engine", sizes["thr"], latency_ms=LATENCY_MS, tmpdir=tmpdir)
    log(f"   plugin: {plugin['rows_per_s']} rows/s ({pct(plugin['rows_per_s'], ideal)}% of {ideal:g})")
    peer = None
    if not args.no_peer:
        peer = measure("peer", sizes["thr"], latency_ms=LATENCY_MS)
        log(f"   openai SDK: {peer['rows_per_s']} rows/s ({pct(peer['rows_per_s'], ideal)}% of {ideal:g})")
    measures["throughput"] = {
        "concurrency": CONCURRENCY, "latency_ms": LATENCY_MS, "ideal_rows_per_s": ideal,
        "plugin": plugin, "plugin_pct_of_ideal": pct(plugin["rows_per_s"], ideal),
        "peer": peer, "peer_pct_of_ideal": pct(peer["rows_per_s"], ideal) if peer else None,
    }

    # 2. preset RPM below the server's limit
    ideal_rpm = min(CONCURRENCY / (LATENCY_MS / 1000.0), PRESET_RPM / 60.0)
    log(f"2. rate limited: {sizes['rpm']} rows, preset {PRESET_RPM} RPM, server limit {SERVER_RPM} RPM")
    limited = measure("engine", sizes["rpm"], latency_ms=LATENCY_MS, server_rpm=SERVER_RPM, rpm=PRESET_RPM,
                      tmpdir=tmpdir)
    server_429 = int(limited["server"]["injected"].get("rpm-limit", 0))
    log(f"   plugin: {limited['rows_per_s']} rows/s ({pct(limited['rows_per_s'], ideal_rpm)}% of {ideal_rpm:g}), "
        f"429s: {server_429}")
    measures["rate_limited"] = {
        "preset_rpm": PRESET_RPM, "server_rpm": SERVER_RPM, "concurrency": CONCURRENCY, "latency_ms": LATENCY_MS,
        "ideal_rows_per_s": ideal_rpm, "plugin": limited, "plugin_pct_of_ideal": pct(limited["rows_per_s"], ideal_rpm),
        "server_429": server_429,
    }

    # 3. client CPU against a zero-latency server
    log(f"3. client CPU: {sizes['cpu']} rows, concurrency {CONCURRENCY}, 0 ms latency")
    cpu = measure("engine", sizes["cpu"], tmpdir=tmpdir)
    log(f"   plugin: {cpu['cpu_ms_per_row'] * 1000:.0f} ms CPU per 1000 rows, {cpu['rows_per_s']} rows/s")
    peer_cpu = None
    if not args.no_peer:
        peer_cpu = measure("peer", sizes["peer_cpu"])
        log(f"   openai SDK: {peer_cpu['cpu_ms_per_row'] * 1000:.0f} ms CPU per 1000 rows, "
            f"{peer_cpu['rows_per_s']} rows/s")
    server_calls = cpu["server"]["calls_total"] or 1
    measures["cpu"] = {"concurrency": CONCURRENCY, "plugin": cpu, "peer": peer_cpu,
                       "server_cpu_ms_per_request": round(1000.0 * cpu["server"]["cpu_s"] / server_calls, 3)}
    if cpu["cpu_ms_per_row"] >= CPU_TARGET_MS_PER_ROW and not args.no_profile:
        log(f"   over target: profiling {sizes['profile']} rows (cProfile on thread CPU time)")
        profiled = measure("engine", sizes["profile"], tmpdir=tmpdir, profile=True)
        measures["cpu"]["profile"] = profiled["profile"]

    # 4. peak memory, one fresh process per size; sizes that can't finish in the budget are skipped
    rate = max(cpu["rows_per_s"], 1.0)
    points, skipped = [], []
    for index, rows in enumerate(sorted(sizes["memory"])):
        estimate_s = 10 + rows / rate
        elapsed = time.monotonic() - started
        remaining = sum(10 + r / rate for r in sorted(sizes["memory"])[index:])
        if not args.full and index >= 2 and elapsed + remaining > args.budget_min * 60:
            why = (f"est. {estimate_s / 60:.0f} min at {rate:.0f} rows/s, past the {args.budget_min:g} min "
                   "budget: run with --full")
            log(f"4. memory: {rows:,} rows skipped ({why})")
            skipped.append({"rows": rows, "why": why})
            continue
        log(f"4. memory: {rows:,} rows, concurrency {MEMORY_CONCURRENCY}, 0 ms latency "
            f"(est. {estimate_s / 60:.1f} min)")
        result = measure("engine", rows, concurrency=MEMORY_CONCURRENCY, warmup=MEMORY_CONCURRENCY, tmpdir=tmpdir,
                         sample_every_s=0.5 if rows < 200_000 else 2.0, label=f"memory {rows:,}")
        log(f"   peak RSS {result['peak_rss_mb']} MB, {result['rows_per_s']} rows/s")
        points.append({"rows": rows, "peak_rss_mb": result["peak_rss_mb"], "rows_per_s": result["rows_per_s"],
                       "seconds": result["seconds"], "cpu_ms_per_row": result["cpu_ms_per_row"],
                       "answered": result["answered"], "errors": result["errors"], "order_ok": result["order_ok"],
                       "http_calls": result["http_calls"], "server_calls": result["server"]["calls"],
                       "rss_samples": result["rss_samples"]})
    memory = {"concurrency": MEMORY_CONCURRENCY, "points": points, "skipped": skipped}
    if len(points) >= 2:
        memory.update(from_rows=points[0]["rows"], to_rows=points[-1]["rows"],
                      growth_mb=round(points[-1]["peak_rss_mb"] - points[0]["peak_rss_mb"], 1))
        per_row = memory["growth_mb"] / (points[-1]["rows"] - points[0]["rows"])
        memory["growth_per_1m_rows_mb"] = round(per_row * 1_000_000, 1)
    measures["memory"] = memory
    shutil.rmtree(tmpdir, ignore_errors=True)

    # 5. HTTP calls per row, over every measured run
    engine_runs = [plugin, limited, cpu, *points]
    calls = sum(r["http_calls"] for r in engine_runs)
    rows_total = sum(r["rows"] for r in engine_runs)
    peer_runs = [r for r in (peer, peer_cpu) if r]
    measures["http_calls_per_row"] = {
        "plugin": round(calls / max(rows_total, 1), 4),
        "peer": round(sum(r["http_calls"] for r in peer_runs) / sum(r["rows"] for r in peer_runs), 4)
        if peer_runs else None,
    }

    # 6. client CPU per call: Client.chat beside a bare urllib3 pool (without and with timeouts) and a bare requests
    # session, same server
    from per_call import measure as per_call_measure  # bench/ is on sys.path

    log(f"6. client CPU per call: {PER_CALL['calls']} calls, {PER_CALL['threads']} threads, "
        f"{PER_CALL['latency_ms']:g} ms server, Client.chat / urllib3 (without, with timeouts) / requests, median of "
        f"{PER_CALL['repeats']}")
    per_call = per_call_measure(**PER_CALL)
    per_call["target_ms"] = CPU_PER_CALL_TARGET_MS
    measures["per_call"] = per_call
    chat_ms = per_call["clients"]["chat"]["cpu_ms_per_call"]
    floor_ratio = round(chat_ms / per_call["clients"]["urllib3"]["cpu_ms_per_call"], 3)
    log("   " + ", ".join(f"{name} {figure['cpu_ms_per_call']:.3f} ms" for name, figure in per_call["clients"].items()))

    # Spark: the same engine on each executor through mapInPandas (local[2], a fresh process)
    from spark_bench import measure as spark_measure  # bench/ is on sys.path

    measures["spark"] = spark_measure(rows=1000 if args.quick else 4000)
    print(f"Spark (local[2]): {measures['spark']['rows_per_s']:.0f} rows/s, "
          f"{measures['spark']['pct_of_ideal']:.0f}% of the ideal", flush=True)

    growth = memory.get("growth_mb")
    targets = {
        "throughput": {"target": f">= {THROUGHPUT_TARGET_PCT:g}% of ideal",
                       "value": measures["throughput"]["plugin_pct_of_ideal"],
                       "met": measures["throughput"]["plugin_pct_of_ideal"] >= THROUGHPUT_TARGET_PCT},
        "rate_limited_throughput": {"target": f">= {THROUGHPUT_TARGET_PCT:g}% of ideal",
                                    "value": measures["rate_limited"]["plugin_pct_of_ideal"],
                                    "met": measures["rate_limited"]["plugin_pct_of_ideal"] >= THROUGHPUT_TARGET_PCT},
        "zero_429": {"target": "0", "value": server_429 + limited["rate_limited"],
                     "met": server_429 == 0 and limited["rate_limited"] == 0},
        "cpu": {"target": f"< {CPU_TARGET_MS_PER_ROW * 1000:g} ms per 1000 rows",
                "value": round(cpu["cpu_ms_per_row"] * 1000, 1), "met": cpu["cpu_ms_per_row"] < CPU_TARGET_MS_PER_ROW},
        "memory": {"target": f"< {MEMORY_TARGET_MB:g} MB growth from 10k to 1M rows", "value": growth,
                   # measured short of 1M rows, a pass is not a pass; a miss already is a miss
                   "met": None if growth is None else (False if growth >= MEMORY_TARGET_MB else (
                       True if memory["to_rows"] >= 1_000_000 else None))},
        "cpu_per_call": {"target": f"<= {CPU_PER_CALL_TARGET_MS:g} ms per Client.chat call", "value": chat_ms,
                         "met": chat_ms <= CPU_PER_CALL_TARGET_MS},
        "cpu_per_call_over_urllib3": {"target": f"<= {CPU_PER_CALL_TARGET_RATIO:.2f} x the bare urllib3 pool's",
                                      "value": floor_ratio, "met": floor_ratio <= CPU_PER_CALL_TARGET_RATIO},
        "http_calls": {"target": "1 per row", "value": measures["http_calls_per_row"]["plugin"],
                       "met": measures["http_calls_per_row"]["plugin"] <= 1.0},
    }
    results = {
        "title": f"openai-compatible bench, {mode} mode, {datetime.date.today().isoformat()}",
        "mode": mode, "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1), "machine": machine(),
        # other work on the machine slows latency-bound figures: the 1, 5, 15 min load averages
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "measures": measures,
        "targets": targets,
    }
    with open(os.path.join(args.out, "latest.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
        handle.write("\n")
    plot(results, os.path.join(args.out, "latest.png"))
    print()
    print(results["title"])
    info = results["machine"]
    print(f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, openai {info['openai_sdk']}, "
          f"commit {info['commit']}; {results['seconds'] / 60:.1f} min; load average "
          f"{results['load_average']['before'][0]:g} before, {results['load_average']['after'][0]:g} after")
    print()
    print(table(results))
    profile = measures["cpu"].get("profile")
    if profile:
        print()
        print("where the plugin's CPU goes (cProfile, thread CPU time; shares of the profiled total):")
        for name, share in profile["by_package"][:10]:
            print(f"  {share:5.1f}%  {name}")
    print()
    print(f"wrote {os.path.relpath(os.path.join(args.out, 'latest.json'))} and latest.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
