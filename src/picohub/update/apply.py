"""``apply``: install a fetched release with apt, inside the transient unit
``picohub-update.service``, then wait for the new version to answer ``/healthz``.

The unit lives in its own cgroup, so it survives dpkg stopping and restarting
picohub.service; its name is the lock (systemd refuses a second unit of that name).
apt installs the verified release from the cache (:mod:`picohub.update.packages`).
An apply from an offline bundle (``bundle_apply.py``) shares :func:`install_and_confirm`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Protocol

import requests
from debian.debian_support import Version

from picohub.errors import CommandError, ExitCode, PicohubError, UsageError
from picohub.installed import installed_version
from picohub.process import run
from picohub.repository import verify_repository
from picohub.settings import PACKAGE, Settings
from picohub.update.check import check
from picohub.update.config import UpdateConfig
from picohub.update.fetch import Fetched, fetch
from picohub.update.http import open_session
from picohub.update.packages import install, is_downgrade, packages_on_hub, repair_dpkg
from picohub.update.releases import channel_tag
from picohub.update.status import Phase, Status, write_status

log = logging.getLogger(__name__)

UNIT = "picohub-update.service"
IN_UNIT = "PICOHUB_UPDATE_IN_UNIT"
HEALTHZ = "http://127.0.0.1:8080/healthz"
# The transient unit's limits, in seconds: for a run (a backstop above the sum of its
# steps' own bounds, about 3 hours with three packages), and for after-run putting the
# hub back (dpkg --configure -a, then up to two releases installed and checked).
RUN_LIMIT_S = 4 * 3600
AFTER_RUN_LIMIT_S = 90 * 60
# In the unit, a check or fetch from a shell holding the cache is waited for, this long.
UNIT_WAIT_S = 60.0


def in_unit() -> bool:
    return os.environ.get(IN_UNIT) == "1"


def start_in_unit(argv: Sequence[str], *, wait: bool) -> int:
    """Run ``picohub-update ARGV`` again as the transient unit; return its exit code
    (with ``wait``) or 0 once it started.

    Each step inside is bounded (downloads, apt, the health check); the unit's run-time
    limit is a backstop above their sum. However the run ends (done, killed, timed out,
    stopped), ``picohub-update after-run`` runs next in the unit: a run that did not
    record its end is undone there (:func:`picohub.update.recover.after_run`).
    """
    passed = [f"--setenv={k}={v}" for k, v in os.environ.items() if k.startswith("PICOHUB_")]
    command = [
        "systemd-run",
        f"--unit={UNIT}",
        "--description=picohub update",
        "--collect",
        "--service-type=exec",
        f"--property=RuntimeMaxSec={RUN_LIMIT_S}",
        f"--property=TimeoutStopSec={AFTER_RUN_LIMIT_S}",
        # "-": a release from before after-run existed (a rollback to it) fails it harmlessly.
        "--property=ExecStopPost=-/usr/bin/picohub-update after-run",
        f"--setenv={IN_UNIT}=1",
        *passed,
        *(["--wait", "--quiet"] if wait else []),
        "/usr/bin/picohub-update",
        *argv,
    ]
    limit = RUN_LIMIT_S + AFTER_RUN_LIMIT_S + 60
    result = run(command, check=False, timeout=limit if wait else 60)
    if result.returncode != 0 and is_running():
        raise UsageError(
            "an update is already running",
            hint="follow it with: picohub-update status, or journalctl -u picohub-update",
        )
    if result.returncode != 0 and not wait:
        raise CommandError(command, f"systemd-run failed: {result.stderr.strip()}")
    return result.returncode


def is_running() -> bool:
    """Whether an update (the transient unit) is running now."""
    state = run(["systemctl", "is-active", UNIT], check=False).stdout.strip()
    return state in ("active", "activating", "deactivating")


def wait_healthy(version: str, timeout: float) -> None:
    """Wait until picohub.service is active and /healthz reports ``version``."""
    deadline = time.monotonic() + timeout
    seen = "no answer"
    while time.monotonic() < deadline:
        active = run(["systemctl", "is-active", "picohub.service"], check=False).stdout.strip()
        if active == "active":
            try:
                with urllib.request.urlopen(HEALTHZ, timeout=5) as answer:
                    body = json.loads(answer.read(4096))
                seen = f"version {body.get('version')}"
                if body.get("status") == "ok" and body.get("version") == version:
                    return
            except (OSError, ValueError) as exc:
                seen = str(exc)
        else:
            seen = f"picohub.service is {active}"
        time.sleep(0.5)
    raise PicohubError(f"picohub {version} did not become healthy within {timeout:.0f} s ({seen})")


class Report(Protocol):
    """Log a step and record it in the status file."""

    def __call__(self, phase: Phase, message: str, target: str | None = None) -> None: ...


def reporter(settings: Settings, installed: str | None) -> Report:
    def report(phase: Phase, message: str, target: str | None = None) -> None:
        log.info("%s", message)
        write_status(settings.update_status, Status(phase, message, None, installed, target))

    return report


def download_progress(
    settings: Settings, installed: str | None, version: str
) -> Callable[[float], None]:
    """Writes the download's progress into the status, at most every half second (each
    write is an fsync) and always at the end."""
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < 0.5:
            return
        last[0] = now
        message = f"downloading release {version}: {fraction:.0%}"
        status = Status(Phase.DOWNLOADING, message, round(fraction, 3), installed, version)
        write_status(settings.update_status, status)

    return progress


def update(config: UpdateConfig, settings: Settings, version: str | None) -> int:
    """The whole apply, inside the transient unit: check, fetch, install, confirm; on a
    failed install or health check, install the previous release again."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    report = reporter(settings, installed)

    report(Phase.CHECKING, "checking for a release")
    try:
        with open_session() as session:
            # No version: the newest release of the configured channel.
            tag = f"v{version}" if version else channel_tag(config, settings, session)
            result = check(config, settings, session, tag=tag, allow_older=version is not None)
            if not result.update_available:
                report(Phase.DONE, f"up to date: release {result.version} changes nothing")
                return ExitCode.OK
            packages = [change.package for change in result.changes]
            report(Phase.DOWNLOADING, f"fetching release {result.version}", result.version)
            # The target may already be in the cache (picohub-update fetch): keep it.
            keep = [v for v in (installed, result.version) if v]
            previous = _fetch_previous(config, settings, session, installed, packages, keep)
            fetched = fetch(
                result,
                settings,
                session,
                keep=keep,
                max_bytes=config.max_download_bytes,
                progress=download_progress(settings, installed, result.version),
            )
    except Exception as exc:  # every failure ends in a recorded status, then is reported
        report(Phase.FAILED, f"nothing was changed: {exc}")
        raise
    return install_and_confirm(config, settings, fetched, packages, previous, installed, report)


def install_and_confirm(
    config: UpdateConfig,
    settings: Settings,
    fetched: Fetched,
    packages: Sequence[str],
    previous: Fetched | None,
    installed: str | None,
    report: Report,
) -> int:
    """Install ``packages`` of the verified release in the cache, wait for it to be
    healthy; on a failure, install ``previous`` again (when there is one). The same for
    an update from the network and from a bundle."""
    expected = fetched.version if "picohub" in packages else (installed or fetched.version)
    try:
        report(
            Phase.INSTALLING,
            f"installing {', '.join(packages)} {fetched.version}",
            fetched.version,
        )
        install(
            fetched,
            packages,
            settings.archive_keyring,
            settings,
            downgrade=is_downgrade(installed, fetched.version),
        )
        report(
            Phase.INSTALLING, f"waiting for picohub {expected} to answer /healthz", fetched.version
        )
        wait_healthy(expected, config.health_timeout)
    except Exception as exc:
        reason = str(exc)
        if previous is None:
            report(
                Phase.FAILED,
                f"update to {fetched.version} failed and there is no release to roll back "
                f"to: {reason}",
                fetched.version,
            )
            raise
        report(
            Phase.INSTALLING,
            f"update to {fetched.version} failed ({reason}); rolling back to {previous.version}",
            fetched.version,
        )
        try:
            # A failed maintainer script leaves dpkg half done; apt refuses to go on until
            # it is finished.
            repair_dpkg()
            install(previous, packages, settings.archive_keyring, settings, downgrade=True)
            wait_healthy(
                previous.version if "picohub" in packages else expected, config.health_timeout
            )
        except Exception as again:
            report(
                Phase.FAILED,
                f"update to {fetched.version} failed ({reason}) and the rollback to "
                f"{previous.version} failed too ({again}); recover with: dpkg --configure -a, "
                "then apt install ./ of the release's packages",
                fetched.version,
            )
            raise
        report(
            Phase.ROLLED_BACK,
            f"rolled back to {previous.version} because the update to {fetched.version} "
            f"failed: {reason}",
            fetched.version,
        )
        return ExitCode.FAILURE
    report(Phase.DONE, f"updated to {fetched.version}", fetched.version)
    return ExitCode.OK


def _fetch_previous(
    config: UpdateConfig,
    settings: Settings,
    session: requests.Session,
    installed: str | None,
    packages: Sequence[str],
    keep: Sequence[str],
) -> Fetched | None:
    """The installed release's packages, in the cache before anything changes: what a
    rollback installs again. None when the installed version was never released."""
    if installed is None:
        return None
    try:
        previous = check(config, settings, session, tag=f"v{installed}", allow_older=True)
        return fetch(
            previous,
            settings,
            session,
            packages=packages,
            keep=keep,
            max_bytes=config.max_download_bytes,
        )
    except PicohubError as exc:
        log.warning("no rollback possible: release %s cannot be fetched: %s", installed, exc)
        return None


def previous_release(settings: Settings, installed: str | None) -> Fetched:
    """The newest cached release older than the installed one, verified again."""
    releases = settings.cache_dir / "releases"
    older = sorted(
        (
            d
            for d in (releases.iterdir() if releases.is_dir() else ())
            if installed and d.is_dir() and Version(d.name) < Version(installed)
        ),
        key=lambda d: Version(d.name),
    )
    if not older:
        raise UsageError(
            f"no release older than {installed or '(none installed)'} is in the cache",
            hint="apply a specific version instead: picohub-update apply VERSION",
        )
    directory = older[-1]
    # A cached release is trusted no more than a downloaded one: verified again.
    verified = verify_repository(directory, settings.archive_keyring, partial=True)
    return Fetched(directory.name, directory, verified.present, 0)


def rollback(config: UpdateConfig, settings: Settings, reason: str = "on request") -> int:
    """Install the previous release again from the cache, inside the transient unit."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)

    def report(phase: Phase, message: str, target: str | None = None) -> None:
        log.info("%s", message)
        write_status(settings.update_status, Status(phase, message, None, installed, target))

    report(Phase.INSTALLING, "rolling back to the previous release")
    try:
        previous = previous_release(settings, installed)
        report(Phase.INSTALLING, f"rolling back to {previous.version}", previous.version)
        repair_dpkg()
        names = packages_on_hub(settings, previous)
        install(previous, names, settings.archive_keyring, settings, downgrade=True)
        if "picohub" in names:
            wait_healthy(previous.version, config.health_timeout)
    except Exception as exc:  # every failure ends in a recorded status
        report(Phase.FAILED, f"rollback failed: {exc}")
        raise
    report(Phase.ROLLED_BACK, f"rolled back to {previous.version} {reason}", previous.version)
    return ExitCode.OK
