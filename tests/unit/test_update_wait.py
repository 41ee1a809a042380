"""``apply --wait`` says how its own run ended: by the status the run wrote, or, for a run
refused before it wrote one, by what it logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update.cli import main
from picohub.update.status import Phase, Status, write_status

REFUSED = "nothing was changed: release 1.2.3 would also install foo 1.0"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PICOHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PICOHUB_UPDATE_IN_UNIT", raising=False)
    return Settings.from_environment()


def _unit_that_writes(settings: Settings, status: Status | None) -> object:
    def start(argv: list[str], *, wait: bool) -> int:
        if status is not None:
            write_status(settings.update_status, status)
        return 1

    return start


def test_a_run_refused_like_the_one_before_in_the_same_second_says_its_own_status(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same refusal twice: the two status files say the same to the second.
    refused = Status(Phase.FAILED, REFUSED)
    write_status(settings.update_status, refused)
    unit = _unit_that_writes(settings, refused)
    monkeypatch.setattr("picohub.update.cli.start_in_unit", unit)
    assert main(["apply", "1.2.3", "--wait"]) == 1
    assert f"error: failed: {REFUSED}" in capsys.readouterr().err


def test_a_run_that_wrote_no_status_says_what_it_logged_not_the_last_runs_status(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(settings.update_status, Status(Phase.FAILED, REFUSED))
    monkeypatch.setattr("picohub.update.cli.start_in_unit", _unit_that_writes(settings, None))
    monkeypatch.setattr("picohub.update.cli.last_error_since", lambda started: "it logged this")
    assert main(["apply", "1.2.3", "--wait"]) == 1
    said = capsys.readouterr().err
    assert "error: it logged this" in said and REFUSED not in said
