"""The results of a bench run as a plain-text table and a PNG plot."""
from __future__ import annotations

from typing import Any, Optional


def _fmt(value: Optional[float], digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _met(flag: Optional[bool]) -> str:
    return {True: "yes", False: "NO", None: "-"}[flag]


def table(results: dict[str, Any]) -> str:
    """The headline figures, one line each: measure, plugin, peer, ideal or target, met."""
    m = results["measures"]
    t = results["targets"]
    lines: list[tuple[str, str, str, str, str]] = [("measure", "plugin", "peer (the openai SDK)", "ideal / target",
                                                    "met")]
    thr = m.get("throughput")
    if thr:
        peer = thr.get("peer") or {}
        lines.append((f"1. rows/s, concurrency {thr['concurrency']}, {thr['latency_ms']:g} ms latency",
                      f"{_fmt(thr['plugin']['rows_per_s'])} ({_fmt(thr['plugin_pct_of_ideal'])}%)",
                      f"{_fmt(peer.get('rows_per_s'))} ({_fmt(thr.get('peer_pct_of_ideal'))}%)" if peer else "-",
                      f"{_fmt(thr['ideal_rows_per_s'])} (>= 95%)", _met(t["throughput"]["met"])))
    rpm = m.get("rate_limited")
    if rpm:
        lines.append((f"2. rows/s, preset {rpm['preset_rpm']} RPM < server {rpm['server_rpm']} RPM",
                      f"{_fmt(rpm['plugin']['rows_per_s'])} ({_fmt(rpm['plugin_pct_of_ideal'])}%)", "-",
                      f"{_fmt(rpm['ideal_rows_per_s'])} (>= 95%)", _met(t["rate_limited_throughput"]["met"])))
        lines.append(("   429 answers (server count / client count)",
                      f"{rpm['server_429']} / {rpm['plugin']['rate_limited']}", "-", "0",
                      _met(t["zero_429"]["met"])))
    cpu = m.get("cpu")
    if cpu:
        peer = cpu.get("peer") or {}
        lines.append(("3. client CPU per 1000 rows (0 ms latency)",
                      f"{_fmt(cpu['plugin']['cpu_ms_per_row'] * 1000, 0)} ms",
                      f"{_fmt(peer['cpu_ms_per_row'] * 1000, 0)} ms" if peer else "-", "< 500 ms",
                      _met(t["cpu"]["met"])))
        lines.append(("   rows/s at 0 ms latency (client-bound)", _fmt(cpu["plugin"]["rows_per_s"]),
                      _fmt(peer.get("rows_per_s")) if peer else "-",
                      f"server CPU {_fmt(cpu['server_cpu_ms_per_request'], 2)} ms/req", ""))
    mem = m.get("memory")
    if mem:
        for point in mem["points"]:
            lines.append((f"4. peak RSS, {point['rows']:,} rows", f"{_fmt(point['peak_rss_mb'])} MB", "-", "",
                          ""))
        for skipped in mem.get("skipped", []):
            lines.append((f"4. peak RSS, {skipped['rows']:,} rows", "skipped", "-", skipped["why"], ""))
        lines.append((f"   growth {mem['from_rows']:,} -> {mem['to_rows']:,} rows",
                      f"{_fmt(mem['growth_mb'])} MB", "-", "< 100 MB", _met(t["memory"]["met"])))
    calls = m.get("http_calls_per_row")
    if calls:
        lines.append(("5. HTTP calls per row", _fmt(calls["plugin"], 3),
                      _fmt(calls.get("peer"), 3) if calls.get("peer") is not None else "-", "1.000",
                      _met(t["http_calls"]["met"])))
    per_call = m.get("per_call")
    if per_call:
        figures = per_call["clients"]
        chat = figures.get("chat", {}).get("cpu_ms_per_call")
        floor = figures.get("urllib3", {}).get("cpu_ms_per_call")
        lines.append((f"6. client CPU per call, Client.chat ({per_call['threads']} threads, "
                      f"{per_call['latency_ms']:g} ms server)", _fmt(chat, 3, " ms"), "-",
                      t.get("cpu_per_call", {}).get("target", "").replace(" per Client.chat call", ""),
                      _met(t.get("cpu_per_call", {}).get("met"))))
        lines.append(("   bare urllib3 pool / bare requests (same run, same server)",
                      f"{_fmt(floor, 3)} / {_fmt(figures.get('requests', {}).get('cpu_ms_per_call'), 3)} ms", "-",
                      f"Client.chat = {chat / floor:.2f} x urllib3" if chat and floor else "",
                      _met(t.get("cpu_per_call_over_urllib3", {}).get("met"))))
        timed = figures.get("urllib3-timeouts", {}).get("cpu_ms_per_call")
        if timed:
            lines.append(("   urllib3 pool with the client's timeouts (a poll() per send and receive)",
                          f"{_fmt(timed, 3)} ms", "-", f"Client.chat = {chat / timed:.2f} x it" if chat else "", ""))
    widths = [max(len(row[i]) for row in lines) for i in range(5)]
    out = []
    for number, row in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if number == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def plot(results: dict[str, Any], path: str) -> None:
    """Four panels: rows/s against the ideal, CPU per 1000 rows, peak memory against rows, CPU per call."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = results["measures"]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))

    ax = axes[0]
    labels, values, ideals, colors = [], [], [], []
    thr = m.get("throughput")
    if thr:
        labels.append(f"plugin\nconc {thr['concurrency']}, {thr['latency_ms']:g} ms")
        values.append(thr["plugin"]["rows_per_s"])
        ideals.append(thr["ideal_rows_per_s"])
        colors.append("tab:blue")
        if thr.get("peer"):
            labels.append(f"openai SDK\nconc {thr['concurrency']}, {thr['latency_ms']:g} ms")
            values.append(thr["peer"]["rows_per_s"])
            ideals.append(thr["ideal_rows_per_s"])
            colors.append("tab:orange")
    rpm = m.get("rate_limited")
    if rpm:
        labels.append(f"plugin, preset {rpm['preset_rpm']} RPM\n(server {rpm['server_rpm']} RPM)")
        values.append(rpm["plugin"]["rows_per_s"])
        ideals.append(rpm["ideal_rows_per_s"])
        colors.append("tab:blue")
    positions = list(range(len(labels)))
    ax.bar(positions, values, color=colors, width=0.6)
    for x, value, ideal in zip(positions, values, ideals):
        ax.hlines(ideal, x - 0.4, x + 0.4, colors="black", linestyles="dashed")
        ax.text(x, max(value, ideal) * 1.02, f"{value:.0f}\n({100.0 * value / ideal:.0f}% of ideal)", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_ylabel("rows per second")
    ax.set_ylim(0, max(ideals + values + [1]) * 1.3)
    ax.set_title("Throughput (dashed: ideal)")

    ax = axes[1]
    cpu = m.get("cpu")
    if cpu:
        names = ["plugin"] + (["openai SDK"] if cpu.get("peer") else [])
        per_1000 = [cpu["plugin"]["cpu_ms_per_row"] * 1000] + (
            [cpu["peer"]["cpu_ms_per_row"] * 1000] if cpu.get("peer") else [])
        ax.bar(names, per_1000, color=["tab:blue", "tab:orange"][:len(names)], width=0.5)
        ax.axhline(500, color="black", linestyle="dashed", label="target: 500 ms")
        for x, value in enumerate(per_1000):
            ax.text(x, value, f"{value:.0f} ms", ha="center", va="bottom", fontsize=8)
        ax.legend(fontsize=8)
    ax.set_ylabel("client CPU ms per 1000 rows")
    ax.set_title("Client CPU (0 ms server latency)")

    ax = axes[2]
    mem = m.get("memory")
    if mem and mem["points"]:
        rows = [p["rows"] for p in mem["points"]]
        peaks = [p["peak_rss_mb"] for p in mem["points"]]
        ax.plot(rows, peaks, "o-", color="tab:blue", label="peak RSS")
        largest = mem["points"][-1]
        trace = [(n, mb) for n, mb in largest.get("rss_samples", []) if n > 0]
        if trace:
            ax.plot([n for n, _ in trace], [mb for _, mb in trace], color="tab:green", linewidth=0.8,
                    label=f"RSS during the {largest['rows']:,}-row run")
        ax.axhline(peaks[0] + 100, color="black", linestyle="dashed", label="target: smallest + 100 MB")
        ax.set_xscale("log")
        ax.set_ylim(0, max(peaks + [peaks[0] + 100]) * 1.2)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("rows")
    ax.set_ylabel("MB")
    ax.set_title("Client memory")
    ax = axes[3]
    per_call = m.get("per_call")
    if per_call:
        names = list(per_call["clients"])
        values = [per_call["clients"][name]["cpu_ms_per_call"] for name in names]
        labels = {"chat": "Client.chat", "urllib3": "bare urllib3", "urllib3-timeouts": "urllib3\n+ timeouts",
                  "requests": "bare requests"}
        ax.bar([labels.get(n, n) for n in names], values, width=0.5,
               color=[{"chat": "tab:blue", "requests": "tab:orange"}.get(n, "tab:gray") for n in names])
        target = per_call.get("target_ms")
        if target:
            ax.axhline(target, color="black", linestyle="dashed", label=f"target: {target:g} ms")
            ax.legend(fontsize=8)
        for x, value in enumerate(values):
            ax.text(x, value, f"{value:.3f} ms", ha="center", va="bottom", fontsize=8)
        ax.set_title(f"Client CPU per call ({per_call['threads']} threads, {per_call['latency_ms']:g} ms server)")
    ax.set_ylabel("CPU ms per call (median)")

    fig.suptitle(results.get("title", "openai-compatible bench"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
