"""The transaction journal: each step replaces it whole, it reads back as written, and
the page's status is a view of it."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update.journal import Journal, Kind, Origin, Result, Step, Transaction
from picohub.update.snapshot import Snapshot
from picohub.update.status import Phase, read_status


@pytest.fixture
def journal(settings: Settings, tmp_path: Path) -> Journal:
    return Journal(replace(settings, update_state_dir=tmp_path / "update"))


def test_a_transaction_round_trips_through_its_json() -> None:
    snapshot = Snapshot(Path("/var/lib/picohub-update/snapshots/t.db"), 3, "2026-12-02T10:15:00Z")
    txn = Transaction(
        "t", Kind.BUNDLE, Origin.PAGE, "1.0.0", "1.1.0", Step.CONVERGING, "m", "why",
        "2026-12-02T10:00:00Z", "2026-12-02T10:01:00Z", snapshot, "1.0.0", Result.ROLLED_BACK,
    )  # fmt: skip
    assert Transaction.from_json(json.loads(json.dumps(txn.to_json()))) == txn


@pytest.mark.parametrize(
    "broken",
    [[], {"id": "t"}, {"id": 1, "kind": "update", "origin": "shell", "step": "started"},
     {"id": "t", "kind": "explode", "origin": "shell", "step": "started"},
     {"id": "t", "kind": "update", "origin": "shell", "step": "started", "result": "maybe"}],
)  # fmt: skip
def test_anything_else_is_refused_by_name(broken: object) -> None:
    with pytest.raises(ValueError):
        Transaction.from_json(broken)


def test_each_step_is_on_disk_before_its_work_and_the_status_follows(journal: Journal) -> None:
    txn = journal.begin(Kind.UPDATE, Origin.TIMER, "1.0.0", None, "checking for a release")
    assert journal.current() == txn and txn.open
    assert read_status(journal.settings.update_status).phase is Phase.CHECKING
    txn = journal.step(txn, Step.DOWNLOADING, "fetching release 1.1.0", to_release="1.1.0")
    assert journal.read() == txn
    status = read_status(journal.settings.update_status)
    assert (status.phase, status.target, status.installed) == (Phase.DOWNLOADING, "1.1.0", "1.0.0")
    txn = journal.step(txn, Step.INSTALLING, "installing picohub 1.1.0")
    assert read_status(journal.settings.update_status).phase is Phase.INSTALLING
    ended = journal.end(txn, Result.DONE, "updated to 1.1.0", installed="1.1.0")
    assert journal.current() is None and journal.read() == ended
    status = read_status(journal.settings.update_status)
    assert (status.phase, status.message, status.installed) == (
        Phase.DONE, "updated to 1.1.0", "1.1.0",
    )  # fmt: skip
    assert journal.path.stat().st_mode & 0o777 == 0o600  # root's
    files = sorted(p.name for p in journal.path.parent.iterdir())
    assert files == ["history.json", "journal.json", "status.json"]


def test_a_damaged_journal_reads_as_none_and_says_so(
    journal: Journal, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command's main() may have configured picohub's logger already (not propagating).
    monkeypatch.setattr(logging.getLogger("picohub"), "propagate", True)
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text("{half")
    assert journal.read() is None
    assert "cannot be read" in caplog.text


def test_the_last_snapshot_stays_on_record_through_later_transactions(
    journal: Journal,
) -> None:
    # An update that finds nothing new, or a refused bundle, between the update and a
    # rollback must not lose what the rollback needs; an update that installs takes its
    # own (apply.install_and_confirm).
    snapshot = Snapshot(Path("/s.db"), 3, "2026-12-02T10:15:00Z")
    txn = journal.begin(Kind.UPDATE, Origin.SHELL, "1.0.0", "1.1.0", "x")
    journal.end(
        journal.step(txn, Step.VERIFIED, "v", snapshot=snapshot, snapshot_release="1.0.0"),
        Result.DONE,
        "updated",
    )
    back = journal.begin(Kind.ROLLBACK, Origin.PAGE, "1.1.0", "1.0.0", "rolling back")
    assert (back.snapshot, back.snapshot_release) == (snapshot, "1.0.0")
    journal.end(back, Result.ROLLED_BACK, "rolled back")
    again = journal.begin(Kind.BUNDLE, Origin.SHELL, "1.0.0", None, "opening the bundle")
    assert (again.snapshot, again.snapshot_release) == (snapshot, "1.0.0")
    assert again.kept_aside is None
