"""What dpkg has installed: the versions the hub reports are dpkg's, never constants."""

from __future__ import annotations

from pathlib import Path

from picohub.errors import CommandError
from picohub.process import run

# States in which the package's files on disk are all of the recorded version. The service
# restarts from postinst, while the package is still "half-configured"; "half-installed"
# means an unpack was interrupted and the files are a mix.
_FILES_ON_DISK = frozenset(
    {"installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"}
)


def installed_version(package: str, admin_dir: Path) -> str | None:
    """The version of ``package`` dpkg has installed, or None when it is not installed."""
    try:
        result = run(
            [
                "dpkg-query",
                f"--admindir={admin_dir}",
                "--showformat=${db:Status-Status} ${Version}",
                "--show",
                package,
            ],
            timeout=30,
        )
    except CommandError as exc:
        if exc.returncode == 1:  # dpkg-query: no package found matching
            return None
        raise
    status, _, version = result.stdout.strip().partition(" ")
    return version if status in _FILES_ON_DISK and version else None
