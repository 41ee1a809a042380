"""The board benchmark's arithmetic: percentiles, the windows, the goal. Pure functions."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Beat:
    """One heartbeat as a board sent it (monotonic seconds)."""

    board: str
    due: float
    sent: float
    done: float
    status: int  # 0: no HTTP answer
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def latency(self) -> float:
        return self.done - self.sent


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank: the smallest value with at least
    q % of the values at or below it. No interpolation: it is always a measured value."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0-100")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latencies(beats: Sequence[Beat]) -> dict[str, Any]:
    """Count, p50, p99 and max latency of the successful ``beats`` (seconds)."""
    values = [b.latency for b in beats if b.ok]
    if not values:
        return {"count": 0, "p50_s": None, "p99_s": None, "max_s": None}
    return {
        "count": len(values),
        "p50_s": percentile(values, 50),
        "p99_s": percentile(values, 99),
        "max_s": max(values),
    }


def within(beats: Sequence[Beat], start: float, end: float) -> list[Beat]:
    """The beats sent in [start, end)."""
    return [b for b in beats if start <= b.sent < end]


def failures(beats: Sequence[Beat]) -> Counter[str]:
    """Failed heartbeats by kind: the HTTP status, or the error of no answer."""
    return Counter(str(b.status or b.error) for b in beats if not b.ok)


def ratio(during_p99: float | None, idle_p99: float | None) -> float | None:
    if during_p99 is None or not idle_p99:
        return None
    return during_p99 / idle_p99


def goal_met(failed: int, p99_ratio: float | None, limit: float) -> bool:
    """The goal: no failed request, and p99 during downloads within ``limit`` x idle's."""
    return failed == 0 and p99_ratio is not None and p99_ratio <= limit
