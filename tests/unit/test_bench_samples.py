"""The benchmark's arithmetic (``tools/bench``): what it reports of the probe's samples."""

from __future__ import annotations

from typing import Any

import pytest

from tools.bench.report import automatic_line, spread
from tools.bench.samples import Sample, availability, first_new_answer


def _sample(sent: float, status: int = 200, version: str | None = "1") -> Sample:
    return Sample(due=sent, sent=sent, done=sent + 0.01, status=status, version=version, error=None)


def test_failures_and_the_longest_gap_count_from_the_trigger() -> None:
    samples = [
        _sample(0.0, 503),  # before the trigger: counted apart
        _sample(1.0),
        _sample(2.0, 502),
        _sample(2.5, 0),
        _sample(4.0),
    ]
    seen = availability(samples, start=1.5)
    assert (seen["requests"], seen["failed"]) == (3, 2)
    assert seen["failures"] == {"502": 1, "None": 1}  # no HTTP answer, and no error named
    assert seen["failed_before_trigger"] == 1
    # From the last answer before the trigger (1.01) to the next one (4.01).
    assert seen["longest_gap_s"] == pytest.approx(3.0)


def test_the_first_answer_of_the_new_version_after_the_trigger() -> None:
    samples = [_sample(1.0, version="1"), _sample(2.0, version="2"), _sample(3.0, version="2")]
    first = first_new_answer(samples, 1.5, version="2", after=None)
    assert first is not None and first.sent == 2.0
    assert first_new_answer(samples, 1.5, version="3", after=None) is None
    later = first_new_answer(samples, 1.5, version="2", after=2.5)
    assert later is not None and later.sent == 3.0


def test_a_spread_leaves_out_runs_without_the_figure() -> None:
    assert spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([None]) == {"median": None, "min": None, "max": None, "n": 0}


def _summary(**totals: float | None) -> dict[str, Any]:
    return {
        variant: {"total_s": {"median": total}, "window_downloaded_bytes": spread([0])}
        for variant, total in totals.items()
    }


def test_the_automatic_line_compares_with_apt_and_with_apt_on_the_running_hub() -> None:
    line = automatic_line(_summary(automatic=1.5, apt=3.0, apt_live=2.0))
    assert "0.50 x apt's total (goal <= 1.0), 0.75 x apt_live's" in line
    alone = automatic_line(_summary(automatic=1.5, apt=3.0))
    assert "0.50 x apt's total" in alone and "apt_live" not in alone
    assert "- x apt's total" in automatic_line(_summary(automatic=None, apt=3.0))
