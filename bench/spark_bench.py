"""Spark rows per second: ``openai_compatible.spark.apply`` on a local Spark against the fault server.

    from spark_bench import measure
    figure = measure(rows=4000, latency_ms=50, concurrency=16, partitions=2)
    figure["rows_per_s"], figure["ideal_rows_per_s"]

or ``PYTHONPATH=python-lib:. .venv/bin/python bench/spark_bench.py --rows 4000`` (prints the figure as JSON).

The measurement runs in a fresh process (Spark's JVM and Python workers are its own, not the caller's) with
the fault server in another. Spark's start and a warm-up job (JVM, Python workers, imports, connections)
are not counted: the figure is the rows of one job over its wall time. Every prompt is unique, so
de-duplication saves nothing. The ideal is partitions x concurrency / latency (each task keeps
``concurrency`` requests in flight); on a machine with fewer cores than partitions the tasks queue.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def measure(rows: int = 4000, latency_ms: float = 50.0, concurrency: int = 16, partitions: int = 2,
            timeout_s: float = 600.0) -> dict[str, Any]:
    """Runs the Spark workload in a fresh process; returns ``rows``, ``seconds``, ``rows_per_s``,
    ``ideal_rows_per_s``, ``pct_of_ideal``, ``errors`` (rows with an error) and ``server_calls``.
    Raises RuntimeError when the child fails."""
    cfg = {"rows": rows, "latency_ms": latency_ms, "concurrency": concurrency, "partitions": partitions}
    from child import run_script

    return run_script([os.path.abspath(__file__), "--child", json.dumps(cfg)], "the Spark bench", timeout_s)


def _child(cfg: dict[str, Any]) -> dict[str, Any]:
    from openai_compatible import spark as oc_spark
    from pyspark.sql import SparkSession
    from servers import ServerProcess

    rows, partitions, concurrency = int(cfg["rows"]), int(cfg["partitions"]), int(cfg["concurrency"])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (SparkSession.builder.master(f"local[{partitions}]").appName("openai-compatible-bench")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(partitions)).getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        with ServerProcess(latency_ms=float(cfg["latency_ms"])) as server:
            preset = {"base_url": server.url, "models": ["fault-chat"], "auth_scheme": "none",
                      "max_concurrency": concurrency, "max_retries": 0}

            def run(prefix: str, count: int) -> tuple[float, int]:
                df = session.range(count, numPartitions=partitions).selectExpr(
                    "id", f"concat('{prefix} ', id) AS text")
                out = oc_spark.apply(df, preset, "{{text}}", "fault-chat", concurrency=concurrency)
                started = time.monotonic()
                errors = out.where("llm_error_type IS NOT NULL").count()
                return time.monotonic() - started, errors

            run("warm-up", partitions * concurrency)
            seconds, errors = run("row", rows)
            calls = server.stop()["calls"]
    finally:
        session.stop()
    ideal = partitions * concurrency / (float(cfg["latency_ms"]) / 1000.0) if cfg["latency_ms"] else None
    rate = rows / seconds if seconds > 0 else None
    return {"rows": rows, "partitions": partitions, "concurrency_per_task": concurrency,
            "latency_ms": cfg["latency_ms"], "seconds": round(seconds, 3),
            "rows_per_s": round(rate, 1) if rate else None, "ideal_rows_per_s": ideal,
            "pct_of_ideal": round(100.0 * rate / ideal, 1) if rate and ideal else None,
            "errors": errors, "server_calls": calls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(_child(json.loads(args.child))), flush=True)
        return 0
    print(json.dumps(measure(args.rows, args.latency_ms, args.concurrency, args.partitions), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
