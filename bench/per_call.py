"""Client CPU per call: ``Client.chat`` beside a bare ``urllib3`` pool (with and without timeouts) and a bare
``requests`` session.

    from per_call import measure
    figures = measure(calls=4000, threads=16, latency_ms=5, repeats=3)
    figures["clients"]["chat"]["cpu_ms_per_call"], figures["clients"]["urllib3"]["cpu_ms_per_call"]

or ``PYTHONPATH=python-lib:. .venv/bin/python bench/per_call.py`` (prints a small table; ``--profile``
adds where ``Client.chat``'s CPU goes, cProfile on each thread's CPU time).

Each measurement is one fresh process that only runs the client (so the figure is its own process CPU
time, ``time.process_time()``, over the calls after a warm-up) against the fault server in a process of
its own, one server for the whole run so that every client meets the same one. ``threads`` threads share
one client and send ``calls`` chat requests in all, each with a unique prompt; every answer is checked.
The three clients are measured in turn, ``repeats`` times over (interleaved, so that a burst of other
work on the machine does not fall on one client only); the figure is the median of the repeats.

The bare clients do the work any caller must do and nothing more: encode the JSON body, send it with a
``Content-Type`` and a key header, read and decode the JSON answer, take the first choice's text. The bare
``urllib3`` pool waits forever (its sockets block); ``urllib3-timeouts`` is the same pool with the client's
default connect and read timeouts, which cost CPU of their own: Python waits for a socket with a timeout in
``poll()`` before each send and receive, two more system calls per call.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLIENTS = ("chat", "urllib3", "urllib3-timeouts", "requests")
MODEL = "fault-chat"
KEY = "sk-bench-per-call-0001"


def measure(calls: int = 4000, threads: int = 16, latency_ms: float = 5.0, repeats: int = 3,
            clients: tuple[str, ...] = CLIENTS, timeout_s: float = 600.0) -> dict[str, Any]:
    """Measures each client ``repeats`` times against one fault server; returns ``{"calls", "threads",
    "latency_ms", "repeats", "server_cpu_ms_per_call", "clients": {name: {"cpu_ms_per_call" (median),
    "runs": [...], "calls_per_s"}}}``. Raises RuntimeError when a child fails or an answer is wrong."""
    sys.path.insert(0, HERE)
    from servers import ServerProcess

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
    with ServerProcess(latency_ms=latency_ms) as server:
        cpu0 = server.cpu_seconds()
        for _ in range(repeats):
            for name in clients:
                runs[name].append(_run_child({"client": name, "url": server.url, "calls": calls,
                                              "threads": threads}, timeout_s))
        server_cpu = server.cpu_seconds() - cpu0
        seen = server.stop()
    total_calls = seen.get("calls") or 1
    figures: dict[str, Any] = {}
    for name, results in runs.items():
        figures[name] = {
            "cpu_ms_per_call": round(statistics.median(r["cpu_ms_per_call"] for r in results), 4),
            "calls_per_s": round(statistics.median(r["calls_per_s"] for r in results), 1),
            "runs": [r["cpu_ms_per_call"] for r in results],
        }
    return {"calls": calls, "threads": threads, "latency_ms": latency_ms, "repeats": repeats,
            "server_cpu_ms_per_call": round(1000.0 * server_cpu / total_calls, 4), "clients": figures}


def profile(calls: int = 4000, threads: int = 16, latency_ms: float = 5.0, timeout_s: float = 600.0) -> dict:
    """Where ``Client.chat``'s CPU goes: shares by package and the top functions (cProfile, thread CPU time)."""
    sys.path.insert(0, HERE)
    from servers import ServerProcess

    with ServerProcess(latency_ms=latency_ms) as server:
        return _run_child({"client": "chat", "url": server.url, "calls": calls, "threads": threads,
                           "profile": True}, timeout_s)["profile"]


def _run_child(cfg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    from child import run_script

    return run_script([os.path.abspath(__file__), "--child", json.dumps(cfg)], f"the per-call bench ({cfg['client']})",
                      timeout_s)


# --- the child: one client, its calls ---------------------------------------------------------------

def _chat_sender(url: str, threads: int) -> tuple[Callable[[str], str], Callable[[], None]]:
    from openai_compatible import Client

    client = Client.from_preset({"base_url": url, "models": [MODEL], "api_key": KEY, "max_concurrency": threads})

    def send(text: str) -> str:
        return client.chat([{"role": "user", "content": text}], model=MODEL).text

    return send, client.close


def _urllib3_sender(url: str, threads: int, timeouts: bool = False) -> tuple[Callable[[str], str], Callable[[], None]]:
    import urllib3

    options = {}
    if timeouts:  # the client's defaults
        from openai_compatible import ConnectionSettings

        defaults = ConnectionSettings()
        options["timeout"] = urllib3.Timeout(connect=defaults.connect_timeout_s, read=defaults.read_timeout_s)
    pool = urllib3.PoolManager(maxsize=threads, retries=False, **options)
    target = url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}

    def send(text: str) -> str:
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}]}).encode("utf-8")
        answer = pool.request("POST", target, body=body, headers=headers)
        return str(json.loads(answer.data)["choices"][0]["message"]["content"])

    return send, pool.clear


def _requests_sender(url: str, threads: int) -> tuple[Callable[[str], str], Callable[[], None]]:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=threads, max_retries=0))
    target = url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}"}

    def send(text: str) -> str:
        answer = session.post(target, json={"model": MODEL, "messages": [{"role": "user", "content": text}]},
                              headers=headers, timeout=(10, 60))
        return str(answer.json()["choices"][0]["message"]["content"])

    return send, session.close


def _child(cfg: dict[str, Any]) -> dict[str, Any]:
    makers = {"chat": _chat_sender, "urllib3": _urllib3_sender, "requests": _requests_sender,
              "urllib3-timeouts": lambda url, threads: _urllib3_sender(url, threads, timeouts=True)}
    calls, threads = int(cfg["calls"]), int(cfg["threads"])
    send, close = makers[cfg["client"]](cfg["url"], threads)
    profiles = None
    if cfg.get("profile"):
        from workloads import ThreadProfiles

        profiles = ThreadProfiles()
        profiles.main.enable()  # the main thread only waits; its (empty) profile is the one the others join
        profiles.main.disable()
        send = profiles.wrap(send)
    wrong: list[int] = []

    def run(tag: str, total: int) -> None:
        """``threads`` threads send ``total`` calls in all, each taking the next index."""
        indexes = iter(range(total))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                text = f"per-call {tag}{index}: the parcel came on time, five stars"
                if send(text) != "echo: " + text:
                    wrong.append(index)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    run("warm-up ", 4 * threads)  # imports, connections, threads: not counted
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run("", calls)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    close()
    if wrong:
        raise RuntimeError(f"{len(wrong)} wrong answers, e.g. call {wrong[0]}")
    result: dict[str, Any] = {"client": cfg["client"], "calls": calls, "cpu_s": round(cpu, 3),
                              "cpu_ms_per_call": round(1000.0 * cpu / calls, 4),
                              "calls_per_s": round(calls / wall, 1)}
    if profiles is not None:
        result["profile"] = profiles.report(calls, top=30)
    return result


def main(argv: list[str]) -> int:
    if len(argv) > 2 and argv[1] == "--child":
        print("RESULT " + json.dumps(_child(json.loads(argv[2]))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--profile", action="store_true", help="also profile Client.chat")
    args = parser.parse_args(argv[1:])
    figures = measure(args.calls, args.threads, args.latency_ms, args.repeats,
                      tuple(c for c in args.clients.split(",") if c))
    print(json.dumps(figures, indent=1))
    if args.profile:
        print(json.dumps(profile(args.calls, args.threads, args.latency_ms), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
