"""The outcome of one connection check, and the count of outcomes by status."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

# ok: works as configured; warn: works, but a setting would avoid a fallback or a missing feature;
# fail: calls with the preset as it is will break; skipped: not applicable, or pointless after a failure
STATUSES = ("ok", "warn", "fail", "skipped")


@dataclass
class CheckResult:
    """The outcome of one check.

    ``name`` is a stable identifier (``chat:<model>``, ``streaming``...), ``label`` its title,
    ``meaning`` what the outcome means in plain words, ``setting`` the preset setting to use (empty
    when nothing needs to change), ``latency_ms`` the time of the check's call(s).
    """

    name: str
    label: str
    status: str
    meaning: str
    setting: str = ""
    latency_ms: Optional[float] = None
    model: Optional[str] = None
    detail: str = ""

    def to_dict(self) -> dict:
        """A JSON-able dict of the result."""
        return asdict(self)

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}, {self.status!r})"


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many results have each status: ``{"ok": n, "warn": n, "fail": n, "skipped": n}``."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts
