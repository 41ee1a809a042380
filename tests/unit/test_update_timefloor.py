"""The hub's time floor: the latest moment it knows has passed, whatever its clock says,
and the bound beyond which a release's date is not believed."""

from __future__ import annotations

import gzip
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update.timefloor import TimeFloor, release_date

YEAR = timedelta(days=365)
# A Pi that booted without a real-time clock and has not reached a time server.
BOOTED_IN_1970 = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
RELEASED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    return replace(
        settings,
        update_state_dir=tmp_path / "update",
        timesync_clock=tmp_path / "timesync" / "clock",
        installed_changelog=tmp_path / "doc" / "changelog.gz",
    )


def _floor(hub: Settings, clock: datetime = BOOTED_IN_1970) -> TimeFloor:
    return TimeFloor(hub, clock=clock.timestamp)


def test_with_nothing_else_known_the_floor_is_the_clock(hub: Settings) -> None:
    assert _floor(hub).now() == BOOTED_IN_1970


def test_a_verified_release_raises_the_floor_and_it_is_kept(hub: Settings) -> None:
    # In 1970, a release of 2026 lies beyond the bound: not believed yet.
    assert _floor(hub).observe(RELEASED, YEAR) is not None
    floor = _floor(hub, clock=RELEASED - timedelta(days=2))
    assert floor.observe(RELEASED, YEAR) is None
    assert floor.now() == RELEASED
    # After a reboot into 1970 the floor is still the release's date.
    assert _floor(hub).now() == RELEASED


def test_the_floor_never_moves_back(hub: Settings) -> None:
    later = RELEASED + timedelta(days=30)
    floor = _floor(hub, clock=later)
    assert floor.observe(RELEASED, YEAR) is None  # an older release: the clock is kept
    assert _floor(hub).now() == later
    assert _floor(hub).observe(RELEASED - timedelta(days=1), YEAR) is None
    assert _floor(hub).now() == later


def test_a_release_dated_beyond_the_bound_is_refused_and_moves_nothing(hub: Settings) -> None:
    floor = _floor(hub, clock=RELEASED)
    assert floor.observe(RELEASED, YEAR) is None
    far = RELEASED + YEAR + timedelta(days=1)
    reason = _floor(hub).observe(far, YEAR)
    assert reason == (
        f"it is dated {far:%Y-%m-%d %H:%M} UTC, more than 365 days after the hub's time"
        f" floor ({RELEASED:%Y-%m-%d %H:%M} UTC)"
    )
    assert _floor(hub).now() == RELEASED
    # The releases after it, dated as they should be, are believed.
    assert _floor(hub).observe(RELEASED + timedelta(days=7), YEAR) is None


def test_systemd_timesyncds_clock_file_raises_the_floor(hub: Settings) -> None:
    hub.timesync_clock.parent.mkdir()
    hub.timesync_clock.touch()
    synced = RELEASED.timestamp()
    os.utime(hub.timesync_clock, (synced, synced))
    assert _floor(hub).now() == RELEASED


def test_the_installed_picohubs_changelog_date_is_a_floor(hub: Settings) -> None:
    hub.installed_changelog.parent.mkdir()
    with gzip.open(hub.installed_changelog, "wb") as stream:
        stream.write(
            b"picohub (0.2.0) unstable; urgency=medium\n\n  * A release.\n\n"
            b" -- picohub maintainers <picohub@example.org>  Tue, 24 Nov 2026 12:00:00 +0000\n"
        )
    assert _floor(hub).now() == RELEASED


@pytest.mark.parametrize("text", ["{not json", '{"floor": 1e999}', '{"floor": 1e300}', "[]"])
def test_a_damaged_floor_file_leaves_the_other_sources(hub: Settings, text: str) -> None:
    hub.update_time_floor.parent.mkdir()
    hub.update_time_floor.write_text(text)
    assert _floor(hub, clock=RELEASED).now() == RELEASED
    assert _floor(hub, clock=RELEASED).observe(RELEASED, YEAR) is None
    assert _floor(hub).now() == RELEASED  # written again


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 24 Nov 2026 12:00:00 UTC", RELEASED),
        ("Tue, 24 Nov 2026 13:00:00 +0100", RELEASED),
        ("Tue, 24 Nov 2026 12:00:00", RELEASED),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_a_release_files_date_is_read_as_apt_writes_it(
    text: str | None, expected: datetime | None
) -> None:
    assert release_date(text) == expected
