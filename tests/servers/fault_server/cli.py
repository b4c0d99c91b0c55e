"""The fault server's command line: serve until SIGINT/SIGTERM (benchmarks, manual tests)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import List, Optional

from .faults import DEFAULT_RANDOM_MODES
from .server import FaultServer


def main(argv: Optional[List[str]] = None) -> int:
    """CLI: serve until SIGINT/SIGTERM; print a summary of calls and injected faults to stderr."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible fault server (benchmarks, manual tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--prefix", default="/v1")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--rpm-limit", type=float, default=None, help="429 above this many requests/min")
    parser.add_argument("--no-retry-after", action="store_true", help="RPM 429s without Retry-After")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="random fault probability (0..1)")
    parser.add_argument("--fault-modes", default=",".join(DEFAULT_RANDOM_MODES), help="comma-separated modes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require this key (any of Bearer, api-key, x-api-key)")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    server = FaultServer(args.host, args.port, prefix=args.prefix, latency_ms=args.latency_ms,
                         rpm_limit=args.rpm_limit, rpm_retry_after=not args.no_retry_after,
                         record=args.record, verbose=args.verbose)
    if args.api_key:
        server.require_auth(args.api_key, "any")
    if args.fault_rate:
        server.set_fault_rate(args.fault_rate, [m for m in args.fault_modes.split(",") if m], args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(f"READY {server.url}", flush=True)
        while not stop.wait(0.5):
            pass
    print(f"calls={server.calls} injected={dict(server.injected)}", file=sys.stderr, flush=True)
    return 0


