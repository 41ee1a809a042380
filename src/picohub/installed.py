"""What dpkg has installed: the versions the hub reports are dpkg's, never constants."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from debian.deb822 import PkgRelation

from picohub.errors import CommandError
from picohub.process import describe_returncode, run

# States in which the package's files on disk are all of the recorded version. The service
# restarts from postinst, while the package is still "half-configured"; "half-installed"
# means an unpack was interrupted and the files are a mix.
_FILES_ON_DISK = frozenset(
    {"installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"}
)


# States in which dpkg has nothing left to do for the package.
_SETTLED = frozenset({"installed", "not-installed", "config-files"})


def _query(packages: Sequence[str], admin_dir: Path, showformat: str) -> list[str]:
    """dpkg-query's line for each of ``packages`` it knows, in ``showformat``."""
    # dpkg-query exits 1 when any package is unknown but still prints the others.
    argv = [
        "dpkg-query",
        f"--admindir={admin_dir}",
        f"--showformat={showformat}\n",
        "--show",
        *packages,
    ]
    result = run(argv, timeout=30, check=False)
    if result.returncode not in (0, 1):
        raise CommandError(
            argv,
            f"dpkg-query failed ({describe_returncode(result.returncode)}): "
            f"{result.stderr.strip()}",
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return result.stdout.splitlines()


def _statuses(packages: Sequence[str], admin_dir: Path) -> list[tuple[str, str, str]]:
    """(package, dpkg status, version) of each package dpkg knows."""
    found = []
    for line in _query(packages, admin_dir, "${Package} ${db:Status-Status} ${Version}"):
        name, status, version = [*line.split(" ", 2), "", ""][:3]
        if name in packages:
            found.append((name, status, version))
    return found


def installed_versions(packages: Sequence[str], admin_dir: Path) -> dict[str, str | None]:
    """The version dpkg has of each package, None for one that is not installed."""
    versions: dict[str, str | None] = dict.fromkeys(packages)
    for name, status, version in _statuses(packages, admin_dir):
        if status in _FILES_ON_DISK and version:
            versions[name] = version
    return versions


def unfinished_packages(packages: Sequence[str], admin_dir: Path) -> dict[str, str]:
    """The packages an interrupted or failed dpkg run left half done, with their state
    (half-installed, unpacked, half-configured, triggers-...)."""
    return {
        name: status
        for name, status, _version in _statuses(packages, admin_dir)
        if status not in _SETTLED
    }


def unfinished_versions(packages: Sequence[str], admin_dir: Path) -> set[str]:
    """The versions dpkg names for the packages it left half done."""
    return {
        version
        for _name, status, version in _statuses(packages, admin_dir)
        if status not in _SETTLED and version
    }


def installed_version(package: str, admin_dir: Path) -> str | None:
    """The version of ``package`` dpkg has installed, or None when it is not installed."""
    return installed_versions([package], admin_dir)[package]


def installed_dependencies(packages: Sequence[str], admin_dir: Path) -> set[str]:
    """The names of the packages that the installed ``packages`` depend on (Depends and
    Pre-Depends, every alternative)."""
    names: set[str] = set()
    showformat = "${db:Status-Status}\t${Depends}, ${Pre-Depends}"
    for line in _query(packages, admin_dir, showformat):
        status, _, relations = line.partition("\t")
        relations = relations.strip(" ,")  # either field may be empty
        if status in _FILES_ON_DISK and relations:
            for group in PkgRelation.parse_relations(relations):
                names.update(alternative["name"] for alternative in group)
    return names
