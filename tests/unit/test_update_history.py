"""The update history: one entry per ended transaction, bounded, readable across
releases, shown by ``picohub-update history``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update import history
from picohub.update.cli import main
from picohub.update.history import MAX_ENTRIES, Entry, History
from picohub.update.journal import Journal, Kind, Origin, Result, Step


@pytest.fixture
def hub(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path / "update"))
    return replace(settings, update_state_dir=tmp_path / "update")


def _entry(number: int) -> Entry:
    return Entry(
        f"2026-12-02T10:{number // 60:02d}:{number % 60:02d}Z", "timer", "update", "1.0.0",
        "1.1.0", "done", f"run {number}", 2.0, 1000,
    )  # fmt: skip


def test_every_ended_transaction_appends_one_entry(hub: Settings) -> None:
    journal = Journal(hub)
    txn = journal.begin(Kind.UPDATE, Origin.TIMER, "1.0.0", None, "checking")
    txn = journal.step(txn, Step.VERIFIED, "verified", to_release="1.1.0", downloaded_bytes=90500)
    assert History(hub.update_history).read() == []  # nothing ended yet
    journal.end(txn, Result.ROLLED_BACK, "rolled back to 1.0.0 because it was unhealthy")
    [entry] = History(hub.update_history).read()
    assert (entry.origin, entry.kind, entry.from_release, entry.to_release) == (
        "timer", "update", "1.0.0", "1.1.0",
    )  # fmt: skip
    assert (entry.result, entry.downloaded_bytes) == ("rolled-back", 90500)
    assert entry.message == "rolled back to 1.0.0 because it was unhealthy"
    assert entry.duration_s is not None and entry.duration_s >= 0


def test_the_history_is_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    kept = History(tmp_path / "history.json")
    for number in range(MAX_ENTRIES + 5):
        kept.append(_entry(number))
    entries = kept.read()
    assert len(entries) == MAX_ENTRIES
    assert entries[0] == _entry(5) and entries[-1] == _entry(MAX_ENTRIES + 4)


def test_entries_a_release_cannot_read_are_skipped_not_the_history(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    good = _entry(1).to_json()
    newer = {**_entry(2).to_json(), "fleet_action": 7}  # a field a later release adds
    path.write_text(json.dumps({"entries": [good, {"at": "x"}, "nonsense", newer]}))
    assert History(path).read() == [_entry(1), _entry(2)]
    path.write_text("{broken")
    assert History(path).read() == []


def test_history_prints_each_run_and_its_json(
    hub: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history"]) == 0
    assert "no update has ended" in capsys.readouterr().out
    History(hub.update_history).append(_entry(3))
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    assert "update by timer, 1.0.0 -> 1.1.0: done in 2 s, 1000 bytes downloaded" in out
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [_entry(3).to_json()]


def test_a_duration_needs_two_of_the_journals_times() -> None:
    assert history.duration("2026-12-02T10:00:00Z", "2026-12-02T10:01:30Z") == 90
    assert history.duration("", "2026-12-02T10:01:30Z") is None
