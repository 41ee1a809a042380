"""The demo's timeline (``tools/demo/timeline.py``): journal entries and what the page saw,
in order, each in its step, with the time since the first."""

from __future__ import annotations

from typing import Any

from tools.demo.timeline import (
    UNIT_STARTED,
    UNIT_STOPPED,
    UNIT_STOPPING,
    UNIT_SUCCESS,
    Event,
    Key,
    Poll,
    Step,
    journal_events,
    render,
    summary,
    web_events,
)

T0 = 1_800_000_000.0  # seconds since the epoch


def updater(offset: float, message: str, level: str = "INFO") -> dict[str, Any]:
    """A line of picohub-update as journald stores it (the time in microseconds)."""
    return {
        "__REALTIME_TIMESTAMP": str(int((T0 + offset) * 1e6)),
        "SYSLOG_IDENTIFIER": "picohub-update",
        "MESSAGE": f"{level} picohub.update.apply: {message}",
    }


def systemd(offset: float, unit: str, message_id: str, message: str) -> dict[str, Any]:
    return {
        "__REALTIME_TIMESTAMP": str(int((T0 + offset) * 1e6)),
        "_PID": "1",
        "UNIT": unit,
        "MESSAGE_ID": message_id,
        "MESSAGE": message,
    }


UPDATE = [
    updater(0.1, 'request: {"action": "apply", "version": "0.1.1"}'),
    systemd(0.2, "picohub-update.service", UNIT_STARTED, "Started picohub-update.service."),
    updater(0.4, "checking for a release"),
    updater(0.5, "fetching release 0.1.1"),
    updater(0.6, "fetching picohub 0.1.0 (1000 bytes)"),
    updater(0.7, "fetching picohub 0.1.1 (2000 bytes)"),
    updater(0.8, "fetching picohub-web 0.1.1 (500 bytes)"),
    updater(0.9, "installing picohub, picohub-web 0.1.1"),
    {"__REALTIME_TIMESTAMP": str(int((T0 + 1.0) * 1e6)), "SYSLOG_IDENTIFIER": "dpkg"},
    systemd(1.5, "picohub.service", UNIT_STOPPING, "Stopping picohub.service..."),
    systemd(1.6, "picohub.service", UNIT_STOPPED, "Stopped picohub.service."),
    systemd(2.0, "picohub.service", UNIT_STARTED, "Started picohub.service."),
    # The same message from another process than systemd is not about the unit.
    {**systemd(2.1, "picohub.service", UNIT_STARTED, "Started?"), "_PID": "42"},
    updater(2.5, "waiting for picohub 0.1.1 to answer /healthz"),
    updater(3.0, "updated to 0.1.1"),
    systemd(3.1, "picohub-update.service", UNIT_SUCCESS, "Deactivated successfully."),
]


def test_an_update_in_the_journal_reads_as_its_steps_in_order() -> None:
    events = journal_events(UPDATE, installed="0.1.0")
    steps = [event.step for event in events]
    assert steps == [
        Step.TRIGGER, Step.TRIGGER,
        Step.CHECK,
        Step.DOWNLOAD, Step.DOWNLOAD, Step.DOWNLOAD, Step.DOWNLOAD,
        Step.VERIFY, Step.INSTALL,
        Step.RESTART, Step.RESTART, Step.RESTART,
        Step.INSTALL, Step.HEALTH,
        Step.HEALTH, Step.DONE, Step.DONE,
    ]  # fmt: skip
    texts = [event.text for event in events]
    assert "apply 0.1.1" in texts[0]
    assert texts[1] == "systemd: Started picohub-update.service."
    assert "the installed release, kept for a rollback" in texts[4]
    assert texts[5] == "  picohub 0.1.1: 2,000 bytes"
    # What was verified is the new release: its two packages, not the rollback copy.
    assert texts[7].startswith("2 packages, 2,500 bytes: size and SHA-256")
    assert events[7].at == events[8].at == T0 + 0.9  # complete when the install starts
    assert texts[8] == "apt-get install picohub, picohub-web 0.1.1"
    assert texts[12] == "apt-get install finished"
    assert texts[14] == "confirmed: /healthz reports 0.1.1"
    assert events[15].key is Key.UPDATED and events[15].at == T0 + 3.0
    assert [e.key for e in events if e.key is not Key.NONE] == [
        Key.APP_STOPPED,
        Key.APP_STARTED,
        Key.UPDATED,
    ]


def test_a_line_the_reader_does_not_know_stays_in_the_current_step() -> None:
    entries = [
        updater(0, "fetching release 0.1.1"),
        updater(1, "removing cached release 0.0.9"),
        {**updater(2, ""), "MESSAGE": "a line without the level and logger"},
    ]
    events = journal_events(entries, installed="0.1.0")
    assert [(e.step, e.text) for e in events][1:] == [
        (Step.DOWNLOAD, "removing cached release 0.0.9"),
        (Step.DOWNLOAD, "a line without the level and logger"),
    ]


def test_an_update_the_updater_logs_as_verified_is_not_verified_twice() -> None:
    entries = [
        updater(0, "fetching picohub 0.1.1 (10 bytes)"),
        updater(1, "verified picohub 0.1.1"),
        updater(2, "installing picohub 0.1.1"),
    ]
    steps = [e.step for e in journal_events(entries, installed="0.1.0")]
    assert steps == [Step.DOWNLOAD, Step.VERIFY, Step.INSTALL]


def test_a_failed_update_and_its_rollback_are_failures_and_warnings_stand_out() -> None:
    entries = [
        updater(0, "no rollback possible: release 0.0.1 cannot be fetched", "WARNING"),
        updater(1, "installing picohub 0.1.1"),
        updater(2, "update to 0.1.1 failed (apt-get install failed); rolling back to 0.1.0"),
        updater(3, "rolled back to 0.1.0 because the update to 0.1.1 failed: apt"),
        updater(4, 'request: {"action": "check"}'),
    ]
    events = journal_events(entries, installed="0.1.0")
    assert [e.step for e in events] == [
        Step.WARNING,
        Step.INSTALL,
        Step.FAILED,
        Step.FAILED,
        Step.CHECK,
    ]
    assert not any(e.step is Step.VERIFY for e in events)  # nothing was downloaded
    assert not any(e.key is Key.UPDATED for e in events)


def test_the_page_sees_the_app_go_away_and_come_back_then_the_final_status() -> None:
    final = {
        "running": "0.1.1",
        "update": {
            "busy": False,
            "status": {"phase": "done", "message": "updated to 0.1.1", "updated_at": "Z"},
        },
    }
    polls = [
        Poll(T0 + 1, 200, {"running": "0.1.0", "update": {}}),
        Poll(T0 + 2, 502),
        Poll(T0 + 3, 0),
        Poll(T0 + 4, 200, final),
    ]
    events = web_events(polls)
    assert [(e.at - T0, e.text) for e in events] == [
        (2, "GET /api/system: no answer (HTTP 502)"),
        (4, "GET /api/system answers again"),
        (4, "GET /api/system: running 0.1.1; status file: done, 'updated to 0.1.1' (updated_at Z)"),
    ]
    assert all(e.step is Step.WEB for e in events)
    assert summary(events, polls) == ["2 of the page's 4 polls of GET /api/system went unanswered"]


def test_the_timeline_is_in_time_order_with_seconds_since_the_first_event() -> None:
    events = [
        Event(T0 + 1.5, Step.INSTALL, "second"),
        Event(T0 + 0.25, Step.CHECK, "first"),
        Event(T0 + 1.5, Step.RESTART, "third: same time, later in the list"),
        Event(T0 + 12.125, Step.DONE, "last"),
    ]
    assert render(events) == [
        "     +0.00 s  check     first",
        "     +1.25 s  install   second",
        "     +1.25 s  restart   third: same time, later in the list",
        "    +11.88 s  done      last",
    ]
    assert render([]) == ["  (no events)"]


def test_the_summary_measures_the_update_and_the_restart() -> None:
    pressed = Event(T0, Step.TRIGGER, "POST /api/system/update", Key.PRESSED_INSTALL)
    events = [pressed, *journal_events(UPDATE, installed="0.1.0")]
    polls = [Poll(T0 + 1, 200), Poll(T0 + 2, 200)]
    assert summary(events, polls) == [
        "Install pressed -> updated: 3.0 s",
        "picohub.service stopped -> started again: 0.40 s",
        "the page's 2 polls of GET /api/system were all answered, through the restart too "
        "(picohub-handover.service answers while the app restarts)",
    ]
