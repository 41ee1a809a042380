"""The update from the web API, as the page does it, and its timeline printed."""

from __future__ import annotations

import time
from typing import Any

from picohub.errors import PicohubError
from tests.system.container import Container, wait_for
from tools.demo.frontend import Frontend, follow
from tools.demo.steps import say
from tools.demo.timeline import (
    UNIT_FAILED,
    UNIT_SUCCESS,
    Event,
    Key,
    Step,
    journal_events,
    render,
    summary,
    web_events,
)


def update_from_the_web(container: Container, installed: str, target: str) -> int:
    """Log in, check, install as the page does; print the timeline. 0: ended on ``target``."""
    password = container.run(["picohub", "admin-password", "show"]).stdout.strip()
    frontend = Frontend()
    frontend.log_in(password)
    cursor = container.journal_cursor()
    web: list[Event] = []

    at = time.time()
    checked = frontend.post("/api/system/update/check")
    if checked.status_code != 200:
        raise PicohubError(f"the check answered {checked.status_code}: {checked.text[:300]}")
    available = checked.json()["available"]
    web.append(
        Event(at, Step.CHECK, f"POST /api/system/update/check -> 200: {available['message']}")
    )
    if available["version"] != target or not available["update_available"]:
        raise PicohubError(f"the check offers {available['version']}, not release {target}")

    at = time.time()
    started = frontend.post("/api/system/update", {"version": target})
    if started.status_code != 202:
        raise PicohubError(f"starting the update answered {started.status_code}: {started.text}")
    web.append(
        Event(
            at,
            Step.TRIGGER,
            f'POST /api/system/update {{"version": "{target}"}} -> 202: '
            f"{started.json()['message']}",
            Key.PRESSED_INSTALL,
        )
    )
    polls = follow(frontend)

    def logged() -> list[dict[str, Any]] | None:  # journald may hold the last lines a moment
        entries = container.journal(cursor)
        done = any(
            e.get("UNIT") == "picohub-update.service" and e.get("_PID") == "1"
            and e.get("MESSAGE_ID") in (UNIT_SUCCESS, UNIT_FAILED)
            for e in entries
        )  # fmt: skip
        return entries if done else None

    entries = wait_for(logged, timeout=15, interval=0.5, what="the update's end in the journal")
    events = [*web, *journal_events(entries, installed=installed), *web_events(polls)]
    say("\nTimeline (0 = Check pressed; from the container's journal and the web API):")
    for line in render(events):
        say(line)
    say("")
    for line in summary(events, polls):
        say(f"  {line}")
    final = polls[-1].body
    assert final is not None
    status = final["update"]["status"]
    if final["running"] != target or status["phase"] != "done":
        say(f"\nerror: the update did not end on {target}: {status['phase']}: {status['message']}")
        return 1
    return 0
