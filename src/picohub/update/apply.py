"""``apply``: install a fetched release with apt, inside the transient unit
(:mod:`picohub.update.unit`), then wait for the new version to answer ``/healthz``.

Each run is a transaction (:mod:`picohub.update.journal`): begun before anything is
fetched, stepped before each change, ended healthy or converged
(:mod:`picohub.update.converge`) when anything fails. apt installs the verified release
from the cache (:mod:`picohub.update.packages`). An apply from an offline bundle
(``bundle_apply.py``) shares :func:`install_and_confirm`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import requests

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.check import check
from picohub.update.config import UpdateConfig
from picohub.update.converge import Cause, Converger
from picohub.update.fetch import fetch
from picohub.update.health import wait_healthy
from picohub.update.http import open_session
from picohub.update.journal import Journal, Kind, Origin, Result, Step, Transaction, progress
from picohub.update.packages import install, is_downgrade, repair_dpkg
from picohub.update.plan import plan_install
from picohub.update.releases import channel_tag
from picohub.update.rollback_copy import make_copy
from picohub.update.snapshot import remove_snapshot, take_snapshot
from picohub.versions import is_release_version, tag_of

log = logging.getLogger(__name__)


def download_progress(
    settings: Settings, txn: Transaction, version: str
) -> Callable[[float], None]:
    """Writes the download's progress into the status, at most every half second (each
    write is an fsync) and always at the end."""
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < 0.5:
            return
        last[0] = now
        progress(settings, txn, fraction, f"downloading release {version}: {fraction:.0%}")

    return report


def update(
    config: UpdateConfig,
    settings: Settings,
    version: str | None,
    origin: Origin = Origin.SHELL,
    *,
    accept_new_dependencies: bool = False,
) -> int:
    """The whole apply, inside the transient unit: check, fetch, install, confirm; a
    failed install or health check converges back to the installed release."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    journal = Journal(settings)
    txn = journal.begin(Kind.UPDATE, origin, installed, version, "checking for a release")
    try:
        with open_session() as session:
            # No version: the newest release of the configured channel.
            tag = tag_of(version) if version else channel_tag(config, settings, session)
            result = check(config, settings, session, tag=tag, allow_older=version is not None)
            if not result.update_available:
                journal.end(
                    txn, Result.DONE, f"up to date: release {result.version} changes nothing"
                )
                return ExitCode.OK
            packages = [change.package for change in result.changes]
            txn = journal.step(
                txn,
                Step.DOWNLOADING,
                f"fetching release {result.version}",
                to_release=result.version,
            )
            # The target may already be in the cache (picohub-update fetch): keep it.
            keep = [v for v in (installed, result.version) if v]
            previous = fetch_previous(config, settings, session, installed, packages, keep)
            fetched = fetch(
                result,
                settings,
                session,
                keep=keep,
                max_bytes=config.max_download_bytes,
                progress=download_progress(settings, txn, result.version),
            )
    except Exception as exc:  # every failure ends the transaction, then is reported
        journal.end(txn, Result.FAILED, f"nothing was changed: {exc}")
        raise
    before = 0 if previous is None else previous.downloaded_bytes
    txn = replace(txn, downloaded_bytes=before + fetched.downloaded_bytes)
    return install_and_confirm(
        config, settings, txn, fetched, packages, accept_new_dependencies=accept_new_dependencies
    )


def install_downloaded(
    config: UpdateConfig,
    settings: Settings,
    version: str,
    packages: Sequence[str],
    origin: Origin,
) -> int:
    """Install ``packages`` of release ``version``, downloaded ahead into the cache (by an
    automatic run before the maintenance window), inside the transient unit and without
    the network: the same transaction as :func:`update`, and the cached files are
    verified again (signature, sizes, SHA-256) before anything changes."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    journal = Journal(settings)
    txn = journal.begin(
        Kind.UPDATE,
        origin,
        installed,
        version,
        f"release {version} was downloaded ahead: verifying it again",
    )
    try:
        fetched = ReleaseCache(settings).load(version, packages)
    except Exception as exc:
        journal.end(txn, Result.FAILED, f"nothing was changed: {exc}")
        raise
    return install_and_confirm(config, settings, txn, fetched, packages)


def install_and_confirm(
    config: UpdateConfig,
    settings: Settings,
    txn: Transaction,
    fetched: Fetched,
    packages: Sequence[str],
    *,
    accept_new_dependencies: bool = False,
) -> int:
    """Install ``packages`` of the verified release in the cache and wait for it to be
    healthy; on a failure, converge back to the release the transaction started from.
    The same for an update from the network and from a bundle. A plan that takes more
    than picohub's packages is refused first (:mod:`picohub.update.plan`)."""
    journal = Journal(settings)
    installed = txn.from_release
    expected = fetched.version if PACKAGE in packages else (installed or fetched.version)
    downgrade = is_downgrade(installed, fetched.version)
    can_roll_back = _rollback_ready(settings, installed, packages)
    try:
        plan = plan_install(
            fetched,
            packages,
            settings,
            downgrade=downgrade,
            accept_new_dependencies=accept_new_dependencies,
        )
        if plan.others:
            log.warning("accepted: %s", ", ".join(str(action) for action in plan.others))
        txn = _take_snapshot(settings, txn, fetched.version)
    except Exception as exc:
        journal.end(txn, Result.FAILED, f"nothing was changed: {exc}")
        raise
    try:
        txn = journal.step(
            txn, Step.INSTALLING, f"installing {', '.join(packages)} {fetched.version}"
        )
        install(
            fetched,
            packages,
            settings.archive_keyring,
            settings,
            downgrade=downgrade,
            hub_sources=plan.needs_hub_sources,
        )
        txn = journal.step(
            txn,
            Step.CONFIRMING,
            f"waiting for picohub {expected} to answer /healthz",
            installed=expected,
        )
        wait_healthy(expected, config.health_timeout)
    except Exception as exc:
        reason = f"the update to {fetched.version} failed: {exc}"
        if not can_roll_back:
            repair_dpkg()  # at least nothing left half done for the next run
            journal.end(
                txn,
                Result.FAILED,
                f"update to {fetched.version} failed and there is no release to roll back "
                f"to: {exc}",
            )
            raise
        ended = Converger(config, settings).converge(txn, Cause.FAILED, reason)
        if ended.result is Result.FAILED:
            raise PicohubError(ended.message) from exc
        return ExitCode.FAILURE
    journal.end(txn, Result.DONE, f"updated to {fetched.version}", installed=expected)
    return ExitCode.OK


def _rollback_ready(settings: Settings, version: str | None, packages: Sequence[str]) -> bool:
    """Whether a rollback to release ``version`` can install each of ``packages``: the
    release is in the cache, verified, or else a copy of it is repacked from the hub's
    installed packages (a hub installed from the release's .debs has none cached, and a
    bundle brings only the new release). A warning when neither."""
    if version is None:
        return False
    cache = ReleaseCache(settings)
    try:
        cache.load(version, packages)
        return True
    except PicohubError as exc:
        not_cached = exc
    try:  # the copy is the best the hub can do: whatever stops it, the update goes on
        if not is_release_version(version):
            raise PicohubError(f"{version} is not a release's version")
        make_copy(settings, version, packages)  # each of them installed whole, or none
        # What is cached of the release is of no use to go back (partial, or no longer
        # verified): the copy takes its place.
        shutil.rmtree(cache.release_dir(version), ignore_errors=True)
        cache.load(version, packages, copies=True)
    except Exception as exc:  # noqa: BLE001 (reported; the update goes on without)
        log.warning(
            "no rollback possible: release %s: %s; and no copy of it: %s", version, not_cached, exc
        )
        return False
    return True


def _take_snapshot(settings: Settings, txn: Transaction, version: str) -> Transaction:
    """The app's database, consistent, before dpkg runs: one snapshot, this transaction's
    (the last one's goes)."""
    folder = settings.update_snapshots
    for stale in folder.glob("*.db") if folder.is_dir() else ():
        remove_snapshot(stale)
    snapshot = None
    if settings.database.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        snapshot = take_snapshot(settings.database, folder / f"{txn.id}.db")
    return Journal(settings).step(
        txn,
        Step.VERIFIED,
        f"release {version} verified"
        + ("" if snapshot is None else f"; the database saved (schema {snapshot.schema})"),
        snapshot=snapshot,
        snapshot_release=None if snapshot is None else txn.from_release,
    )


def fetch_previous(
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
        previous = check(config, settings, session, tag=tag_of(installed), allow_older=True)
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


def rollback(
    config: UpdateConfig,
    settings: Settings,
    reason: str = "on request",
    origin: Origin = Origin.SHELL,
) -> int:
    """Install the previous release again from the cache, inside the transient unit."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    previous = ReleaseCache(settings).newest_older_than(installed)
    if previous is None:
        raise UsageError(
            f"no release older than {installed or '(none installed)'} is in the cache",
            hint="apply a specific version instead: picohub-update apply VERSION",
        )
    try:  # trusted no more than a download: verified before anything changes
        ReleaseCache(settings).load(previous, copies=True)
    except PicohubError as exc:
        raise PicohubError(f"rollback failed: {exc}; nothing was changed") from exc
    journal = Journal(settings)
    txn = journal.begin(Kind.ROLLBACK, origin, installed, previous, f"rolling back to {previous}")
    txn = journal.step(txn, Step.INSTALLING, f"rolling back to {previous}")
    ended = Converger(config, settings).converge(txn, Cause.REQUESTED, reason)
    if ended.result is Result.FAILED:
        raise PicohubError(f"rollback failed: {ended.message}")
    return ExitCode.OK
