"""What dpkg has installed: the versions the hub reports are dpkg's, never constants."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from picohub.errors import CommandError
from picohub.process import describe_returncode, run

# States in which the package's files on disk are all of the recorded version. The service
# restarts from postinst, while the package is still "half-configured"; "half-installed"
# means an unpack was interrupted and the files are a mix.
_FILES_ON_DISK = frozenset(
    {"installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"}
)


def installed_versions(packages: Sequence[str], admin_dir: Path) -> dict[str, str | None]:
    """The version dpkg has of each package, None for one that is not installed."""
    # dpkg-query exits 1 when any package is unknown but still prints the others.
    argv = [
        "dpkg-query",
        f"--admindir={admin_dir}",
        "--showformat=${Package} ${db:Status-Status} ${Version}\n",
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
    versions: dict[str, str | None] = dict.fromkeys(packages)
    for line in result.stdout.splitlines():
        name, status, version = [*line.split(" ", 2), "", ""][:3]
        if name in versions and status in _FILES_ON_DISK and version:
            versions[name] = version
    return versions


def installed_version(package: str, admin_dir: Path) -> str | None:
    """The version of ``package`` dpkg has installed, or None when it is not installed."""
    return installed_versions([package], admin_dir)[package]
