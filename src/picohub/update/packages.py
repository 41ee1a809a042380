"""The release's packages on the hub: apt-get installs them from the verified cache,
and dpkg's half-done work is finished first.

apt reads the release through a private sources list and lists folder, with
``signed-by`` the pinned keyring, so it checks the signature again. Each package is
pinned to its version in the release (a package that did not change in it keeps an
older one). Nothing here is interactive or waits for ever on another apt.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import CommandError
from picohub.files import write_atomically
from picohub.installed import installed_versions, unfinished_packages
from picohub.process import run
from picohub.repository import INRELEASE, PACKAGES, RepositoryError
from picohub.settings import CORE_PACKAGES, RELEASE_PACKAGES, Settings
from picohub.update.apt_output import apt_failure
from picohub.update.cache import Fetched, ReleaseCache

log = logging.getLogger(__name__)

# Never interactive, and never waiting for ever on another apt.
APT_ENVIRONMENT = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "l"}
# Beside the private lists folder: what apt last brought it up to date from.
LISTS_MARK = "lists.source"
APT_OPTIONS = (
    "-o", "Dpkg::Options::=--force-confdef",
    "-o", "Dpkg::Options::=--force-confold",
    "-o", "DPkg::Lock::Timeout=120",
)  # fmt: skip


def _environment(services_offline: bool) -> dict[str, str]:
    # SYSTEMD_OFFLINE=1: systemctl ignores start/restart requests from maintainer scripts
    # (at boot, before picohub.service, a restart would wait for ever; see recover.py).
    return {**APT_ENVIRONMENT, "SYSTEMD_OFFLINE": "1"} if services_offline else APT_ENVIRONMENT


def apt_sources(
    fetched: Fetched, keyring: Path, settings: Settings, *, hub_sources: bool = False
) -> list[str]:
    """apt's options to read the verified release in the cache (its index brought up to
    date), alone or with the hub's own sources beside it. The hub's lists are read as apt
    last fetched them, never fetched again, and its package cache files are not rewritten."""
    private = ReleaseCache(settings).apt_dir
    lists = private / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    # A rollback copy has no signature: picohub checked it against its pin (rollback_copy).
    trust = "trusted=yes" if fetched.copy else f"signed-by={keyring}"
    release = f"deb [{trust}] file:{fetched.directory}/ ./\n"
    sources = private / "sources.list"
    sources.write_text(release, encoding="utf-8")
    # picohub verified the release itself and judges its age by its own time floor
    # (picohub.update.timefloor): a Pi without a real-time clock, before time sync, must
    # still install, roll back and recover from it.
    dates = ["-o", "Acquire::Check-Date=false", "-o", "Acquire::Check-Valid-Until=false"]
    # No package cache file: apt's own (/var/cache/apt/pkgcache.bin, for the hub's
    # sources) is neither rewritten for this one source nor rebuilt after it.
    alone = [
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={lists}",
        "-o", "Dir::Cache::pkgcache=",
        "-o", "Dir::Cache::srcpkgcache=",
        *dates,
    ]  # fmt: skip
    _bring_lists_up_to_date(alone, lists, fetched, release, keyring)
    if not hub_sources:
        return alone
    # apt reads one lists folder: one of links to the hub's lists and the release's.
    both = private / "hub-lists"
    shutil.rmtree(both, ignore_errors=True)
    (both / "partial").mkdir(parents=True)
    for folder in (settings.apt_lists, lists):
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.is_file() and path.name != "lock" and not (both / path.name).exists():
                (both / path.name).symlink_to(path.resolve())
    own = settings.apt_sources_list
    combined = private / "sources-with-hub.list"
    combined.write_text(
        release + (own.read_text(encoding="utf-8") if own.is_file() else ""), encoding="utf-8"
    )
    return [
        "-o", f"Dir::Etc::SourceList={combined}",
        "-o", f"Dir::Etc::SourceParts={settings.apt_sources_parts}",
        "-o", f"Dir::State::Lists={both}",
        "-o", "Dir::Cache::pkgcache=",
        "-o", "Dir::Cache::srcpkgcache=",
        *dates,
    ]  # fmt: skip


def _bring_lists_up_to_date(
    options: Sequence[str], lists: Path, fetched: Fetched, release: str, keyring: Path
) -> None:
    """``apt-get update`` of the private lists from the release, unless apt already
    brought them up to date from these very bytes: an install right after the plan's
    simulation, or the maintenance window's install of a release prepared ahead, does
    not pay for it again. A mark beside the lists says what they were brought up to date
    from (the sources line, the bytes of the release's signed index and of the keyring
    apt verified it with), and the lists must still hold the release's InRelease and
    Packages byte for byte. Only root writes in the cache."""
    mark = lists.with_name(LISTS_MARK)
    wanted = _lists_source(fetched, release, keyring)
    if wanted is not None and _read_text(mark) == wanted and _lists_hold(lists, fetched):
        log.info("apt's lists of release %s are up to date", fetched.version)
        return
    mark.unlink(missing_ok=True)
    _apt([*options, "update"], timeout=300)
    if wanted is not None:
        write_atomically(mark, wanted, 0o600)


def _lists_source(fetched: Fetched, release: str, keyring: Path) -> str | None:
    """A digest of what the private lists are brought up to date from (None when a
    file of it cannot be read: then they are always brought up to date)."""
    digest = hashlib.sha256(release.encode())
    try:
        for path in (fetched.directory / INRELEASE, keyring):
            digest.update(b"\0" + path.read_bytes())
    except OSError:
        return None
    return digest.hexdigest() + "\n"


def _lists_hold(lists: Path, fetched: Fetched) -> bool:
    """Whether ``lists`` holds the release's InRelease and Packages, byte for byte."""
    try:
        wanted = [(fetched.directory / name).read_bytes() for name in (INRELEASE, PACKAGES)]
        held = {path.read_bytes() for path in lists.iterdir() if path.is_file()}
    except OSError:
        return False
    return all(content in held for content in wanted)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def install(
    fetched: Fetched,
    packages: Sequence[str],
    keyring: Path,
    settings: Settings,
    *,
    downgrade: bool,
    services_offline: bool = False,
    reinstall: bool = False,
    hub_sources: bool = False,
) -> None:
    """apt-get install ``packages``, each at its version in the fetched release, from the
    verified cache (and, for a plan the administrator accepted, the hub's own sources).
    ``reinstall`` unpacks them even at the version dpkg has: apt does nothing for a
    half-installed package whose version it already names."""
    options = apt_sources(fetched, keyring, settings, hub_sources=hub_sources)
    _apt(
        [
            "--yes", "--no-install-recommends", *options, *APT_OPTIONS,
            *install_arguments(fetched, packages, downgrade=downgrade, reinstall=reinstall),
        ],
        env=_environment(services_offline),
    )  # fmt: skip


def install_arguments(
    fetched: Fetched, packages: Sequence[str], *, downgrade: bool, reinstall: bool = False
) -> list[str]:
    """``install`` and each package at its version in the fetched release."""
    offered = fetched.package_versions()
    missing = [package for package in packages if package not in offered]
    if missing:
        raise RepositoryError(f"release {fetched.version} in the cache has no {', '.join(missing)}")
    extra = ["--allow-downgrades"] if downgrade else []
    extra += ["--reinstall"] if reinstall else []
    return [*extra, "install", *(f"{package}={offered[package]}" for package in packages)]


def _apt(args: Sequence[str], timeout: float = 1200, env: dict[str, str] = APT_ENVIRONMENT) -> str:
    """apt-get ``args``, its output; a failure's message carries apt's errors, warnings
    and the dependencies it could not satisfy."""
    argv = ["apt-get", "-q", *args]
    result = run(argv, env=env, timeout=timeout, check=False)
    if result.returncode != 0:
        said = apt_failure(result.stdout + result.stderr)
        raise CommandError(
            argv,
            f"apt-get {_action(args)} failed: " + (said or f"exit code {result.returncode}"),
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return result.stdout


def _action(args: Sequence[str]) -> str:
    if args[-1] == "update":
        return "update"
    return "--simulate install" if "--simulate" in args else "install"


def simulate(
    fetched: Fetched, packages: Sequence[str], settings: Settings, *, downgrade: bool
) -> str:
    """What apt would do to install ``packages`` of the fetched release, over the release
    and the hub's own sources, against the hub's dpkg database: apt's simulation output."""
    options = apt_sources(fetched, settings.archive_keyring, settings, hub_sources=True)
    return _apt(
        [
            "--simulate", "--no-install-recommends", *options,
            "-o", f"Dir::State::status={settings.dpkg_admin_dir / 'status'}",
            *install_arguments(fetched, packages, downgrade=downgrade),
        ],
        timeout=300,
    )  # fmt: skip


def repair_dpkg(*, services_offline: bool = False) -> None:
    """Finish what an interrupted or failed dpkg run left (non-interactively). A handover
    an interrupted postinst left running (picohub-handover.service) is stopped first."""
    run(["systemctl", "stop", "picohub-handover.service"], timeout=60, check=False)
    run(["systemctl", "reset-failed", "picohub-handover.service"], timeout=60, check=False)
    run(
        ["dpkg", "--configure", "-a", "--force-confdef", "--force-confold"],
        env=_environment(services_offline),
        timeout=1200,
        check=False,
    )


def packages_on_hub(settings: Settings, release: Fetched) -> list[str]:
    """The packages of a cached ``release`` to install again: those this hub has
    installed or left half done (dpkg wants those reinstalled), and picohub and its
    keyring. A cached release may hold packages the hub never had; those are left out."""
    have = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    unfinished = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    return [
        name
        for name in release.package_versions()
        if have.get(name) or name in unfinished or name in CORE_PACKAGES
    ]


def is_downgrade(installed: str | None, target: str) -> bool:
    return installed is not None and Version(target) < Version(installed)
