"""``recover``: at boot, finish or undo an update that a power cut interrupted.

``picohub-recover.service`` runs this before ``picohub.service`` starts, so the app never
serves from a half-installed release. It finishes dpkg's work (``dpkg --configure -a``),
then installs the update's target release again from the verified cache (or, failing
that, the release that was installed before). Maintainer scripts must not start or
restart services meanwhile: picohub.service waits for this unit, so a restart from a
postinst would wait for ever. systemctl ignores such requests with ``SYSTEMD_OFFLINE=1``.

The health check needs the app running, so it happens after this unit: ``recover`` starts
itself again in the transient unit ``picohub-update`` to wait for ``/healthz`` and roll
back to the previous release if the recovered one does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from debian.debian_support import Version

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.installed import installed_version, unfinished_packages, unfinished_versions
from picohub.process import run
from picohub.repository import verify_repository
from picohub.settings import PACKAGE, RELEASE_PACKAGES, Settings
from picohub.update.apply import (
    UNIT_WAIT_S,
    in_unit,
    is_running,
    rollback,
    start_in_unit,
    wait_healthy,
)
from picohub.update.config import UpdateConfig
from picohub.update.fetch import Fetched, release_dir
from picohub.update.lock import cache_lock
from picohub.update.packages import install, is_downgrade, packages_on_hub, repair_dpkg
from picohub.update.status import RUNNING, Phase, Status, read_status, write_status

log = logging.getLogger(__name__)

RECOVERED = "recovered from an interrupted update"


def interrupted(settings: Settings) -> str | None:
    """Why the last update needs finishing, or None when nothing was left half done."""
    status = read_status(settings.update_status)
    unfinished = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    if unfinished:
        states = ", ".join(f"{name} {state}" for name, state in sorted(unfinished.items()))
        return f"dpkg left {states}"
    if status.phase is Phase.INSTALLING:
        return f"the update to {status.target or 'a new release'} did not finish"
    return None


def cut_off_before_install(status: Status) -> Status | None:
    """The status to record when a restart cut an update off while it was still checking
    or downloading (nothing was installed), or None. Left as it was, the page would wait
    for ever for an update that no longer runs."""
    if status.phase not in (Phase.CHECKING, Phase.DOWNLOADING):
        return None
    return Status(
        Phase.FAILED,
        "an update was interrupted by a restart before it installed anything; nothing was changed",
        None,
        status.installed,
    )


def _reporter(settings: Settings, before: Status) -> Callable[[Phase, str], None]:
    """Log a step of a recovery and record it, with the version dpkg has now (or, while
    none is whole, the one before) and the interrupted run's target."""

    def report(phase: Phase, message: str) -> None:
        log.info("%s", message)
        installed = installed_version(PACKAGE, settings.dpkg_admin_dir) or before.installed
        write_status(settings.update_status, Status(phase, message, None, installed, before.target))

    return report


def recover(config: UpdateConfig, settings: Settings) -> int:
    """Outside the transient unit (at boot): make dpkg's state whole again, then start
    the health check in the unit. Inside it: the health check, and rollback if it fails."""
    if in_unit():
        return _confirm(config, settings)
    if is_running():
        raise UsageError("an update is running; there is nothing to recover")
    before = read_status(settings.update_status)
    reason = interrupted(settings)
    if reason is None:
        ended = cut_off_before_install(before)
        if ended is not None:
            log.info("%s", ended.message)
            write_status(settings.update_status, ended)
        else:
            log.info("nothing to recover")
        return ExitCode.OK

    report = _reporter(settings, before)
    report(Phase.INSTALLING, f"recovering: {reason}")
    repair_dpkg(services_offline=True)
    # An update that was installing may have left its packages on different releases,
    # and --configure -a cannot finish a half-installed package: then install the
    # update's target again from the cache, else the release before it.
    needs_reinstall = before.phase is Phase.INSTALLING or bool(
        unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    )
    candidates = [v for v in (before.target, before.installed) if v] if needs_reinstall else []
    _make_whole(settings, candidates, services_offline=True)
    for version in dict.fromkeys(candidates):
        try:
            _reinstall(settings, version)
            break
        except PicohubError as exc:
            log.warning("cannot recover to release %s: %s", version, exc)
    left = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    # The unit files on disk may have changed under the manager that booted with them.
    run(["systemctl", "daemon-reload"], timeout=120, check=False)
    if left:
        report(
            Phase.FAILED,
            f"could not recover from an interrupted update ({reason}): "
            f"{', '.join(sorted(left))} still unfinished; recover with: dpkg --configure -a, "
            "then apt install ./ of the release's packages",
        )
        return ExitCode.FAILURE
    now = installed_version(PACKAGE, settings.dpkg_admin_dir)
    report(Phase.INSTALLING, f"{RECOVERED} ({reason}); waiting for picohub {now} to answer")
    start_in_unit(["recover"], wait=False)
    return ExitCode.OK


def _reinstall(
    settings: Settings, version: str, *, services_offline: bool = True, going_back: bool = False
) -> None:
    """Install the cached release ``version`` again, the packages of it that are cached
    (``going_back``: a downgrade, whatever dpkg now names as installed)."""
    directory = release_dir(settings, version)
    if not directory.is_dir():
        raise PicohubError(f"release {version} is not in the cache")
    verified = verify_repository(directory, settings.archive_keyring, partial=True)
    fetched = Fetched(version, directory, verified.present, 0)
    names = packages_on_hub(settings, fetched)
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    log.info("installing %s %s again from the cache", ", ".join(names), version)
    install(
        fetched,
        names,
        settings.archive_keyring,
        settings,
        downgrade=going_back or is_downgrade(installed, version),
        services_offline=services_offline,
        reinstall=bool(unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)),
    )


def _make_whole(settings: Settings, releases: Sequence[str], *, services_offline: bool) -> None:
    """What dpkg could not finish (a package killed mid-unpack) needs the archive of the
    version dpkg names for it before apt installs any other ("needs to be reinstalled, but
    I can't find an archive"): that one of ``releases`` is installed again first."""
    named = unfinished_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    for version in dict.fromkeys(v for v in releases if v in named):
        try:
            _reinstall(settings, version, services_offline=services_offline, going_back=True)
        except PicohubError as exc:
            log.warning("cannot make release %s whole again: %s", version, exc)


def _confirm(config: UpdateConfig, settings: Settings) -> int:
    """In the transient unit: the recovered release must answer /healthz, or it is
    rolled back to the previous cached release."""
    before = read_status(settings.update_status)
    version = installed_version(PACKAGE, settings.dpkg_admin_dir)
    if version is None:
        raise PicohubError("picohub is not installed; nothing to confirm")
    try:
        wait_healthy(version, config.health_timeout)
    except PicohubError as exc:
        log.warning("the recovered release %s is not healthy: %s", version, exc)
        return rollback(
            config, settings, reason=f"because the recovered release was not healthy: {exc}"
        )
    message = f"{RECOVERED}: running {version}"
    log.info("%s", message)
    write_status(settings.update_status, Status(Phase.DONE, message, None, version, before.target))
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
    """ExecStopPost of the transient unit, after every run. A run that ended recorded how
    (done, failed, rolled back). One that was killed, timed out or stopped did not, and
    may have left dpkg half done: the hub is put back on the older of the two releases
    the run was between (the one from before an update, the goal of a rollback), or on
    the other when that one cannot be installed or does not answer.

    Not while the system shuts down: nothing can start then, so the boot-time ``recover``
    finishes the work, as after a power cut."""
    if read_status(settings.update_status).phase not in RUNNING:
        return ExitCode.OK  # the common case: no need to wait for the cache
    if _shutting_down():
        log.warning("an update was cut off by a shutdown; the next boot finishes it")
        return ExitCode.OK
    with cache_lock(settings, UNIT_WAIT_S):
        return _put_back(config, settings, how_it_stopped(environment))


def _put_back(config: UpdateConfig, settings: Settings, how: str) -> int:
    before = read_status(settings.update_status)
    if before.phase not in RUNNING:
        return ExitCode.OK

    report = _reporter(settings, before)
    if before.phase is not Phase.INSTALLING:
        report(
            Phase.FAILED,
            f"the update stopped before it installed anything ({how}); nothing was changed",
        )
        return ExitCode.OK
    releases = sorted({v for v in (before.installed, before.target) if v}, key=Version)
    going_back = len(releases) == 2 and before.target == releases[0]
    what = (
        f"the {'rollback' if going_back else 'update'} to {before.target or 'a new release'} "
        f"stopped before it finished ({how})"
    )
    report(Phase.INSTALLING, f"{what}; putting back {' or '.join(releases) or 'a release'}")
    try:
        now = _first_that_answers(config, settings, releases)
    except Exception as exc:  # whatever it was, recorded: the page must not wait for ever
        report(
            Phase.FAILED,
            f"{what}, and putting the hub back failed: {exc}; recover with: dpkg "
            "--configure -a, then apt install ./ of the release's packages",
        )
        raise
    phase = Phase.ROLLED_BACK if Version(now) < Version(releases[-1]) else Phase.DONE
    report(phase, f"running {now}: {what}")
    return ExitCode.OK


def _first_that_answers(config: UpdateConfig, settings: Settings, releases: Sequence[str]) -> str:
    """Finish dpkg's work, then install each of ``releases`` from the cache in turn until
    one is whole and answers /healthz; its version."""
    repair_dpkg()
    _make_whole(settings, releases, services_offline=False)
    failures = []
    for version in releases:
        try:
            _reinstall(settings, version, services_offline=False, going_back=True)
            left = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
            now = installed_version(PACKAGE, settings.dpkg_admin_dir)
            if left or now is None:
                raise PicohubError(f"{', '.join(sorted(left)) or 'picohub'} still unfinished")
            wait_healthy(now, config.health_timeout)
            return now
        except PicohubError as exc:
            log.warning("cannot put back release %s: %s", version, exc)
            failures.append(f"release {version}: {exc}")
    raise PicohubError("; ".join(failures) or "no release to put back")
