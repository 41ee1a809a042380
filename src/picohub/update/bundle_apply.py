"""``picohub-update apply --bundle FILE``: an update from an offline bundle, no network.

The bundle is opened and verified by :mod:`picohub.update.bundle` exactly as a download
is; its release moves into the cache and is installed and confirmed as an update from the
network is, with the installed release as the rollback target when the cache has it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import ExitCode
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.update.apply import install_and_confirm
from picohub.update.bundle import (
    BundleError,
    Unpacked,
    bundle_limit,
    keep,
    opened,
)
from picohub.update.cache import ReleaseCache
from picohub.update.check import changes_from
from picohub.update.config import UpdateConfig
from picohub.update.fetch import prune
from picohub.update.journal import Journal, Kind, Origin, Result, Step
from picohub.update.timefloor import TimeFloor, release_date

log = logging.getLogger(__name__)


def _packages_to_install(
    unpacked: Unpacked, settings: Settings, installed: str | None
) -> list[str]:
    """The installed packages the bundle's release changes; the bundle must have each."""
    version = unpacked.version
    if installed is not None and Version(version) < Version(installed):
        # Also what stops an old, validly signed release from being replayed.
        raise BundleError(
            f"the bundle holds release {version}, older than the installed {installed}",
            hint="to go back to the previous release: picohub-update rollback",
        )
    verified = unpacked.verified
    changes = changes_from(tuple(verified.packages), settings, allow_older=False)
    present = {path.name for path in verified.present}
    entries = {entry.package: entry for entry in verified.packages}
    missing = [c.package for c in changes if entries[c.package].filename not in present]
    if missing:
        raise BundleError(
            f"the bundle has no {', '.join(missing)} {version}, which this hub needs",
            hint="make the bundle from the release's assets, or on a hub with the same packages",
        )
    return [change.package for change in changes]


def apply_bundle(
    config: UpdateConfig,
    settings: Settings,
    bundle: Path,
    origin: Origin = Origin.SHELL,
    *,
    accept_new_dependencies: bool = False,
) -> int:
    """``apply --bundle``, inside the transient unit: open and verify the bundle, move its
    release into the cache, then install and confirm as an update from the network does
    (rolling back to the installed release when the cache has it). No network."""
    try:
        return _apply_bundle(config, settings, bundle, origin, accept_new_dependencies)
    finally:
        # An upload from the web page is not kept beside the cached releases; a bundle
        # from anywhere else (a USB stick) is the user's.
        if bundle.parent == settings.incoming_dir:
            bundle.unlink(missing_ok=True)


def _apply_bundle(
    config: UpdateConfig, settings: Settings, bundle: Path, origin: Origin, accept: bool
) -> int:
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    journal = Journal(settings)
    txn = journal.begin(Kind.BUNDLE, origin, installed, None, f"opening the bundle {bundle}")
    try:
        ReleaseCache(settings).remove_scratch()
        with opened(bundle, settings, max_bytes=bundle_limit(config)) as unpacked:
            version = unpacked.version
            # A verified release tells the hub how late it is at least; a person chose
            # this one, so a date the floor does not believe is reported, not refused.
            date = release_date(unpacked.verified.release.fields.get("Date"))
            doubt = date and TimeFloor(settings).observe(date, config.max_future)
            if doubt:
                log.warning("the bundle's release %s: %s", version, doubt)
            packages = _packages_to_install(unpacked, settings, installed)
            if not packages:
                journal.end(
                    txn,
                    Result.DONE,
                    f"up to date: the bundle's release {version} changes nothing installed here",
                )
                return ExitCode.OK
            fetched = keep(unpacked, settings)
        prune(settings, keep={fetched.version})
    except Exception as exc:  # every failure ends the transaction, then is reported
        journal.end(txn, Result.FAILED, f"nothing was changed: {exc}")
        raise
    txn = journal.step(txn, Step.VERIFIED, f"release {version} verified", to_release=version)
    return install_and_confirm(
        config, settings, txn, fetched, packages, accept_new_dependencies=accept
    )
