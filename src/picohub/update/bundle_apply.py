"""``picohub-update apply --bundle FILE``: an update from an offline bundle, no network.

The bundle is opened and verified by :mod:`picohub.update.bundle` exactly as a download
is; its release moves into the cache and is installed and confirmed as an update from the
network is, with the installed release as the rollback target when the cache has it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import ExitCode, PicohubError
from picohub.installed import installed_version
from picohub.repository import RepositoryError, verify_repository
from picohub.settings import PACKAGE, Settings
from picohub.update.apply import install_and_confirm, reporter
from picohub.update.bundle import (
    BundleError,
    Unpacked,
    bundle_limit,
    keep,
    opened,
    remove_scratch,
)
from picohub.update.check import changes_from
from picohub.update.config import UpdateConfig
from picohub.update.fetch import Fetched, prune, release_dir
from picohub.update.status import Phase

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


def _cached_previous(
    settings: Settings, installed: str | None, version: str, packages: Sequence[str]
) -> Fetched | None:
    """The installed release from the cache (fetch keeps it), verified again, with each
    of ``packages``: what a rollback installs. None, and a warning, when there is none."""
    if installed is None or installed == version:
        return None
    try:
        directory = release_dir(settings, installed)
        if not directory.is_dir():
            raise PicohubError("it is not in the cache")
        verified = verify_repository(directory, settings.archive_keyring, partial=True)
        if verified.release.fields.get("Version") != installed:
            raise RepositoryError("the cached index is of another release")
        present = {path.name for path in verified.present}
        entries = {entry.package: entry for entry in verified.packages}
        lacking = [p for p in packages if p not in entries or entries[p].filename not in present]
        if lacking:
            raise PicohubError(f"the cache has no {', '.join(lacking)} of it")
    except PicohubError as exc:
        log.warning("no rollback possible: release %s: %s", installed, exc)
        return None
    return Fetched(installed, directory, verified.present, 0)


def apply_bundle(config: UpdateConfig, settings: Settings, bundle: Path) -> int:
    """``apply --bundle``, inside the transient unit: open and verify the bundle, move its
    release into the cache, then install and confirm as an update from the network does
    (rolling back to the installed release when the cache has it). No network."""
    try:
        return _apply_bundle(config, settings, bundle)
    finally:
        # An upload from the web page is not kept beside the cached releases; a bundle
        # from anywhere else (a USB stick) is the user's.
        if bundle.parent == settings.incoming_dir:
            bundle.unlink(missing_ok=True)


def _apply_bundle(config: UpdateConfig, settings: Settings, bundle: Path) -> int:
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    report = reporter(settings, installed)
    report(Phase.CHECKING, f"opening the bundle {bundle}")
    try:
        remove_scratch(settings)
        with opened(bundle, settings, max_bytes=bundle_limit(config)) as unpacked:
            version = unpacked.version
            packages = _packages_to_install(unpacked, settings, installed)
            if not packages:
                report(
                    Phase.DONE,
                    f"up to date: the bundle's release {version} changes nothing installed here",
                )
                return ExitCode.OK
            previous = _cached_previous(settings, installed, version, packages)
            fetched = keep(unpacked, settings)
        prune(settings, keep={fetched.version})
    except Exception as exc:  # every failure ends in a recorded status, then is reported
        report(Phase.FAILED, f"nothing was changed: {exc}")
        raise
    return install_and_confirm(config, settings, fetched, packages, previous, installed, report)
