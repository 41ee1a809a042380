"""The timeline: journal entries and web observations to lines (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    CHECK = "check"
    TRIGGER = "trigger"
    DOWNLOAD = "download"
    VERIFY = "verify"
    INSTALL = "install"
    RESTART = "restart"
    HEALTH = "health"
    DONE = "done"
    WEB = "web"
    WARNING = "warning"
    FAILED = "failed"


class Key(StrEnum):
    """Events the summary measures between."""

    NONE = ""
    PRESSED_INSTALL = "pressed-install"
    APP_STOPPED = "app-stopped"
    APP_STARTED = "app-started"
    UPDATED = "updated"


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the epoch (the container shares this machine's clock)
    step: Step
    text: str
    key: Key = Key.NONE


@dataclass(frozen=True)
class Poll:
    """One GET /api/system of the frontend while the update ran."""

    at: float
    status: int  # HTTP status; 0: no connection
    body: Mapping[str, Any] | None = None


# systemd's catalogue ids (sd-messages.h), in the messages PID 1 logs about units.
UNIT_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_RELOADED = "7b05ebc668384222baa8881179cfda54"
UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"

_UNIT_EVENTS: dict[tuple[str, str], tuple[Step, Key]] = {
    ("picohub.service", UNIT_STOPPING): (Step.RESTART, Key.NONE),
    ("picohub.service", UNIT_STOPPED): (Step.RESTART, Key.APP_STOPPED),
    ("picohub.service", UNIT_STARTING): (Step.RESTART, Key.NONE),
    ("picohub.service", UNIT_STARTED): (Step.RESTART, Key.APP_STARTED),
    ("picohub.service", UNIT_FAILED): (Step.FAILED, Key.NONE),
    ("nginx.service", UNIT_RELOADED): (Step.INSTALL, Key.NONE),
    ("picohub-update.service", UNIT_STARTED): (Step.TRIGGER, Key.NONE),
    ("picohub-update.service", UNIT_SUCCESS): (Step.DONE, Key.NONE),
    ("picohub-update.service", UNIT_FAILED): (Step.FAILED, Key.NONE),
}
# picohub's logging format under systemd: "LEVEL logger: message" (journald adds the time).
_LOGGED = re.compile(
    r"(?:(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: )?(?P<text>.*)", re.S
)
_FETCHING_PACKAGE = re.compile(
    r"fetching (?P<package>\S+) (?P<version>\S+) \((?P<size>\d+) bytes\)"
)


def _at(entry: Mapping[str, Any]) -> float:
    return int(entry["__REALTIME_TIMESTAMP"]) / 1e6


def _unit_event(entry: Mapping[str, Any]) -> Event | None:
    if entry.get("_PID") != "1":
        return None
    found = _UNIT_EVENTS.get((str(entry.get("UNIT")), str(entry.get("MESSAGE_ID"))))
    if found is None:
        return None
    return Event(_at(entry), found[0], f"systemd: {entry.get('MESSAGE')}", found[1])


def _request_event(at: float, text: str) -> Event:
    """A line of the root-side trigger: the request the web app passed on."""
    try:
        request = json.loads(text.removeprefix("request: "))
    except ValueError:
        request = {}
    if request.get("action") == "check":
        return Event(at, Step.CHECK, "picohub-update-trigger (root) got the app's request: check")
    what = f"{request.get('action', '?')} {request.get('version') or '(the newest release)'}"
    return Event(at, Step.TRIGGER, f"picohub-update-trigger (root) got the app's request: {what}")


class _UpdaterLines:
    """Reads picohub-update's lines in order; the step a line belongs to can depend on
    the lines before it (a line the reader does not know stays in the current step)."""

    def __init__(self, installed: str) -> None:
        self.installed = installed
        self.step = Step.CHECK
        self.fetched: list[int] = []  # the sizes of the new release's packages
        self.verified = False

    def read(self, at: float, level: str | None, text: str) -> list[Event]:
        if text.startswith("request: "):
            return [_request_event(at, text)]
        package = _FETCHING_PACKAGE.fullmatch(text)
        if package is not None:
            return [self._package(at, package)]
        for prefix, handle in (
            ("checking for a release", self._checking),
            ("fetching release ", self._fetching),
            ("verified", self._verified),  # should the updater ever log it itself
            ("installing ", self._installing),
            ("waiting for picohub ", self._waiting),
            ("updated to ", self._updated),
        ):
            if text.startswith(prefix):
                return handle(at, text)
        if text.startswith(("up to date", "rolled back to", "nothing was changed")) or (
            "failed" in text
        ):
            self.step = Step.DONE if text.startswith("up to date") else Step.FAILED
        elif level in ("WARNING", "ERROR", "CRITICAL"):
            return [Event(at, Step.WARNING, text)]
        return [Event(at, self.step, text)]

    def _checking(self, at: float, text: str) -> list[Event]:
        self.step = Step.CHECK
        return [Event(at, self.step, f"{text} (InRelease, signature checked with the pinned key)")]

    def _fetching(self, at: float, text: str) -> list[Event]:
        self.step = Step.DOWNLOAD
        return [Event(at, self.step, text)]

    def _package(self, at: float, found: re.Match[str]) -> Event:
        self.step = Step.DOWNLOAD
        size, name, version = int(found["size"]), found["package"], found["version"]
        if version == self.installed:
            why = "the installed release, kept for a rollback"
            return Event(at, self.step, f"  {name} {version}: {size:,} bytes ({why})")
        self.fetched.append(size)
        return Event(at, self.step, f"  {name} {version}: {size:,} bytes")

    def _verified(self, at: float, text: str) -> list[Event]:
        self.step, self.verified = Step.VERIFY, True
        return [Event(at, self.step, text)]

    def _installing(self, at: float, text: str) -> list[Event]:
        events = []
        if not self.verified and self.fetched:
            events.append(
                Event(
                    at,
                    Step.VERIFY,
                    f"{len(self.fetched)} packages, {sum(self.fetched):,} bytes: size and "
                    "SHA-256 as the signed InRelease says (checked as each download ended)",
                )
            )
        self.step = Step.INSTALL
        what = text.removeprefix("installing ")
        return [*events, Event(at, self.step, f"apt-get install {what}")]

    def _waiting(self, at: float, text: str) -> list[Event]:
        self.step = Step.HEALTH
        return [Event(at, Step.INSTALL, "apt-get install finished"), Event(at, self.step, text)]

    def _updated(self, at: float, text: str) -> list[Event]:
        self.step = Step.DONE
        version = text.removeprefix("updated to ")
        return [
            Event(at, Step.HEALTH, f"confirmed: /healthz reports {version}"),
            Event(at, self.step, text, Key.UPDATED),
        ]


def journal_events(entries: Iterable[Mapping[str, Any]], *, installed: str) -> list[Event]:
    """The steps of an update in the journal: the lines of picohub-update (the trigger and
    the transient unit) and what systemd did to the units involved.

    ``installed`` is the version before the update: its packages are fetched first, as
    the rollback target. The updater logs no line of its own for the verification (each
    package is checked against the signed index as its download ends, and apt checks the
    signature again); it is shown where it is complete, when the install starts.
    """
    events: list[Event] = []
    lines = _UpdaterLines(installed)
    for entry in entries:
        unit = _unit_event(entry)
        if unit is not None:
            events.append(unit)
        elif entry.get("SYSLOG_IDENTIFIER") == "picohub-update":
            found = _LOGGED.fullmatch(str(entry.get("MESSAGE", "")))
            if found is not None:
                events += lines.read(_at(entry), found["level"], found["text"])
    return events


def web_events(polls: Sequence[Poll]) -> list[Event]:
    """What the frontend saw while polling GET /api/system: when it got no answer, when
    answers came back, and the last answer (the status file, through the app)."""
    events: list[Event] = []
    down: Poll | None = None
    for poll in polls:
        if poll.status != 200 and down is None:
            down = poll
            said = "no connection" if poll.status == 0 else f"HTTP {poll.status}"
            events.append(Event(poll.at, Step.WEB, f"GET /api/system: no answer ({said})"))
        elif poll.status == 200 and down is not None:
            down = None
            events.append(Event(poll.at, Step.WEB, "GET /api/system answers again"))
    last = polls[-1] if polls else None
    if last is not None and last.body is not None:
        status = last.body["update"]["status"]
        events.append(
            Event(
                last.at,
                Step.WEB,
                f"GET /api/system: running {last.body['running']}; status file: "
                f"{status['phase']}, {status['message']!r} (updated_at {status['updated_at']})",
            )
        )
    return events


def render(events: Sequence[Event]) -> list[str]:
    """The timeline: one line per event, in time order, as seconds from the first."""
    if not events:
        return ["  (no events)"]
    ordered = sorted(events, key=lambda event: event.at)  # stable: journal order kept
    origin = ordered[0].at
    return [f"  {event.at - origin:+8.2f} s  {event.step:<8}  {event.text}" for event in ordered]


def _first(events: Sequence[Event], key: Key, after: float = 0.0) -> Event | None:
    return next(
        (e for e in sorted(events, key=lambda e: e.at) if e.key is key and e.at >= after), None
    )


def summary(events: Sequence[Event], polls: Sequence[Poll]) -> list[str]:
    """How long the update took, how long the app was down, what the page noticed."""
    lines = []
    pressed, updated = _first(events, Key.PRESSED_INSTALL), _first(events, Key.UPDATED)
    if pressed is not None and updated is not None:
        lines.append(f"Install pressed -> updated: {updated.at - pressed.at:.1f} s")
    stopped = _first(events, Key.APP_STOPPED)
    started = _first(events, Key.APP_STARTED, after=stopped.at) if stopped else None
    if stopped is not None and started is not None:
        lines.append(f"picohub.service stopped -> started again: {started.at - stopped.at:.2f} s")
    failed = sum(1 for poll in polls if poll.status != 200)
    if polls and not failed:
        lines.append(
            f"the page's {len(polls)} polls of GET /api/system were all answered, through "
            "the restart too (picohub-handover.service answers while the app restarts)"
        )
    elif polls:
        lines.append(
            f"{failed} of the page's {len(polls)} polls of GET /api/system went unanswered"
        )
    return lines
