"""When the boot-time recovery, and the unit's after-run, have something to do: read
from the transaction journal (and, for a hub last updated by a release from before the
journal, from the status file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.settings import Settings
from picohub.update import recover
from picohub.update.config import UpdateConfig
from picohub.update.journal import Journal, Kind, Origin, Result, Step
from picohub.update.recover import after_run, how_it_stopped, interrupted, open_transaction
from picohub.update.status import Phase, Status, read_status, write_status


def _settings(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, update_state_dir=tmp_path / "update")


def _begun(here: Settings, step: Step) -> None:
    journal = Journal(here)
    txn = journal.begin(Kind.UPDATE, Origin.PAGE, "1.0.0", "1.1.0", "checking")
    if step is not Step.STARTED:
        journal.step(txn, step, step.value)


def test_nothing_to_recover_without_an_update(settings: Settings, tmp_path: Path) -> None:
    assert interrupted(_settings(settings, tmp_path)) is None


def test_ended_transactions_need_nothing(settings: Settings, tmp_path: Path) -> None:
    here = _settings(settings, tmp_path)
    journal = Journal(here)
    for result in Result:
        txn = journal.begin(Kind.UPDATE, Origin.SHELL, "1.0.0", "1.1.0", "checking")
        journal.end(journal.step(txn, Step.INSTALLING, "installing"), result, "ended")
        assert interrupted(here) is None, result
        assert open_transaction(here) is None


@pytest.mark.parametrize("step", [Step.INSTALLING, Step.CONFIRMING, Step.CONVERGING])
def test_a_transaction_that_reached_dpkg_and_never_ended_was_interrupted(
    settings: Settings, tmp_path: Path, step: Step
) -> None:
    here = _settings(settings, tmp_path)
    _begun(here, step)
    assert interrupted(here) == "the update to 1.1.0 did not finish"


def test_a_half_installed_package_needs_recovery_whatever_the_journal(
    settings: Settings, tmp_path: Path
) -> None:
    here = _settings(settings, tmp_path)
    status = here.dpkg_admin_dir / "status"
    status.write_text(
        status.read_text().replace("install ok installed", "install reinstreq half-installed")
    )
    assert interrupted(here) == "dpkg left picohub half-installed"


def test_a_run_of_a_release_before_the_journal_is_taken_from_its_status(
    settings: Settings, tmp_path: Path
) -> None:
    # The first update to a release with the journal runs the old release's updater.
    here = _settings(settings, tmp_path)
    write_status(here.update_status, Status(Phase.INSTALLING, "", None, "1.0.0", "1.1.0"))
    txn = open_transaction(here)
    assert txn is not None
    assert (txn.kind, txn.step, txn.from_release, txn.to_release) == (
        Kind.UPDATE, Step.INSTALLING, "1.0.0", "1.1.0",
    )  # fmt: skip
    write_status(here.update_status, Status(Phase.INSTALLING, "", None, "1.1.0", "1.0.0"))
    here.update_journal.unlink()
    back = open_transaction(here)
    assert back is not None and back.kind is Kind.ROLLBACK


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


def test_a_run_that_ended_its_transaction_is_left_alone(settings: Settings, tmp_path: Path) -> None:
    here = _settings(settings, tmp_path)
    journal = Journal(here)
    for result in Result:
        txn = journal.begin(Kind.UPDATE, Origin.SHELL, "1.0.0", "1.1.0", "checking")
        ended = journal.end(txn, result, "as it ended")
        written = read_status(here.update_status)
        assert after_run(UpdateConfig(), here, {"EXIT_CODE": "exited"}) == ExitCode.OK
        assert read_status(here.update_status) == written, result
        assert journal.read() == ended


def test_a_run_killed_before_it_installed_anything_is_recorded_as_failed(
    settings: Settings, tmp_path: Path
) -> None:
    here = _settings(settings, tmp_path)
    for step in (Step.STARTED, Step.DOWNLOADING, Step.VERIFIED):
        _begun(here, step)
        killed = {"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"}
        assert after_run(UpdateConfig(), here, killed) == ExitCode.OK
        said = (
            "the update stopped before it installed anything (it was killed by signal KILL); "
            "nothing was changed"
        )
        status = read_status(here.update_status)
        assert (status.phase, status.message) == (Phase.FAILED, said), step
        txn = Journal(here).read()
        assert txn is not None and txn.result is Result.FAILED and txn.step is Step.ENDED


def test_a_run_that_failed_before_its_transaction_began_is_not_shown_running(
    settings: Settings, tmp_path: Path
) -> None:
    # The trigger shows "starting the update" until the run's first step; a run that
    # exits before it (the cache busy) must not leave the page waiting.
    here = _settings(settings, tmp_path)
    journal = Journal(here)
    journal.end(journal.begin(Kind.UPDATE, Origin.PAGE, "1.0.0", None, "x"), Result.DONE, "done")
    write_status(here.update_status, Status(Phase.CHECKING, "starting the update", None, "1.0.0"))
    exited = {"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "2"}
    assert after_run(UpdateConfig(), here, exited) == ExitCode.OK
    status = read_status(here.update_status)
    assert status.phase is Phase.FAILED and "nothing was changed" in status.message


def test_a_run_cut_off_by_a_shutdown_is_left_to_the_next_boot(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing can start while the system stops: the boot-time recover must still see
    # "installing" and finish the work.
    here = _settings(settings, tmp_path)
    monkeypatch.setattr(recover, "_shutting_down", lambda: True)
    _begun(here, Step.INSTALLING)
    written = read_status(here.update_status)
    stopped = {"SERVICE_RESULT": "success", "EXIT_CODE": "killed", "EXIT_STATUS": "TERM"}
    assert after_run(UpdateConfig(), here, stopped) == ExitCode.OK
    assert read_status(here.update_status) == written
    assert interrupted(here) == "the update to 1.1.0 did not finish"
