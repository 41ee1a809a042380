"""The status file the web app and ``picohub-update status`` read."""

from __future__ import annotations

import json
from pathlib import Path

from picohub.update.status import Phase, Status, read_status, write_status


def test_a_written_status_reads_back_with_its_time(tmp_path: Path) -> None:
    path = tmp_path / "update" / "status.json"
    written = write_status(path, Status(Phase.DOWNLOADING, "fetching", 0.5, "1.0.0", "1.1.0"))
    assert written.updated_at.endswith("Z")
    assert read_status(path) == written
    assert path.stat().st_mode & 0o777 == 0o644  # the app (another user) reads it


def test_each_phase_replaces_the_last_without_leaving_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    for phase in (Phase.CHECKING, Phase.DOWNLOADING, Phase.INSTALLING, Phase.DONE):
        write_status(path, Status(phase, phase.value, None, "1.0.0", "1.1.0"))
        assert read_status(path).phase is phase
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_no_status_or_an_unreadable_one_is_idle(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(path) == Status()
    for broken in ("", "{", '{"phase": "exploded"}', "[]", json.dumps({"message": "x"})):
        path.write_text(broken)
        assert read_status(path).phase is Phase.IDLE, broken
