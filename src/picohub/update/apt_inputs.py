"""What apt reads on the hub to plan an install, summed up in one digest: the same
digest means apt would answer the same (:mod:`picohub.update.plan` keeps its answer).

apt plans over dpkg's database, the hub's sources and the lists apt last fetched for
them, its configuration and preferences (pins), and the release's own signed index.
Each is read here: small files by their bytes (dpkg's status, the sources, the
configuration), the hub's lists, tens of megabytes, by name, size, modification time and
inode (apt judges whether its package cache is still valid by the first two). The
packages asked for and whether a downgrade is allowed go in too, and picohub's own
version (the code that reads apt's answer). What is left out cannot change the plan:
the .debs are bound to the signed index by their hashes, and verified again before
every install.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from picohub import __version__
from picohub.repository import INRELEASE
from picohub.settings import Settings
from picohub.update.cache import Fetched

# apt's configuration beside its sources list (/etc/apt): options and pins.
APT_CONFIGURATION = ("apt.conf", "apt.conf.d", "preferences", "preferences.d")
# dpkg's database: the status apt reads, unmerged updates (which make apt refuse to
# act), and the foreign architectures.
DPKG_FILES = ("status", "updates", "arch")


def plan_digest(
    fetched: Fetched, packages: Sequence[str], settings: Settings, *, downgrade: bool
) -> str:
    """The digest of everything apt's plan to install ``packages`` of ``fetched`` reads."""
    digest = hashlib.sha256()

    def add(*fields: object) -> None:
        digest.update(repr(fields).encode() + b"\n")

    add("picohub", __version__)
    add("asked", fetched.version, tuple(packages), downgrade)
    add("release", fetched.directory, _content(fetched.directory / INRELEASE))
    for name in DPKG_FILES:
        for path in _files(settings.dpkg_admin_dir / name):
            add("dpkg", path, _content(path))
    for path in _files(settings.apt_sources_list, settings.apt_sources_parts):
        add("sources", path, _content(path))
    etc = settings.apt_sources_list.parent
    for path in _files(*(etc / name for name in APT_CONFIGURATION)):
        add("configuration", path, _content(path))
    for path in _files(settings.apt_lists):
        add("lists", path, _stamp(path))
    return digest.hexdigest()


def _files(*places: Path) -> Iterable[Path]:
    """The files at ``places`` (a file, or the files in a folder), in a stable order;
    nothing for a place that is not there."""
    for place in places:
        if place.is_dir():
            yield from sorted(p for p in place.iterdir() if p.is_file() and p.name != "lock")
        elif place.is_file():
            yield place


def _content(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def _stamp(path: Path) -> tuple[int, int, int] | str:
    """A file's size, modification time (nanoseconds) and inode, following a symbolic
    link: apt replaces a list it fetched again by renaming a new file into place."""
    try:
        found = path.stat()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return (found.st_size, found.st_mtime_ns, found.st_ino)
