"""``make bench`` (scale part): automatic concurrency against fixed settings, and several processes on one provider.

1. A provider with a capacity the client is not told (``bench/capacity_server.py``: ``CAPACITY`` requests
   at ``LATENCY_MS``), of both kinds: one that refuses beyond it (429), one that queues beyond it. For each,
   the row engine runs with ``max_concurrency`` 0 (automatic) and fixed at 8, 32 and 64; the ideal is
   capacity / latency rows per second. The automatic setting runs ``--repeats`` times and its row is the
   median run, with the range of all: it reads what it observes, so a stall of a busy machine at an unlucky
   moment (slow start's end) moves one 10 s run by up to a tenth, where a fixed setting moves by a hundredth.
   Figures: throughput / ideal over the whole run and in its steady state (from 1 s after the first request
   until 95% of the rows are served), the ramp-up cost (seconds of steady throughput the first second lacked),
   refusals % of HTTP calls (as the server counted them), the p50 time a request spent in the server (its
   queue included: what a queueing server's latency target is about) and the p50 row latency (the client's:
   from its first request to its answer, retries included), rows lost (rows without an answer).
2. Three recipe processes at once against a provider limited to ``RPM`` requests per minute, each preset
   saying ``RPM``: combined throughput / RPM, 429s % of calls, rows lost.

Each run is a fresh client process (``bench/workloads.py``) against a fresh server process. Prints a table,
writes ``bench/results/scale.json`` and ``bench/results/scale.png``. Runs take a few seconds each.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

from run import WORKLOADS, log, machine, run_child
from servers import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
CAPACITY_SERVER = os.path.join(HERE, "capacity_server.py")
CAPACITY = 48
LATENCY_MS = 100.0
SETTINGS = [0, 8, 32, 64]  # 0: automatic
RPM = 6000
PROCESSES = 3
# auto_queue_latency: the p50 time in a queueing server, as a multiple of its unloaded latency (the controller's
# tolerance, README "Automatic concurrency")
TARGETS = {"auto_throughput": 0.9, "auto_refusals_pct": 2.0, "auto_queue_latency": 1.25, "shared_throughput": 0.85,
           "shared_429_pct": 10.0}
_SUMMARY = re.compile(r"calls=(\d+) refused=(\d+) served=(\d+) peak_busy=(\d+)(?: p50_ms=([\d.]+) bins=([\d,]*))?")
BIN_S = 0.1  # the capacity server counts served requests per 100 ms


class CapacityServer:
    """``bench/capacity_server.py`` in a process of its own; ``stop()`` returns what it counted."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.url = ""
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Any = None

    def __enter__(self) -> CapacityServer:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen([sys.executable, CAPACITY_SERVER, *self.args], stdout=subprocess.PIPE,
                                      stderr=self._stderr, text=True)
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 30)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the capacity server did not start: {line!r}")
        self.url = line.split()[1]
        return self

    def stop(self) -> dict[str, Any]:
        if self._proc is None:
            return {}
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.seek(0)
        match = _SUMMARY.search(self._stderr.read())
        self._stderr.close()
        self._proc = None
        if not match:
            return {}
        seen: dict[str, Any] = dict(zip(("calls", "refused", "served", "peak_busy"), map(int, match.groups()[:4])))
        if match.group(5) is not None:
            seen["p50_ms"] = float(match.group(5))
            seen["bins"] = [int(n) for n in match.group(6).split(",") if n]
        return seen

    def __exit__(self, *exc: object) -> None:
        self.stop()


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(ROOT, "python-lib"), ROOT, out.get("PYTHONPATH", ""))
                                        if p)
    return out


def steady_state(bins: list[int], rows: int) -> tuple[Optional[float], Optional[float]]:
    """(rows/s from 1 s after the first request until 95% of the rows were served, seconds the first second
    lacked at that rate), from the server's per-100 ms counts; (None, None) for a run too short to tell."""
    skip = int(round(1.0 / BIN_S))
    total, end = 0, None
    for index, count in enumerate(bins):
        total += count
        if total >= 0.95 * rows:
            end = index
            break
    if end is None or end - skip < 5:
        return None, None
    rate = sum(bins[skip:end]) / ((end - skip) * BIN_S)
    return round(rate, 1), round(1.0 - sum(bins[:skip]) / rate, 2)


def capacity_run(mode: str, setting: int, rows: int, tmpdir: str) -> dict[str, Any]:
    with CapacityServer("--mode", mode, "--capacity", str(CAPACITY), "--latency-ms", f"{LATENCY_MS:g}") as server:
        result = run_child(dict(kind="engine", url=server.url, rows=rows, concurrency=setting, warmup=0,
                                tmpdir=tmpdir, sample_every_s=3600), timeout_s=300)
        seen = server.stop()
    ideal = CAPACITY / (LATENCY_MS / 1000.0)
    calls = max(seen.get("calls", 0), 1)
    steady, ramp_up = steady_state(seen.pop("bins", []), result["rows"])
    return {
        "mode": mode, "setting": "auto" if setting == 0 else setting, "rows": result["rows"],
        "seconds": result["seconds"], "rows_per_s": result["rows_per_s"],
        "of_capacity": round(result["rows_per_s"] / ideal, 3),
        "steady_rows_per_s": steady, "steady_of_capacity": round(steady / ideal, 3) if steady else None,
        "ramp_up_s_lost": ramp_up,
        "refusals_pct": round(100.0 * seen.get("refused", 0) / calls, 2),
        "server_p50_ms": seen.get("p50_ms"),
        "p50_ms": result.get("latency_p50_ms"), "rows_lost": result["rows"] - result["answered"],
        "order_ok": result["order_ok"], "concurrency": result.get("concurrency"),
        "concurrency_final": result.get("concurrency_final"), "concurrency_peak": result.get("concurrency_peak"),
        "server": seen, "errors": result["errors"],
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput, with every run's figures under ``repeats`` (when there are several) and
    the rows lost summed over all of them: a row lost in any run is a row lost."""
    if len(runs) == 1:
        return runs[0]
    ranked = sorted(runs, key=lambda run: run["of_capacity"])
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["repeats"] = [{k: run.get(k) for k in ("of_capacity", "steady_of_capacity", "ramp_up_s_lost",
                                                   "refusals_pct", "server_p50_ms", "rows_lost")} for run in runs]
    median["rows_lost"] = sum(run["rows_lost"] for run in runs)
    return median


def shared_run(rows_each: int, setting: int, tmpdir: str) -> dict[str, Any]:
    """``PROCESSES`` engine processes started together, each with a preset saying ``RPM``."""
    with CapacityServer("--rpm", f"{RPM:g}", "--latency-ms", f"{LATENCY_MS:g}") as server:
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, WORKLOADS, json.dumps(dict(
            kind="engine", url=server.url, rows=rows_each, concurrency=setting, rpm=RPM, warmup=0, tmpdir=tmpdir,
            sample_every_s=3600))], stdout=subprocess.PIPE, text=True, env=env()) for _ in range(PROCESSES)]
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"a shared-provider process failed (exit {proc.returncode}): {out[-2000:]}")
            results.append(json.loads(lines[-1][len("RESULT "):]))
        wall = time.monotonic() - started
        seen = server.stop()
    rows = sum(r["rows"] for r in results)
    # throughput over the span during which all the processes ran (the first to finish ends it would favour
    # none; the sum of each process's rows over the longest run is what the provider served)
    span = max(r["seconds"] for r in results)
    calls = max(seen.get("calls", 0), 1)
    return {
        "processes": PROCESSES, "rpm": RPM, "setting": "auto" if setting == 0 else setting, "rows": rows,
        "seconds": round(span, 2), "wall_with_startup_s": round(wall, 2),
        "rows_per_s": round(rows / span, 2), "of_rpm": round(rows / span / (RPM / 60.0), 3),
        "rate_limited_pct": round(100.0 * seen.get("refused", 0) / calls, 2),
        "rows_lost": rows - sum(r["answered"] for r in results),
        "order_ok": all(r["order_ok"] for r in results), "server": seen,
        "per_process": [{k: r[k] for k in ("rows", "seconds", "rows_per_s", "rate_limited", "retries",
                                           "concurrency", "trace")} for r in results],
    }


def shared_targets(shared: dict[str, Any]) -> dict[str, Any]:
    return {
        "shared throughput": {"target": f">= {TARGETS['shared_throughput']:g}", "value": shared["of_rpm"],
                              "met": shared["of_rpm"] >= TARGETS["shared_throughput"]},
        "shared 429s %": {"target": f"< {TARGETS['shared_429_pct']:g}", "value": shared["rate_limited_pct"],
                          "met": shared["rate_limited_pct"] < TARGETS["shared_429_pct"]},
        "shared rows lost": {"target": "0", "value": shared["rows_lost"], "met": shared["rows_lost"] == 0},
    }


def table(results: dict[str, Any]) -> str:
    ideal = CAPACITY / (LATENCY_MS / 1000.0)

    def number(value: Optional[float], form: str) -> str:
        return "-" if value is None else format(value, form)

    repeats = max((len(run.get("repeats") or []) for run in results["capacity"]), default=1)
    lines = [f"1. capacity {CAPACITY} requests at {LATENCY_MS:g} ms, not told to the client: ideal {ideal:g} rows/s; "
             f"runs of about {results.get('run_seconds', 4.0):g} s at ideal; auto: the median of {repeats} runs",
             "   steady: from 1 s after the first request to 95% of the rows; ramp: seconds of steady throughput the "
             "first second lacked;",
             "   srv p50: time in the server, its queue included; row p50: the client's, from a row's first request "
             "to its answer",
             f"{'server':<7} {'conc.':<6} {'rows/s':>7} {'/ideal':>7} {'steady':>7} {'ramp s':>7} {'refused':>8} "
             f"{'srv p50':>8} {'row p50':>8} {'lost':>5}  limit at the end (peak)"]
    for run in results["capacity"]:
        limit = f"{run['concurrency_final']} ({run['concurrency_peak']})" if run["setting"] == "auto" else ""
        lines.append(f"{run['mode']:<7} {str(run['setting']):<6} {run['rows_per_s']:>7.1f} "
                     f"{run['of_capacity']:>7.2f} {number(run.get('steady_of_capacity'), '.2f'):>7} "
                     f"{number(run.get('ramp_up_s_lost'), '.2f'):>7} {run['refusals_pct']:>7.2f}% "
                     f"{number(run.get('server_p50_ms'), '.1f'):>8} {run['p50_ms'] or 0:>8.1f} "
                     f"{run['rows_lost']:>5}  {limit}")
    lines.append(f"{'ideal':<7} {'-':<6} {ideal:>7.1f} {1.0:>7.2f} {1.0:>7.2f} {0.0:>7.2f} {0.0:>7.2f}% "
                 f"{LATENCY_MS:>8.1f} {LATENCY_MS:>8.1f} {0:>5}")
    for run in results["capacity"]:
        if len(run.get("repeats") or []) > 1:
            each = run["repeats"]
            lines.append(f"   auto at the {'refusing' if run['mode'] == 'refuse' else 'queueing'} server, each run: "
                         f"/ideal {', '.join(format(r['of_capacity'], '.2f') for r in each)}; srv p50 "
                         f"{', '.join(number(r.get('server_p50_ms'), '.0f') for r in each)} ms")
    shared = results.get("shared")
    if shared:
        lines += ["", f"2. {shared['processes']} processes at once, provider limited to {shared['rpm']} requests/min, "
                      f"each preset saying {shared['rpm']}, concurrency {shared['setting']}",
                  f"   combined {shared['rows_per_s']:.1f} rows/s = {shared['of_rpm']:.2f} of the limit, "
                  f"429s {shared['rate_limited_pct']:.2f}% of calls, rows lost {shared['rows_lost']}"]
    lines += ["", "targets:"]
    for name, target in results["targets"].items():
        lines.append(f"  {name:<22} {target['target']:<10} measured {target['value']}  "
                     f"{'met' if target['met'] else 'NOT met'}")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, ("refuse", "queue")):
        runs = [r for r in results["capacity"] if r["mode"] == mode]
        names = [str(r["setting"]) for r in runs] + ["ideal"]
        values = [r["of_capacity"] for r in runs] + [1.0]
        bars = ax.bar(names, values, color=["tab:green"] + ["tab:blue"] * (len(runs) - 1) + ["tab:gray"])
        for bar, run in zip(bars, runs):
            each = [r["of_capacity"] for r in run.get("repeats") or []]
            if len(each) > 1:  # the range of the automatic setting's runs around their median
                middle = bar.get_x() + bar.get_width() / 2
                ax.errorbar([middle], [run["of_capacity"]], yerr=[[run["of_capacity"] - min(each)],
                                                                   [max(each) - run["of_capacity"]]],
                            color="black", capsize=4)
            ax.annotate(f"{run['refusals_pct']:.1f}% 429\nsrv p50 {run.get('server_p50_ms') or 0:.0f} ms",
                        (bar.get_x() + bar.get_width() / 2, max([bar.get_height(), *each])), ha="center",
                        va="bottom", fontsize=7)
        ax.set_ylim(0, 1.3)
        ax.set_title(f"server that {'refuses' if mode == 'refuse' else 'queues'} beyond {CAPACITY}")
        ax.set_xlabel("max_concurrency (auto = 0)")
        ax.set_ylabel("throughput / capacity")
    fig.suptitle(results["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[list[str]] = None) -> int:
    global LATENCY_MS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 10 s: a recipe runs minutes to hours, and in a shorter run the process start and the last round trip,
    # which no setting avoids, weigh more than the concurrency the bench compares
    parser.add_argument("--seconds", type=float, default=10.0, help="about how long each capacity run lasts at ideal")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS,
                        help="the capacity server's latency: a longer one asks less client CPU of a busy machine")
    parser.add_argument("--settings", default=",".join(map(str, SETTINGS)),
                        help="the max_concurrency values to run, comma-separated (0: automatic, which is required)")
    parser.add_argument("--no-shared", action="store_true", help="skip part 2 (several processes on one provider)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the automatic setting at each server; its row is the median run")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    settings = [int(x) for x in args.settings.split(",")]
    if 0 not in settings:
        parser.error("--settings must include 0 (automatic): the other settings are its reference")
    LATENCY_MS = args.latency_ms
    os.makedirs(args.out, exist_ok=True)
    tmpdir = os.path.join(args.out, "tmp-scale")
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    ideal = CAPACITY / (LATENCY_MS / 1000.0)
    capacity = []
    for mode in ("refuse", "queue"):
        for setting in settings:
            # fixed 8 serves a sixth of the capacity: fewer rows keep that run as short as the others
            rate = ideal if not setting else min(ideal, setting / (LATENCY_MS / 1000.0))
            rows = max(200, int(rate * args.seconds))
            runs = []
            for _ in range(1 if setting else max(1, args.repeats)):
                log(f"scale 1: {mode} server, concurrency {setting or 'auto'}, {rows} rows")
                run = capacity_run(mode, setting, rows, tmpdir)
                log(f"   {run['rows_per_s']} rows/s ({run['of_capacity']:.2f} of capacity), {run['refusals_pct']}% "
                    f"refused, p50 {run['p50_ms']} ms, {run['rows_lost']} lost, concurrency {run['concurrency']}")
                runs.append(run)
            capacity.append(median_run(runs))
    shared: Optional[dict[str, Any]] = None
    if not args.no_shared:
        rows_each = int(RPM / 60.0 * args.seconds * 4 / PROCESSES)  # longer: the first second is the overload
        log(f"scale 2: {PROCESSES} processes x {rows_each} rows, provider and presets at {RPM} requests/min")
        shared = shared_run(rows_each, 0, tmpdir)
        log(f"   {shared['of_rpm']:.2f} of the limit, {shared['rate_limited_pct']}% 429s, {shared['rows_lost']} lost")
    auto = {r["mode"]: r for r in capacity if r["setting"] == "auto"}
    targets = {
        f"auto {mode} throughput": {"target": f">= {TARGETS['auto_throughput']:g}", "value": auto[mode]["of_capacity"],
                                    "met": auto[mode]["of_capacity"] >= TARGETS["auto_throughput"]}
        for mode in ("refuse", "queue")}
    targets["auto refuse 429s %"] = {"target": f"< {TARGETS['auto_refusals_pct']:g}",
                                     "value": auto["refuse"]["refusals_pct"],
                                     "met": auto["refuse"]["refusals_pct"] < TARGETS["auto_refusals_pct"]}
    targets["auto rows lost"] = {"target": "0", "value": sum(r["rows_lost"] for r in auto.values()),
                                 "met": all(r["rows_lost"] == 0 for r in auto.values())}
    queued = auto["queue"].get("server_p50_ms")
    targets["auto queue srv p50 ms"] = {"target": f"<= {TARGETS['auto_queue_latency'] * LATENCY_MS:g}",
                                        "value": queued,
                                        "met": queued is not None
                                        and queued <= TARGETS["auto_queue_latency"] * LATENCY_MS}
    if shared:
        targets.update(shared_targets(shared))
    results = {
        "title": f"openai-compatible scale bench, {datetime.date.today().isoformat()}",
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1), "machine": machine(),
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "capacity_server": {"capacity": CAPACITY, "latency_ms": LATENCY_MS}, "run_seconds": args.seconds,
        "capacity": capacity, "shared": shared, "targets": targets,
    }
    with open(os.path.join(args.out, "scale.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
        handle.write("\n")
    plot(results, os.path.join(args.out, "scale.png"))
    print()
    print(results["title"])
    print(f"load average {load_before[0]:g} before, {results['load_average']['after'][0]:g} after; "
          f"{results['seconds'] / 60:.1f} min")
    print()
    print(table(results))
    print(f"\nwrote {os.path.relpath(os.path.join(args.out, 'scale.json'))} and scale.png")
    import shutil

    shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
