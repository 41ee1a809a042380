"""An administrator's hold on automatic updates: ``picohub-update hold [--until WHEN]``,
``picohub-update release-hold``, or the page. A hold stops automatic installs (an
automatic run still checks and downloads), never an install a person asks for.

One file, ``/var/lib/picohub-update/hold.json`` (root writes it, the app reads it). A
hold whose end has passed is no hold.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from picohub.errors import UsageError
from picohub.files import write_atomically
from picohub.update.status import now

log = logging.getLogger(__name__)

_INSTANT = "%Y-%m-%dT%H:%M:%SZ"
_DURATION = re.compile(r"([1-9][0-9]{0,3})([dhw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# Longer than this is a typo, or a wish for "automatic = off".
LONGEST = timedelta(days=366)


@dataclass(frozen=True)
class Hold:
    held_at: str
    until: str | None  # UTC, as _INSTANT; None: until released
    by: str  # who set it: page or shell

    def active(self, moment: datetime) -> bool:
        return self.until is None or moment < _instant(self.until)

    @property
    def description(self) -> str:
        if self.until is None:
            return "held until released"
        local = _instant(self.until).astimezone()
        return f"held until {local:%Y-%m-%d %H:%M %Z}".strip()

    def to_json(self) -> dict[str, Any]:
        return {"held_at": self.held_at, "until": self.until, "by": self.by}

    @classmethod
    def from_json(cls, data: object) -> Hold:
        if not isinstance(data, dict):
            raise ValueError("a hold is a JSON object")
        until = data.get("until")
        try:
            if until is not None:
                _instant(str(until))
            return cls(str(data["held_at"]), None if until is None else str(until), str(data["by"]))
        except KeyError as exc:
            raise ValueError(f"not a hold: {exc}") from exc


def _instant(text: str) -> datetime:
    return datetime.strptime(text, _INSTANT).replace(tzinfo=UTC)


def parse_until(text: str, moment: datetime) -> datetime:
    """When a hold given as ``--until`` ends: a duration (``12h``, ``1d``, ``1w``), a
    local date (``2026-12-24``: the hold ends as that day begins) or a local time
    (``2026-12-24T18:00``). UsageError naming the forms otherwise, or for the past."""
    forms = "a duration (12h, 1d, 2w), a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)"
    duration = _DURATION.fullmatch(text.strip())
    if duration:
        end = moment + int(duration.group(1)) * _UNITS[duration.group(2)]
    else:
        try:
            end = datetime.fromisoformat(text.strip())
            if end.tzinfo is None:
                end = end.astimezone()  # local time, as the owner reads a clock
        except (ValueError, OverflowError):  # not a date, or one no clock can show
            raise UsageError(f"{text!r} is not a hold's end", hint=f"give {forms}") from None
    if end <= moment:
        raise UsageError(f"the hold's end {text!r} has passed", hint=f"give {forms}")
    if end - moment > LONGEST:
        raise UsageError(
            f"a hold ends within {LONGEST.days} days, not at {text!r}",
            hint="to stop automatic updates for good, set automatic = off in "
            "/etc/picohub/update.conf",
        )
    return end.astimezone(UTC)


@dataclass(frozen=True)
class Holds:
    path: Path

    def current(self, moment: datetime) -> Hold | None:
        """The hold in force at ``moment``; None when there is none or it has ended."""
        try:
            hold = Hold.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # Read as held: a damaged file must not let an install through.
            log.warning("the hold %s cannot be read (%s); treated as held", self.path, exc)
            return Hold(now(), None, "unknown")
        return hold if hold.active(moment) else None

    def hold(self, until: datetime | None, by: str) -> Hold:
        hold = Hold(now(), None if until is None else f"{until:{_INSTANT}}", by)
        # Readable by the app, which shows it on every page.
        write_atomically(self.path, json.dumps(hold.to_json()) + "\n", mode=0o644)
        return hold

    def release(self) -> bool:
        """Lift the hold; False when there was none."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
