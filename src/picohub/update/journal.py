"""The transaction journal: what an update, a rollback, a bundle or a recovery set out to
do, and how far it got. The truth for intent; dpkg's database stays the truth for the
packages.

One file, ``/var/lib/picohub-update/journal.json``, holds the current (or last)
transaction; every step replaces it atomically and fsync'ed before the step's work
starts, so after a power cut or a killed unit :mod:`picohub.update.converge` reads from it
alone what the run was doing. Each write also writes the status file, the page's view.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from picohub.files import write_atomically
from picohub.settings import Settings
from picohub.update.faultpoint import fault_point
from picohub.update.history import Entry, History, duration
from picohub.update.snapshot import Snapshot
from picohub.update.status import Phase, Status, now, write_status

log = logging.getLogger(__name__)


class Kind(StrEnum):
    UPDATE = "update"  # a release from the network
    BUNDLE = "bundle"  # a release from an offline bundle
    ROLLBACK = "rollback"  # back to the previous cached release, on request
    RECOVERY = "recovery"  # at boot, dpkg left half done with no transaction open


class Origin(StrEnum):
    """Who started the transaction."""

    PAGE = "page"
    SHELL = "shell"
    TIMER = "timer"  # picohub-update-auto.timer, or the maintenance window opening
    NETWORK = "network"  # NetworkManager: the hub got online
    FLEET = "fleet"
    BOOT = "boot"


class Step(StrEnum):
    """How far a transaction got, in order. Up to VERIFIED nothing was installed."""

    STARTED = "started"
    DOWNLOADING = "downloading"
    VERIFIED = "verified"  # the goal release is in the cache, verified
    INSTALLING = "installing"  # dpkg may run from here on
    CONFIRMING = "confirming"  # installed; waiting for /healthz
    CONVERGING = "converging"  # bringing the hub to a healthy release after a failure
    ENDED = "ended"


# The origins of automatic runs (picohub-update auto).
AUTOMATIC = frozenset({Origin.TIMER, Origin.NETWORK})

# The steps after which dpkg may have changed something.
CHANGING = frozenset({Step.INSTALLING, Step.CONFIRMING, Step.CONVERGING})


class Result(StrEnum):
    DONE = "done"  # healthy on the transaction's goal
    ROLLED_BACK = "rolled-back"  # healthy on the older release
    FAILED = "failed"  # nothing changed, or the hub could not be brought back

    @property
    def phase(self) -> Phase:
        return Phase(self.value)


@dataclass(frozen=True)
class Transaction:
    id: str
    kind: Kind
    origin: Origin
    from_release: str | None  # picohub's version when it started
    to_release: str | None  # the goal: the release being installed (or rolled back to)
    step: Step = Step.STARTED
    message: str = ""
    reason: str | None = None  # why it is converging: the failure or the interruption
    started_at: str = ""
    updated_at: str = ""
    snapshot: Snapshot | None = None  # the app's database, taken before dpkg ran
    snapshot_release: str | None = None  # the release it was taken under
    kept_aside: str | None = None  # the newer database, kept when the snapshot was restored
    downloaded_bytes: int = 0
    result: Result | None = None

    @property
    def open(self) -> bool:
        return self.result is None

    @property
    def data_note(self) -> str:
        """What the end message says of the database, when a snapshot was restored."""
        if self.kept_aside is None:
            return ""
        restored = "the database was restored from before the update"
        return f"; {restored}, the newer one kept as {self.kept_aside}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "origin": self.origin.value,
            "from_release": self.from_release,
            "to_release": self.to_release,
            "step": self.step.value,
            "message": self.message,
            "reason": self.reason,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "snapshot": None if self.snapshot is None else self.snapshot.to_json(),
            "snapshot_release": self.snapshot_release,
            "kept_aside": self.kept_aside,
            "downloaded_bytes": self.downloaded_bytes,
            "result": None if self.result is None else self.result.value,
        }

    @classmethod
    def from_json(cls, data: object) -> Transaction:
        """ValueError for anything :meth:`to_json` did not write."""
        if not isinstance(data, dict):
            raise ValueError("a transaction is a JSON object")
        try:
            snapshot = data.get("snapshot")
            result = data.get("result")
            return cls(
                id=_text(data["id"]),
                kind=Kind(data["kind"]),
                origin=Origin(data["origin"]),
                from_release=_optional(data.get("from_release")),
                to_release=_optional(data.get("to_release")),
                step=Step(data["step"]),
                message=_text(data.get("message", "")),
                reason=_optional(data.get("reason")),
                started_at=_text(data.get("started_at", "")),
                updated_at=_text(data.get("updated_at", "")),
                snapshot=None if snapshot is None else Snapshot.from_json(snapshot),
                snapshot_release=_optional(data.get("snapshot_release")),
                kept_aside=_optional(data.get("kept_aside")),
                downloaded_bytes=int(data.get("downloaded_bytes", 0)),
                result=None if result is None else Result(result),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a transaction: {exc}") from exc


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _optional(value: object) -> str | None:
    return None if value is None else _text(value)


def history_entry(txn: Transaction) -> Entry:
    return Entry(
        at=txn.started_at,
        origin=txn.origin.value,
        kind=txn.kind.value,
        from_release=txn.from_release,
        to_release=txn.to_release,
        result=(txn.result or Result.FAILED).value,
        message=txn.message,
        duration_s=duration(txn.started_at, txn.updated_at),
        downloaded_bytes=txn.downloaded_bytes,
    )


def status_view(txn: Transaction, installed: str | None) -> Status:
    """The page's view of a transaction: the status file's phase and message."""
    if txn.result is not None:
        phase = txn.result.phase
    elif txn.step in CHANGING:
        phase = Phase.INSTALLING
    elif txn.step is Step.STARTED:
        phase = Phase.CHECKING
    else:
        phase = Phase.DOWNLOADING
    return Status(phase, txn.message, None, installed, txn.to_release)


@dataclass(frozen=True)
class Journal:
    settings: Settings

    @property
    def path(self) -> Path:
        return self.settings.update_journal

    def read(self) -> Transaction | None:
        """The current or last transaction; None when there is none. One that cannot be
        read (a release that wrote another form, a damaged file) is None too, with a
        warning: dpkg's state still tells the recovery what to repair."""
        try:
            return Transaction.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("the transaction journal %s cannot be read: %s", self.path, exc)
            return None

    def current(self) -> Transaction | None:
        """The open transaction, if any."""
        txn = self.read()
        return txn if txn is not None and txn.open else None

    def begin(
        self,
        kind: Kind,
        origin: Origin,
        from_release: str | None,
        to_release: str | None,
        message: str,
    ) -> Transaction:
        """Open a new transaction. The last one's snapshot of the database stays on record
        (a later rollback may need it) until an update that installs takes its own."""
        log.info("%s", message)  # the journal of the unit tells the run's story
        last = self.read()
        stamp = now()
        txn = Transaction(
            id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
            kind=kind,
            origin=origin,
            from_release=from_release,
            to_release=to_release,
            message=message,
            started_at=stamp,
            snapshot=None if last is None else last.snapshot,
            snapshot_release=None if last is None else last.snapshot_release,
        )
        return self._write(txn, from_release)

    def step(
        self,
        txn: Transaction,
        step: Step,
        message: str,
        *,
        installed: str | None = None,
        **changes: Any,
    ) -> Transaction:
        """Record that ``txn`` reached ``step``, before the step's work starts."""
        log.info("%s", message)
        return self._write(replace(txn, step=step, message=message, **changes), installed)

    def end(
        self, txn: Transaction, result: Result, message: str, *, installed: str | None = None
    ) -> Transaction:
        log.info("%s", message)
        ended = self._write(
            replace(txn, step=Step.ENDED, result=result, message=message), installed
        )
        History(self.settings.update_history).append(history_entry(ended))
        return ended

    def _write(self, txn: Transaction, installed: str | None) -> Transaction:
        stamped = replace(txn, updated_at=now())
        write_atomically(self.path, json.dumps(stamped.to_json(), indent=2) + "\n", 0o600)
        shown = installed if installed is not None else txn.from_release
        write_status(self.settings.update_status, status_view(stamped, shown))
        fault_point(stamped.step)
        return stamped


def progress(settings: Settings, txn: Transaction, fraction: float, message: str) -> None:
    """Download progress, for the page only: not a step, the journal is not written."""
    status = replace(status_view(txn, txn.from_release), message=message)
    write_status(settings.update_status, replace(status, progress=round(fraction, 3)))
