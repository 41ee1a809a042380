"""The hub's time floor: a moment the hub knows has passed, whatever its clock says.

A Raspberry Pi has no real-time clock: until it reaches a time server its clock is the
last shutdown time (fake-hwclock) or 1970, and a hub that is never online never corrects
it. So picohub judges a release's date against the latest of: the system clock, the floor
it kept (the clock and the newest plausible release ``Date`` it has verified, seen
before), the clock file of systemd-timesyncd, and the date of the installed picohub's
changelog (the hub runs software built no earlier). The floor only moves forward and is
kept across reboots (``time-floor.json``).

A release dated more than the configured bound beyond the floor (``max_future_days``, a
year by default) is implausible: it neither moves the floor nor is installed
automatically. One mistaken or malicious date must not lock every hub out of the
releases after it.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from picohub.files import write_atomically
from picohub.settings import Settings

log = logging.getLogger(__name__)

# A changelog entry's trailer: " -- Name <mail>  Tue, 24 Nov 2026 12:00:00 +0000".
_TRAILER = re.compile(rb"^ -- .*?>  (.+)$", re.MULTILINE)


def release_date(text: str | None) -> datetime | None:
    """A Release file's ``Date`` (RFC 2822, as apt writes it), or None when missing or
    unreadable."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class TimeFloor:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock

    def now(self) -> datetime:
        """The floor: the latest of the clock and of what the hub knows has passed."""
        known = [self.clock(), self._kept(), _mtime(self.settings.timesync_clock)]
        known.append(_changelog_date(self.settings.installed_changelog))
        return datetime.fromtimestamp(max(t for t in known if t is not None), UTC)

    def observe(self, date: datetime, max_ahead: timedelta) -> str | None:
        """A verified release dated ``date``: the floor moves up to it (and to the clock),
        unless ``date`` lies more than ``max_ahead`` beyond the floor; then the floor stays
        and the reason is returned."""
        floor = self.now()
        if date > floor + max_ahead:
            reason = (
                f"it is dated {date:%Y-%m-%d %H:%M} UTC, more than {max_ahead.days} days after"
                f" the hub's time floor ({floor:%Y-%m-%d %H:%M} UTC)"
            )
            log.warning("a release's date is implausible: %s", reason)
            return reason
        self._keep(max(floor, date))
        return None

    def _kept(self) -> float | None:
        try:
            data = json.loads(self.settings.update_time_floor.read_text(encoding="utf-8"))
            kept = float(data["floor"])
            datetime.fromtimestamp(kept, UTC)  # a moment, or ValueError/OverflowError
            return kept
        except FileNotFoundError:
            return None
        except (OSError, ValueError, OverflowError, KeyError, TypeError) as exc:
            # The other sources still stand; the next observation writes it again.
            log.warning(
                "ignoring the damaged time floor %s: %s", self.settings.update_time_floor, exc
            )
            return None

    def _keep(self, floor: datetime) -> None:
        kept = self._kept()
        if kept is not None and floor.timestamp() <= kept:
            return
        write_atomically(
            self.settings.update_time_floor,
            json.dumps({"floor": floor.timestamp(), "at": floor.isoformat()}) + "\n",
        )


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _changelog_date(path: Path) -> float | None:
    """The date of the newest entry of a Debian changelog (gzip-compressed)."""
    try:
        with gzip.open(path) as stream:
            head = stream.read(64 * 1024)
    except (OSError, EOFError):
        return None
    found = _TRAILER.search(head)
    moment = release_date(found.group(1).decode("ascii", "replace")) if found else None
    return None if moment is None else moment.timestamp()
