"""When the boot-time recovery, and the unit's after-run, have something to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.settings import Settings
from picohub.update import recover
from picohub.update.config import UpdateConfig
from picohub.update.recover import after_run, cut_off_before_install, how_it_stopped, interrupted
from picohub.update.status import Phase, Status, read_status, write_status


def _settings(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, update_state_dir=tmp_path / "update")


def test_nothing_to_recover_without_an_update(settings: Settings, tmp_path: Path) -> None:
    assert interrupted(_settings(settings, tmp_path)) is None


def test_finished_updates_need_nothing(settings: Settings, tmp_path: Path) -> None:
    here = _settings(settings, tmp_path)
    for phase in (Phase.DONE, Phase.FAILED, Phase.ROLLED_BACK, Phase.DOWNLOADED):
        write_status(here.update_status, Status(phase, "", None, "1.0.0", "1.1.0"))
        assert interrupted(here) is None, phase


def test_an_install_that_never_reported_its_end_was_interrupted(
    settings: Settings, tmp_path: Path
) -> None:
    here = _settings(settings, tmp_path)
    write_status(here.update_status, Status(Phase.INSTALLING, "", None, "1.0.0", "1.1.0"))
    assert interrupted(here) == "the update to 1.1.0 did not finish"


def test_a_half_installed_package_needs_recovery_whatever_the_status(
    settings: Settings, tmp_path: Path
) -> None:
    here = _settings(settings, tmp_path)
    status = here.dpkg_admin_dir / "status"
    status.write_text(
        status.read_text().replace("install ok installed", "install reinstreq half-installed")
    )
    assert interrupted(here) == "dpkg left picohub half-installed"


def test_an_update_cut_off_while_downloading_is_recorded_as_failed() -> None:
    for phase in (Phase.CHECKING, Phase.DOWNLOADING):
        ended = cut_off_before_install(Status(phase, "", 0.5, "1.0.0", "1.1.0"))
        assert ended is not None, phase
        assert ended.phase is Phase.FAILED
        assert "nothing was changed" in ended.message
        assert ended.installed == "1.0.0"


def test_a_finished_or_installing_update_is_not_rewritten_as_cut_off() -> None:
    for phase in (Phase.INSTALLING, Phase.DONE, Phase.ROLLED_BACK, Phase.IDLE):
        assert cut_off_before_install(Status(phase, "", None, "1.0.0", "1.1.0")) is None, phase


# -- after a run of the transient unit ----------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "said"),
    [
        ({"SERVICE_RESULT": "timeout", "EXIT_CODE": "killed", "EXIT_STATUS": "TERM"},
         "it went past its unit's time limit"),
        ({"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"},
         "it was killed by signal KILL"),
        ({"SERVICE_RESULT": "core-dump", "EXIT_CODE": "dumped", "EXIT_STATUS": "SEGV"},
         "it was killed by signal SEGV"),
        ({"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "1"},
         "it exited with status 1"),
        ({"SERVICE_RESULT": "success", "EXIT_CODE": "exited", "EXIT_STATUS": "0"},
         "it ended without recording how"),
        ({}, "it ended without recording how"),
    ],
)  # fmt: skip
def test_how_a_run_stopped_is_said_from_what_systemd_passes(
    environment: dict[str, str], said: str
) -> None:
    assert how_it_stopped(environment) == said


def test_a_run_that_recorded_its_end_is_left_alone(settings: Settings, tmp_path: Path) -> None:
    here = _settings(settings, tmp_path)
    for phase in (Phase.DONE, Phase.FAILED, Phase.ROLLED_BACK, Phase.DOWNLOADED, Phase.IDLE):
        written = write_status(here.update_status, Status(phase, "as it ended", None, "1.0.0"))
        assert after_run(UpdateConfig(), here, {"EXIT_CODE": "exited"}) == ExitCode.OK
        assert read_status(here.update_status) == written, phase


def test_a_run_killed_before_it_installed_anything_is_recorded_as_failed(
    settings: Settings, tmp_path: Path
) -> None:
    here = _settings(settings, tmp_path)
    for phase in (Phase.CHECKING, Phase.DOWNLOADING):
        write_status(here.update_status, Status(phase, "at work", 0.4, "1.0.0", "1.1.0"))
        killed = {"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"}
        assert after_run(UpdateConfig(), here, killed) == ExitCode.OK
        status = read_status(here.update_status)
        assert status.phase is Phase.FAILED
        assert status.message == (
            "the update stopped before it installed anything (it was killed by signal KILL); "
            "nothing was changed"
        )


def test_a_run_cut_off_by_a_shutdown_is_left_to_the_next_boot(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing can start while the system stops: the boot-time recover must still see
    # "installing" and finish the work.
    here = _settings(settings, tmp_path)
    monkeypatch.setattr(recover, "_shutting_down", lambda: True)
    written = write_status(here.update_status, Status(Phase.INSTALLING, "", None, "1.0.0", "1.1.0"))
    stopped = {"SERVICE_RESULT": "success", "EXIT_CODE": "killed", "EXIT_STATUS": "TERM"}
    assert after_run(UpdateConfig(), here, stopped) == ExitCode.OK
    assert read_status(here.update_status) == written
    assert interrupted(here) == "the update to 1.1.0 did not finish"
