"""The owner's rules for automatic runs: what a run does in each circumstance."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from picohub.update.policy import (
    ANY_TIME,
    Action,
    Circumstances,
    Mode,
    Policy,
    Window,
    decide,
)

ZONE = timezone(timedelta(hours=1))
NIGHT = Window(time(2, 0), time(5, 0))
AT_3 = datetime(2026, 12, 2, 3, 0, tzinfo=ZONE)
AT_13 = datetime(2026, 12, 2, 13, 0, tzinfo=ZONE)


def found(**changes: object) -> Circumstances:
    values: dict[str, object] = {"now": AT_3, "version": "2.0.0"}
    values.update(changes)
    return Circumstances(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("any", ANY_TIME),
        ("ANY", ANY_TIME),
        ("02:00-05:00", NIGHT),
        ("22:30-4:00", Window(time(22, 30), time(4, 0))),
    ],
)
def test_a_window_is_read_from_its_setting(text: str, window: Window) -> None:
    assert Window.parse(text) == window


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("02:00", "HH:MM-HH:MM"),
        ("2-5", "is not a time of day as HH:MM"),
        ("25:00-05:00", "is not a time of day"),
        ("02:00-02:00", "write 'any'"),
        ("02:00-05:00-07:00", "HH:MM-HH:MM"),
    ],
)
def test_a_bad_window_is_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Window.parse(text)


@pytest.mark.parametrize(
    ("window", "hour", "minute", "inside"),
    [
        (NIGHT, 1, 59, False),
        (NIGHT, 2, 0, True),
        (NIGHT, 4, 59, True),
        (NIGHT, 5, 0, False),
        (Window(time(22, 0), time(4, 0)), 23, 0, True),
        (Window(time(22, 0), time(4, 0)), 3, 0, True),
        (Window(time(22, 0), time(4, 0)), 12, 0, False),
        (ANY_TIME, 12, 0, True),
    ],
)
def test_a_window_contains_its_start_not_its_end_even_across_midnight(
    window: Window, hour: int, minute: int, inside: bool
) -> None:
    assert window.contains(datetime(2026, 12, 2, hour, minute, tzinfo=ZONE)) is inside


def test_the_next_opening_is_today_or_tomorrow() -> None:
    assert NIGHT.next_opening(datetime(2026, 12, 2, 1, 0, tzinfo=ZONE)) == datetime(
        2026, 12, 2, 2, 0, tzinfo=ZONE
    )
    assert NIGHT.next_opening(AT_13) == datetime(2026, 12, 3, 2, 0, tzinfo=ZONE)
    assert NIGHT.next_opening(AT_3) == AT_3


def test_by_default_an_available_release_is_installed() -> None:
    decision = decide(Policy(), found())
    assert decision.action is Action.INSTALL
    assert "2.0.0" in decision.reason


@pytest.mark.parametrize("mode", list(Mode))
def test_nothing_is_done_when_up_to_date(mode: Mode) -> None:
    assert decide(Policy(mode), found(version=None)).action is Action.NOTHING


@pytest.mark.parametrize(
    ("mode", "action"),
    [
        (Mode.OFF, Action.NOTHING),
        (Mode.NOTIFY, Action.NOTIFY),
        (Mode.DOWNLOAD, Action.DOWNLOAD),
        (Mode.INSTALL, Action.INSTALL),
    ],
)
def test_each_mode_goes_as_far_as_it_says(mode: Mode, action: Action) -> None:
    assert decide(Policy(mode), found()).action is action


def test_outside_the_window_the_release_is_downloaded_and_waits_for_it() -> None:
    decision = decide(Policy(window=NIGHT), found(now=AT_13))
    assert decision.action is Action.WAIT
    assert decision.wake_at == datetime(2026, 12, 3, 2, 0, tzinfo=ZONE)
    assert "02:00-05:00" in decision.reason


def test_inside_the_window_it_installs() -> None:
    assert decide(Policy(window=NIGHT), found(now=AT_3)).action is Action.INSTALL


def test_a_hold_downloads_but_does_not_install() -> None:
    decision = decide(Policy(), found(held_until="2026-12-09T00:00:00Z"))
    assert decision.action is Action.DOWNLOAD
    assert "held until 2026-12-09" in decision.reason


def test_a_hold_without_end_says_so() -> None:
    decision = decide(Policy(), found(held_until=""))
    assert decision.action is Action.DOWNLOAD
    assert decision.reason.endswith("updates are held")


def test_a_rolled_back_release_is_skipped_whatever_the_mode() -> None:
    for mode in (Mode.NOTIFY, Mode.DOWNLOAD, Mode.INSTALL):
        decision = decide(Policy(mode), found(skipped_because="its install was rolled back"))
        assert decision.action is Action.NOTIFY
        assert "2.0.0 is skipped: its install was rolled back" in decision.reason
        assert "newer release" in decision.reason


def test_a_release_whose_date_is_not_believed_is_never_installed_automatically() -> None:
    refusal = "it is dated 2099-01-01 00:00 UTC, more than 365 days after the hub's time floor"
    for mode in (Mode.NOTIFY, Mode.DOWNLOAD, Mode.INSTALL):
        decision = decide(Policy(mode), found(cached=True, date_refusal=refusal))
        assert decision.action is Action.NOTIFY
        assert decision.reason == (
            f"release 2.0.0 is not installed automatically: {refusal}"
            " (install it by hand if that date is right)"
        )


def test_a_metered_connection_only_checks_unless_downloads_are_allowed() -> None:
    assert decide(Policy(), found(metered=True)).action is Action.NOTIFY
    assert decide(Policy(metered_downloads=True), found(metered=True)).action is Action.INSTALL


def test_a_release_downloaded_already_installs_on_a_metered_connection() -> None:
    assert decide(Policy(), found(metered=True, cached=True)).action is Action.INSTALL


def test_off_wins_over_everything() -> None:
    decision = decide(Policy(Mode.OFF), found(metered=True, skipped_because="x"))
    assert decision.action is Action.NOTHING
    assert "automatic = off" in decision.reason
