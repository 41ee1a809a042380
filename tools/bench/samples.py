"""The probe's samples: failed requests, gaps, latencies, the first answer of the new code."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    due: float
    sent: float
    done: float
    status: int  # 0: no HTTP answer
    version: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def latency(self) -> float:
        return self.done - self.sent


def availability(samples: Sequence[Sample], start: float) -> dict[str, Any]:
    """Failed requests, the longest gap between successful answers, the worst latency, for
    the requests sent from ``start`` on."""
    during = [s for s in samples if s.sent >= start]
    answers = sorted(s.done for s in samples if s.ok)
    before = [t for t in answers if t < start]
    marks = before[-1:] + [t for t in answers if t >= start]
    failures = Counter(f"{s.status or s.error}" for s in during if not s.ok)
    return {
        "requests": len(during),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "failed_before_trigger": sum(1 for s in samples if s.sent < start and not s.ok),
        "longest_gap_s": max((b - a for a, b in itertools.pairwise(marks)), default=None),
        "worst_latency_s": max((s.latency for s in during), default=None),
        "median_latency_s": statistics.median(s.latency for s in during) if during else None,
        "probe_late_max_s": max((s.sent - s.due for s in samples), default=None),
    }


def first_new_answer(
    samples: Sequence[Sample], start: float, *, version: str | None, after: float | None
) -> Sample | None:
    """The first successful answer after ``start`` reporting ``version`` (when given) and
    completed after ``after`` (when given: the new main process's start)."""
    for sample in sorted(samples, key=lambda s: s.done):
        if not sample.ok or sample.done < start:
            continue
        if (version is None or sample.version == version) and (
            after is None or sample.done > after
        ):
            return sample
    return None
