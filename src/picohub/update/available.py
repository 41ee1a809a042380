"""The last check's answer, one record for every reader: ``picohub-update check --json``,
the file the web app shows (``available.json``, written by root, readable by the app) and
the API. Which release is available, its notes, and which packages it would change."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from debian.debian_support import Version

from picohub.files import write_atomically
from picohub.settings import Settings
from picohub.update.check import Change, CheckResult
from picohub.update.phasing import Phasing
from picohub.update.status import now


@dataclass(frozen=True)
class Available:
    version: str
    changes: tuple[Change, ...]
    notes: str | None
    checked_at: str
    not_modified: bool = False  # the release's index answered 304
    date_refusal: str | None = None  # why its date is not believed: no automatic install
    phasing: Phasing | None = None  # how the release is phased for this hub

    @property
    def update_available(self) -> bool:
        """A release that changes something here: a person may install it."""
        return bool(self.changes)

    @property
    def packages(self) -> list[str]:
        """The packages the release changes here: what an install of it installs."""
        return [change.package for change in self.changes]

    @property
    def not_this_hubs_turn(self) -> str | None:
        """Why a phased release is not offered to this hub yet (not installed
        automatically, ``check`` exits 0); None when it is, or is not phased."""
        return None if self.phasing is None else self.phasing.why_not

    @property
    def offered_here(self) -> bool:
        """A release this hub takes: ``check`` exits 100 for it."""
        return self.update_available and self.not_this_hubs_turn is None

    @property
    def message(self) -> str:
        if not self.update_available:
            return f"up to date: release {self.version} changes nothing installed here"
        changes = ", ".join(
            f"{c.package} {c.installed or '(not installed)'} -> {c.offered}" for c in self.changes
        )
        said = f"release {self.version} is available: {changes}"
        if self.not_this_hubs_turn:
            said += f"; it is phased: {self.not_this_hubs_turn}"
        if self.date_refusal:
            said += f"; it is not installed automatically: {self.date_refusal}"
        return said

    @classmethod
    def of(cls, result: CheckResult) -> Available:
        return cls(
            result.version,
            result.changes,
            result.notes,
            now(),
            result.not_modified,
            result.date_refusal,
            result.phasing,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "update_available": self.update_available,
            "not_modified": self.not_modified,
            "changes": [
                {"package": c.package, "installed": c.installed, "offered": c.offered}
                for c in self.changes
            ],
            "notes": self.notes,
            "message": self.message,
            "checked_at": self.checked_at,
            "date_refusal": self.date_refusal,
            "phase": None if self.phasing is None else _phase_json(self.phasing),
        }

    @classmethod
    def from_json(cls, data: object) -> Available:
        """ValueError for anything :meth:`to_json` did not write."""
        if not isinstance(data, dict):
            raise ValueError("a check's answer is a JSON object")
        try:
            changes = tuple(
                Change(str(c["package"]), _optional(c["installed"]), str(c["offered"]))
                for c in data["changes"]
            )
            return cls(
                str(data["version"]),
                changes,
                _optional(data.get("notes")),
                str(data["checked_at"]),
                bool(data.get("not_modified", False)),
                _optional(data.get("date_refusal")),
                _phasing(data.get("phase")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a check's answer: {exc}") from exc

    def without_installed(self, installed: dict[str, str | None]) -> Available:
        """The answer without the changes installed since (by an update, or by hand):
        after an update to X, X is no longer offered."""
        left = tuple(
            change
            for change in self.changes
            if installed.get(change.package) is None
            or Version(change.offered) > Version(str(installed[change.package]))
        )
        return self if left == self.changes else replace(self, changes=left)


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _phase_json(phasing: Phasing) -> dict[str, Any]:
    return {
        "percentage": phasing.percentage,
        "bucket": phasing.bucket,
        "machine_id_known": phasing.machine_id_known,
        "included": phasing.included,
        "turn_at": phasing.turn_at,
        "message": phasing.why_not,
    }


def _phasing(data: object) -> Phasing | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError("a phase is a JSON object")
    return Phasing(
        int(data["percentage"]), int(data["bucket"]), bool(data.get("machine_id_known", True))
    )


def record_check(settings: Settings, result: CheckResult) -> Available:
    available = Available.of(result)
    write_atomically(settings.update_available, json.dumps(available.to_json(), indent=2) + "\n")
    return available


def read_available(settings: Settings) -> Available | None:
    """The last check's answer, or None when there was none (or it cannot be read)."""
    try:
        return Available.from_json(
            json.loads(settings.update_available.read_text(encoding="utf-8"))
        )
    except (OSError, ValueError):
        return None
