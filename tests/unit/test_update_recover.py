"""When the boot-time recovery has something to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from picohub.settings import Settings
from picohub.update.recover import cut_off_before_install, interrupted
from picohub.update.status import Phase, Status, write_status


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
