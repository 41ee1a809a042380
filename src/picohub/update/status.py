"""The updater's status file: what the web app and ``picohub-update status`` show.

Written atomically (temp file, fsync, rename) so a reader never sees half of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from picohub.files import write_atomically


class Phase(StrEnum):
    IDLE = "idle"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


# The phases an update, a rollback or a fetch ends in.
ENDED = frozenset({Phase.DONE, Phase.FAILED, Phase.ROLLED_BACK})
# The updater is at work in these (the page shows progress, Install is refused).
RUNNING = frozenset({Phase.CHECKING, Phase.DOWNLOADING, Phase.INSTALLING})


@dataclass(frozen=True)
class Outcome:
    """How the last update (or rollback, or fetch) ended, and when."""

    phase: Phase
    message: str
    at: str


@dataclass(frozen=True)
class Status:
    phase: Phase = Phase.IDLE
    message: str = ""
    progress: float | None = None
    installed: str | None = None
    target: str | None = None
    updated_at: str = ""
    # Kept by write_status: the next update's first step must not lose how the last ended.
    last_result: Outcome | None = None

    @property
    def busy(self) -> bool:
        """The updater is at work: the page shows progress, Install is refused."""
        return self.phase in RUNNING

    @property
    def ended(self) -> bool:
        """The message is how the last run ended: the page shows it as the result."""
        return self.phase in ENDED or self.phase is Phase.DOWNLOADED

    def to_json(self) -> dict[str, Any]:
        """The status as the CLI's ``--json``, the status file and the API give it, with
        what the page needs to know of its phase (``busy``, ``ended``)."""
        return {**asdict(self), "busy": self.busy, "ended": self.ended}

    @classmethod
    def from_json(cls, data: object) -> Status:
        """The status :meth:`to_json` wrote. Fields it does not know are ignored: a newer
        release may have written them. ValueError when it is not a status."""
        if not isinstance(data, dict):
            raise ValueError("a status is a JSON object")
        try:
            known = {name: data[name] for name in _FIELDS if name in data}
            known["last_result"] = _outcome(known.get("last_result"))
            return cls(**{**known, "phase": Phase(data["phase"])})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a status: {exc}") from exc


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_status(path: Path, status: Status) -> Status:
    """Write ``status`` with the time and the last result: ``status`` itself when it is an
    end, otherwise the one the file had."""
    at = status.updated_at or now()
    last: Outcome | None = (
        Outcome(status.phase, status.message, at)
        if status.phase in ENDED
        else read_status(path).last_result
    )
    stamped = replace(status, updated_at=at, last_result=last)
    write_atomically(path, json.dumps(stamped.to_json(), indent=2, sort_keys=True) + "\n")
    return stamped


def read_status(path: Path) -> Status:
    """The last status written, or idle when there is none (or it cannot be read).
    Fields it does not know are ignored: a newer release may have written it."""
    try:
        return Status.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return Status()


def _outcome(data: object) -> Outcome | None:
    """The last result as written, or None when it is missing or not understood: it is
    never worth losing the status for."""
    if not isinstance(data, dict):
        return None
    try:
        return Outcome(Phase(data["phase"]), str(data["message"]), str(data["at"]))
    except (ValueError, KeyError):
        return None


_FIELDS = tuple(field.name for field in fields(Status))
