"""The updater's status file: what the web app and ``picohub-update status`` show.

Written atomically (temp file, fsync, rename) so a reader never sees half of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

# Moved to picohub.files (the credential files use it too); still importable from here,
# hence the explicit re-export mypy wants.
from picohub.files import write_atomically as write_atomically  # noqa: PLC0414


class Phase(StrEnum):
    IDLE = "idle"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


@dataclass(frozen=True)
class Status:
    phase: Phase = Phase.IDLE
    message: str = ""
    progress: float | None = None
    installed: str | None = None
    target: str | None = None
    updated_at: str = ""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_status(path: Path, status: Status) -> Status:
    stamped = Status(**{**asdict(status), "updated_at": status.updated_at or now()})
    write_atomically(path, json.dumps(asdict(stamped), indent=2, sort_keys=True) + "\n")
    return stamped


def read_status(path: Path) -> Status:
    """The last status written, or idle when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Status(**{**data, "phase": Phase(data["phase"])})
    except (OSError, ValueError, KeyError, TypeError):
        return Status()
