"""The status file the web app and ``picohub-update status`` read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update.cli import main
from picohub.update.status import Outcome, Phase, Status, read_status, write_status


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


def test_the_last_result_outlives_the_next_update_until_that_one_ends(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    rolled_back = write_status(path, Status(Phase.ROLLED_BACK, "rolled back to 1.0.0: unhealthy"))
    last = Outcome(Phase.ROLLED_BACK, "rolled back to 1.0.0: unhealthy", rolled_back.updated_at)
    assert rolled_back.last_result == last
    for phase in (Phase.CHECKING, Phase.DOWNLOADING, Phase.INSTALLING):
        write_status(path, Status(phase, phase.value, None, "1.0.0", "1.1.0"))
        assert read_status(path).last_result == last
    done = write_status(path, Status(Phase.DONE, "updated to 1.1.0", None, "1.1.0"))
    assert read_status(path).last_result == Outcome(Phase.DONE, "updated to 1.1.0", done.updated_at)


def test_a_status_file_from_another_release_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    older = {"phase": "done", "message": "updated to 1.1.0", "installed": "1.1.0"}
    path.write_text(json.dumps(older))
    assert read_status(path) == Status(Phase.DONE, "updated to 1.1.0", installed="1.1.0")
    newer = {**older, "phase": "installing", "eta_seconds": 12, "last_result": None}
    path.write_text(json.dumps(newer))
    assert read_status(path) == Status(Phase.INSTALLING, "updated to 1.1.0", installed="1.1.0")
    # A last result this release cannot read is dropped, not the status with it.
    for odd in ({"phase": "paused", "message": "", "at": "Z"}, {"phase": "done"}, "done", 7):
        path.write_text(json.dumps({**newer, "last_result": odd}))
        assert read_status(path) == Status(Phase.INSTALLING, "updated to 1.1.0", installed="1.1.0")


def test_picohub_update_status_shows_the_last_result_while_the_next_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path))
    path = Settings.from_environment().update_status
    failed = write_status(path, Status(Phase.FAILED, "no space left on /var/cache", None, "1.0.0"))
    write_status(path, Status(Phase.DOWNLOADING, "fetching picohub", 0.25, "1.0.0", "1.1.0"))

    main(["status"])
    assert capsys.readouterr().out.splitlines() == [
        "downloading: fetching picohub",
        "installed 1.0.0, target 1.1.0",
        f"last result ({failed.updated_at}): failed: no space left on /var/cache",
    ]
    main(["status", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["phase"] == "downloading"
    assert shown["last_result"] == {
        "phase": "failed",
        "message": "no space left on /var/cache",
        "at": failed.updated_at,
    }


def test_the_status_says_itself_whether_a_run_is_busy_or_ended() -> None:
    # The page keeps no list of phases: the server says which ones mean what.
    for phase in Phase:
        data = Status(phase, "m").to_json()
        assert data["busy"] is (phase in (Phase.CHECKING, Phase.DOWNLOADING, Phase.INSTALLING))
        ended = (Phase.DONE, Phase.FAILED, Phase.ROLLED_BACK, Phase.DOWNLOADED)
        assert data["ended"] is (phase in ended)
        assert Status.from_json(data) == Status(phase, "m")
