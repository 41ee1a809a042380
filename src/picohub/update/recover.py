"""The two ways a transaction ends without its run ending it: a power cut (``recover``, at
boot) and a run of the transient unit that was killed, stopped or timed out
(``after-run``). Both hand the open transaction to :mod:`picohub.update.converge`.

``picohub-recover.service`` runs ``recover`` before ``picohub.service`` starts, so the app
never serves from a half-installed release. Maintainer scripts must not start or restart
services meanwhile: picohub.service waits for this unit, so a restart from a postinst
would wait for ever; systemctl ignores such requests with ``SYSTEMD_OFFLINE=1``. The
health check needs the app running, so it happens after this unit: ``recover`` starts
itself again in the transient unit to wait for ``/healthz``, and converges back to the
release before if the recovered one does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from debian.debian_support import Version

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.installed import installed_version, unfinished_packages, unfinished_versions
from picohub.process import run
from picohub.settings import PACKAGE, RELEASE_PACKAGES, Settings
from picohub.update.cache import cache_lock
from picohub.update.config import UpdateConfig
from picohub.update.converge import Cause, Converger
from picohub.update.health import wait_healthy
from picohub.update.journal import (
    CHANGING,
    Journal,
    Kind,
    Origin,
    Result,
    Step,
    Transaction,
)
from picohub.update.status import RUNNING, Phase, Status, read_status, write_status
from picohub.update.unit import UNIT_WAIT_S, in_unit, is_running, start_in_unit

log = logging.getLogger(__name__)

RECOVERED = "recovered from an interrupted update"


def open_transaction(settings: Settings) -> Transaction | None:
    """The open transaction. A hub whose last run was made by a release from before the
    journal has only the status file: its run is taken from there."""
    journal = Journal(settings)
    if journal.path.exists():
        return journal.current()
    status = read_status(settings.update_status)
    if status.phase not in RUNNING:
        return None
    going_back = (
        status.installed is not None
        and status.target is not None
        and Version(status.target) < Version(status.installed)
    )
    step = Step.INSTALLING if status.phase is Phase.INSTALLING else Step.DOWNLOADING
    txn = journal.begin(
        Kind.ROLLBACK if going_back else Kind.UPDATE,
        Origin.SHELL,
        status.installed,
        status.target,
        status.message,
    )
    return journal.step(txn, step, status.message)


def interrupted(settings: Settings) -> str | None:
    """Why the last transaction needs finishing, or None when nothing was left half done."""
    unfinished = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    if unfinished:
        states = ", ".join(f"{name} {state}" for name, state in sorted(unfinished.items()))
        return f"dpkg left {states}"
    txn = open_transaction(settings)
    if txn is not None and txn.step in CHANGING:
        return f"the {txn.kind} to {txn.to_release or 'a new release'} did not finish"
    return None


def _end_stale_view(settings: Settings, message: str) -> None:
    """A status that says running while no transaction is open (a run that ended before
    its transaction began): the page would wait for ever."""
    status = read_status(settings.update_status)
    if status.phase in RUNNING:
        log.info("%s", message)
        write_status(settings.update_status, Status(Phase.FAILED, message, None, status.installed))


def recover(config: UpdateConfig, settings: Settings) -> int:
    """Outside the transient unit (at boot): bring dpkg's state whole again, then start
    the health check in the unit. Inside it: the health check, converging if it fails."""
    if in_unit():
        return _confirm(config, settings)
    if is_running():
        raise UsageError("an update is running; there is nothing to recover")
    reason = interrupted(settings)
    txn = open_transaction(settings)
    if reason is None and txn is None:
        _end_stale_view(
            settings,
            "an update was interrupted by a restart before it started; nothing was changed",
        )
        log.info("nothing to recover")
        return ExitCode.OK
    if txn is None:
        txn = _recovery(settings, reason or "dpkg left the hub half done")
    changing = txn.step in CHANGING or reason is not None
    log.info("recovering: %s", reason or "the update was interrupted")
    ended = Converger(config, settings).converge(
        txn,
        Cause.POWER_CUT,
        reason or "an update was interrupted by a restart before it installed anything",
        services_offline=True,
        confirm=False,
    )
    # The unit files on disk may have changed under the manager that booted with them.
    run(["systemctl", "daemon-reload"], timeout=120, check=False)
    if ended.result is Result.FAILED:
        return ExitCode.FAILURE if changing else ExitCode.OK
    if ended.open:
        start_in_unit(["recover"], wait=False)
    return ExitCode.OK


def _recovery(settings: Settings, reason: str) -> Transaction:
    """A transaction for what dpkg left half done with none open (a manual dpkg run):
    from the release the hub last ran to the one dpkg names."""
    named = sorted(unfinished_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir), key=Version)
    last = Journal(settings).read()
    ran = None
    if last is not None:
        ran = last.to_release if last.result is Result.DONE else last.from_release
    ran = ran or installed_version(PACKAGE, settings.dpkg_admin_dir)
    goal = named[-1] if named else ran
    journal = Journal(settings)
    txn = journal.begin(Kind.RECOVERY, Origin.BOOT, ran, goal, f"recovering: {reason}")
    return journal.step(txn, Step.INSTALLING, f"recovering: {reason}")


def _confirm(config: UpdateConfig, settings: Settings) -> int:
    """In the transient unit: the recovered release must answer /healthz, or the hub is
    converged back to the release before."""
    journal = Journal(settings)
    txn = journal.current()
    version = installed_version(PACKAGE, settings.dpkg_admin_dir)
    if version is None:
        raise PicohubError("picohub is not installed; nothing to confirm")
    if txn is None:
        log.info("no recovery to confirm")
        return ExitCode.OK
    try:
        wait_healthy(version, config.health_timeout)
    except PicohubError as exc:
        log.warning("the recovered release %s is not healthy: %s", version, exc)
        ended = Converger(config, settings).converge(
            txn, Cause.FAILED, f"the recovered release {version} was not healthy: {exc}"
        )
        return ExitCode.FAILURE if ended.result is Result.FAILED else ExitCode.OK
    said = f"{RECOVERED}: running {version}{txn.data_note}"
    journal.end(txn, Result.DONE, said, installed=version)
    return ExitCode.OK


# -- after a run of the transient unit ------------------------------------------------------


def how_it_stopped(environment: Mapping[str, str]) -> str:
    """Why the unit's run ended, from what systemd tells ExecStopPost."""
    status = environment.get("EXIT_STATUS", "")
    if environment.get("SERVICE_RESULT") == "timeout":
        return "it went past its unit's time limit"
    if environment.get("EXIT_CODE") in ("killed", "dumped"):
        return f"it was killed by signal {status}"
    if environment.get("EXIT_CODE") == "exited" and status not in ("", "0"):
        return f"it exited with status {status}"
    return "it ended without recording how"


def _shutting_down() -> bool:
    state = run(["systemctl", "is-system-running"], check=False, timeout=30).stdout.strip()
    return state == "stopping"


def after_run(config: UpdateConfig, settings: Settings, environment: Mapping[str, str]) -> int:
    """ExecStopPost of the transient unit, after every run. A run that ended its
    transaction (done, failed, rolled back) is left as it is. One that was killed, timed
    out or stopped did not, and may have left dpkg half done: converge puts the hub back
    on the release an update started from (a rollback's goal), or on the other.

    Not while the system shuts down: nothing can start then, so the boot-time ``recover``
    finishes the work, as after a power cut."""
    how = how_it_stopped(environment)
    if open_transaction(settings) is None:  # the common case: no need to wait for the cache
        _end_stale_view(
            settings,
            f"the update stopped before it installed anything ({how}); nothing was changed",
        )
        return ExitCode.OK
    if _shutting_down():
        log.warning("an update was cut off by a shutdown; the next boot finishes it")
        return ExitCode.OK
    with cache_lock(settings, UNIT_WAIT_S):
        txn = open_transaction(settings)
        if txn is None:
            return ExitCode.OK
        if txn.step in CHANGING:
            what = "rollback" if txn.kind is Kind.ROLLBACK else "update"
            reason = (
                f"the {what} to {txn.to_release or 'a new release'} stopped before it "
                f"finished ({how})"
            )
        else:
            reason = f"the update stopped before it installed anything ({how})"
        ended = Converger(config, settings).converge(txn, Cause.CUT_OFF, reason)
    failed = ended.result is Result.FAILED and txn.step in CHANGING
    return ExitCode.FAILURE if failed else ExitCode.OK
