"""The update history: one entry for every transaction that ended (an update from the
page, a shell, a timer, the network coming up or a fleet server, a bundle, a rollback, a
recovery at boot) and for every automatic run that installed nothing, kept
in ``/var/lib/picohub-update/history.json`` across upgrades, newest last, at most
:data:`MAX_ENTRIES` (the oldest dropped). The app reads it for the system page."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from picohub.files import write_atomically

log = logging.getLogger(__name__)

MAX_ENTRIES = 200
_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Entry:
    at: str  # when it started
    origin: str  # who started it: page, shell, timer, network, fleet, boot
    # update, bundle, rollback, recovery; "check" for an automatic run that installed
    # nothing (up to date, held, skipped, downloaded for the window)
    kind: str
    from_release: str | None
    to_release: str | None
    result: str  # done, rolled-back, failed
    message: str  # how it ended, and why
    duration_s: float | None
    downloaded_bytes: int

    def same_outcome(self, other: Entry) -> bool:
        """Whether both entries say the same thing of the same releases, whoever started
        them (the daily timer's and the network's runs fold into one)."""
        return (self.kind, self.from_release, self.to_release, self.result, self.message) == (
            other.kind,
            other.from_release,
            other.to_release,
            other.result,
            other.message,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "origin": self.origin,
            "kind": self.kind,
            "from_release": self.from_release,
            "to_release": self.to_release,
            "result": self.result,
            "message": self.message,
            "duration_s": self.duration_s,
            "downloaded_bytes": self.downloaded_bytes,
        }

    @classmethod
    def from_json(cls, data: object) -> Entry:
        """ValueError for anything :meth:`to_json` did not write."""
        if not isinstance(data, dict):
            raise ValueError("a history entry is a JSON object")
        try:
            duration = data.get("duration_s")
            return cls(
                at=str(data["at"]),
                origin=str(data["origin"]),
                kind=str(data["kind"]),
                from_release=_optional(data.get("from_release")),
                to_release=_optional(data.get("to_release")),
                result=str(data["result"]),
                message=str(data.get("message", "")),
                duration_s=None if duration is None else float(duration),
                downloaded_bytes=int(data.get("downloaded_bytes", 0)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a history entry: {exc}") from exc


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def duration(started_at: str, ended_at: str) -> float | None:
    """Seconds between two of the journal's times; None when either is not one."""
    try:
        start, end = datetime.strptime(started_at, _TIME), datetime.strptime(ended_at, _TIME)
    except ValueError:
        return None
    return (end - start).total_seconds()


@dataclass(frozen=True)
class History:
    path: Path

    def read(self) -> list[Entry]:
        """The entries, oldest first; entries this release cannot read are skipped, and
        a file that cannot be read is an empty history (with a warning)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("the update history %s cannot be read: %s", self.path, exc)
            return []
        entries = []
        for item in data.get("entries", []) if isinstance(data, dict) else []:
            try:
                entries.append(Entry.from_json(item))
            except ValueError:
                continue
        return entries

    def append(self, entry: Entry, *, fold_repeat: bool = False) -> None:
        """Add ``entry``; with ``fold_repeat`` it replaces the last entry when that one
        said the same (a daily "up to date" is one entry, not one a day)."""
        entries = self.read()
        if fold_repeat and entries and entries[-1].same_outcome(entry):
            entries.pop()
        entries = [*entries, entry][-MAX_ENTRIES:]
        document = {"entries": [e.to_json() for e in entries]}
        write_atomically(self.path, json.dumps(document, indent=1) + "\n")
