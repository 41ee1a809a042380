"""The release's packages on the hub: apt-get installs them from the verified cache,
and dpkg's half-done work is finished first.

apt reads the release through a private sources list and lists folder, with
``signed-by`` the pinned keyring, so it checks the signature again. Each package is
pinned to its version in the release (a package that did not change in it keeps an
older one). Nothing here is interactive or waits for ever on another apt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import CommandError
from picohub.installed import installed_versions, unfinished_packages
from picohub.process import run
from picohub.repository import RepositoryError
from picohub.settings import PACKAGE, RELEASE_PACKAGES, Settings
from picohub.update.apt_output import apt_failure
from picohub.update.cache import Fetched, ReleaseCache

# Never interactive, and never waiting for ever on another apt.
APT_ENVIRONMENT = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "l"}
APT_OPTIONS = (
    "-o", "Dpkg::Options::=--force-confdef",
    "-o", "Dpkg::Options::=--force-confold",
    "-o", "DPkg::Lock::Timeout=120",
)  # fmt: skip


def _environment(services_offline: bool) -> dict[str, str]:
    # SYSTEMD_OFFLINE=1: systemctl ignores start/restart requests from maintainer scripts
    # (at boot, before picohub.service, a restart would wait for ever; see recover.py).
    return {**APT_ENVIRONMENT, "SYSTEMD_OFFLINE": "1"} if services_offline else APT_ENVIRONMENT


def install(
    fetched: Fetched,
    packages: Sequence[str],
    keyring: Path,
    settings: Settings,
    *,
    downgrade: bool,
    services_offline: bool = False,
    reinstall: bool = False,
) -> None:
    """apt-get install ``packages``, each at its version in the fetched release, from the
    verified cache. ``reinstall`` unpacks them even at the version dpkg has: apt does
    nothing for a half-installed package whose version it already names."""
    private = ReleaseCache(settings).apt_dir
    lists = private / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = private / "sources.list"
    sources.write_text(
        f"deb [signed-by={keyring}] file:{fetched.directory}/ ./\n", encoding="utf-8"
    )
    options = [
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={lists}",
        # picohub verified the release itself and judges its age by its own time floor
        # (picohub.update.timefloor): a Pi without a real-time clock, before time sync, must
        # still install, roll back and recover from it.
        "-o", "Acquire::Check-Date=false",
        "-o", "Acquire::Check-Valid-Until=false",
    ]  # fmt: skip
    _apt([*options, "update"], timeout=300)
    offered = fetched.package_versions()
    missing = [package for package in packages if package not in offered]
    if missing:
        raise RepositoryError(f"release {fetched.version} in the cache has no {', '.join(missing)}")
    wanted = [f"{package}={offered[package]}" for package in packages]
    extra = ["--allow-downgrades"] if downgrade else []
    extra += ["--reinstall"] if reinstall else []
    _apt(
        ["--yes", "--no-install-recommends", *options, *APT_OPTIONS, *extra, "install", *wanted],
        env=_environment(services_offline),
    )


def _apt(args: Sequence[str], timeout: float = 1200, env: dict[str, str] = APT_ENVIRONMENT) -> None:
    """apt-get ``args``; a failure's message carries apt's errors, warnings and the
    dependencies it could not satisfy."""
    argv = ["apt-get", "-q", *args]
    result = run(argv, env=env, timeout=timeout, check=False)
    if result.returncode != 0:
        said = apt_failure(result.stdout + result.stderr)
        raise CommandError(
            argv,
            f"apt-get {'update' if args[-1] == 'update' else 'install'} failed: "
            + (said or f"exit code {result.returncode}"),
            returncode=result.returncode,
            stderr=result.stderr,
        )


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
    installed or left half done (dpkg wants those reinstalled), and picohub. A cached
    release may hold packages the hub never had; those are left out."""
    have = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    unfinished = unfinished_packages(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    return [
        name
        for name in release.package_versions()
        if have.get(name) or name in unfinished or name == PACKAGE
    ]


def is_downgrade(installed: str | None, target: str) -> bool:
    return installed is not None and Version(target) < Version(installed)
