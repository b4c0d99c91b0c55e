"""Crash and resume: a recipe run with a cache folder is killed with SIGKILL at random points (during start-up, half
way, while its last request is answered), several times, then run to the end. The fault server holds the
request after the kill point until the kill (``FaultServer.hold``), so a run never outruns its kill, however
busy the machine. Checked against the fault server's own record
of requests and against the answers committed in the cache after each kill:

* no row lost, and the output identical to a clean run's (every column but ``*_latency_ms``, which is 0 for an
  answer read from the cache);
* no answer committed to the cache is ever requested again ("resent after commit", must be 0);
* what is requested again is only what was in flight at the kill (at most the concurrency, per kill).
"""
from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any, Optional

from tests.reliability import harness as h
from tests.servers.fault_server import FaultServer, Gate, last_user_text

CACHE_FILE = "openai-compatible-answers.sqlite"
CONCURRENCY = 8


def _rows(recipe: str, count: int) -> list[dict]:
    """``count`` rows, one in ten repeating an earlier text (duplicates are sent once, also across a crash)."""
    rows = []
    for i in range(count):
        text = f"{recipe} crash {i - 7 if i % 10 == 9 else i}"
        rows.append({"id": str(i), "text": text})
    return rows


def _texts_of(recipe: str, request: Any) -> list[str]:
    """The row texts a recorded request asked about."""
    if recipe == "prompt":
        return [last_user_text(request.json.get("messages"))[len("Say "):]]
    value = request.json.get("input")
    return [value] if isinstance(value, str) else [t for t in value or [] if isinstance(t, str)]


def committed_texts(recipe: str, cache: Path, by_vector: dict[str, str]) -> set[str]:
    """The row texts whose answers are in the cache (read after the kill, as the next run will read them)."""
    path = cache / CACHE_FILE
    if not path.is_file():
        return set()
    db = sqlite3.connect(str(path))
    try:
        answers = [json.loads(a) for (a,) in db.execute("SELECT answer FROM answers")]
    finally:
        db.close()
    if recipe == "prompt":
        return {a["text"][len("echo: Say "):] for a in answers if isinstance(a.get("text"), str)}
    return {by_vector[json.dumps(a["embedding"])] for a in answers if json.dumps(a.get("embedding")) in by_vector}


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("_latency_ms")} for row in rows]


def crash_and_resume(recipe: str, rows_count: int, kills: list[str], work: Path, seed: int = 7,
                     scheme: str = "query_param") -> dict:
    """Runs the scenario; ``kills`` lists the kill points in order: "startup", "mid", "late" (while the last
    request is answered). Returns its figures and ``problems`` (empty when every check holds)."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    rows = _rows(recipe, rows_count)
    distinct = list(dict.fromkeys(r["text"] for r in rows))
    source = h.write_csv(work / "in.csv", rows)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    batch = 1 if recipe == "prompt" else 4
    config = h.recipe_config(recipe, **({"batch_size": batch} if recipe == "embed" else {}))
    by_vector = {json.dumps(h.embedding_vector(t)): t for t in distinct} if recipe == "embed" else {}
    attempts: list[dict] = []
    problems: list[str] = []
    with FaultServer(latency_ms=25 if recipe == "prompt" else 120) as server:
        preset = h.preset_for(server, scheme, max_concurrency=CONCURRENCY)
        clean = h.run_recipe(recipe, work / "clean", config, preset, source)
        clean_rows = h.read_csv(clean.output)
        if clean.returncode != 0:
            problems.append(f"the clean run failed: {clean.error}")
        clean_calls = server.calls
        for number, point in enumerate(kills + ["none"]):
            before = committed_texts(recipe, cache, by_vector)
            remaining = -(-(len(distinct) - len(before)) // batch)  # requests still needed
            first_call = server.calls
            target = _kill_target(point, remaining, rng)
            startup_at = rng.uniform(0.3, 2.0)
            gate = server.hold(after=first_call + target) if target is not None else None

            def kill_when(elapsed: float, point: str = point, startup_at: float = startup_at,
                          gate: Optional[Gate] = gate) -> bool:
                if gate is not None and gate.reached.is_set():
                    return True  # the run is stopped at the gate: it cannot end before the kill
                return point == "startup" and elapsed >= startup_at

            try:
                result = h.run_recipe(recipe, work / f"attempt{number}", config, preset, source, cache=cache,
                                      kill_when=None if point == "none" else kill_when,
                                      output_name="out.csv")
            finally:
                if gate is not None:
                    gate.release()
            # a killed run's last requests finish being recorded only when its connections close: wait for that,
            # so that none of them is counted as the next attempt's
            server.wait_idle(60)
            sent = [t for req in server.requests[first_call:] for t in _texts_of(recipe, req)]
            after = committed_texts(recipe, cache, by_vector)
            resent_after_commit = sorted(set(sent) & before)
            attempt = {"kill": point, "killed": result.killed, "requests": server.calls - first_call,
                       "texts_sent": len(sent), "committed_before": len(before), "committed_after": len(after),
                       "resent_after_commit": len(resent_after_commit), "returncode": result.returncode,
                       "seconds": round(result.seconds, 2)}
            attempts.append(attempt)
            if resent_after_commit:
                problems.append(f"attempt {number} resent {len(resent_after_commit)} committed answers, e.g. "
                                f"{resent_after_commit[0]!r}")
            if point == "none":
                final = result
    output = h.read_csv(final.output)
    figures = h.outcome(recipe, rows, output).as_dict()
    total_sent = sum(a["texts_sent"] for a in attempts)
    in_flight_resent = total_sent - len(distinct)
    identical = _comparable(output) == _comparable(clean_rows)
    if final.returncode != 0:
        problems.append(f"the final run failed: {final.error}")
    if figures["lost"] or figures["answered"] != len(rows):
        problems.append(f"{figures['lost']} rows lost, {figures['answered']} of {len(rows)} answered")
    if not identical:
        problems.append("the output differs from the clean run's")
    if in_flight_resent > CONCURRENCY * batch * len(kills):
        problems.append(f"{in_flight_resent} texts sent twice: more than what can be in flight at {len(kills)} kills")
    if sum(1 for a in attempts if a["killed"]) != len(kills):
        problems.append("a run ended before its kill point")
    return {"recipe": recipe, "rows": len(rows), "distinct_texts": len(distinct), "kills": len(kills),
            "clean_run_requests": clean_calls, "attempts": attempts, "texts_sent_in_all_attempts": total_sent,
            "resent_after_commit": sum(a["resent_after_commit"] for a in attempts),
            "resent_in_flight": in_flight_resent, "identical_to_clean_run": identical, "auth": scheme,
            "outcome": figures, "problems": problems}


def _kill_target(point: str, remaining: int, rng: random.Random) -> Optional[int]:
    """How many requests of this attempt to let through before the kill (the next one is held until it)."""
    if point == "startup":
        return 0  # killed at a random moment of start-up, or at its first request, whichever comes first
    if point == "mid":
        return max(1, int(remaining * rng.uniform(0.15, 0.6)))
    if point == "late":
        return max(0, remaining - 1)  # all but the last: the kill lands while their answers are written
    return None


def as_rows(result: dict) -> list[list]:
    rows = []
    for number, a in enumerate(result["attempts"]):
        rows.append([result["recipe"], number + 1, a["kill"], "yes" if a["killed"] else "no", a["requests"],
                     a["committed_before"], a["committed_after"], a["resent_after_commit"]])
    return rows


HEADER = ["recipe", "run", "kill point", "killed", "requests", "in cache before", "in cache after",
          "resent after commit"]
