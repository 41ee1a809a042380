"""The benchmark's arithmetic (``tools/bench``): what it reports of the probe's samples."""

from __future__ import annotations

import pytest

from tools.bench.report import spread
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
