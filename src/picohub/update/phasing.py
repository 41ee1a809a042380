"""Phased releases: which hubs take a release automatically while it is phased.

The release tool writes apt's ``Phased-Update-Percentage`` into the signed ``Packages``
(``--phase PERCENT``). apt applies it only when it picks a version on an upgrade, and
picohub installs a release by version, so the updater evaluates it here. A hub takes a
phased release automatically when its bucket (0-99) is below the percentage: at 20% the
hubs in buckets 0-19, about a fifth, each the same on every run; at 0% none (the release
is halted), at 100% all. A person's install (``apply VERSION``, the page's Install) is
never phased.

The bucket is computed as apt does in spirit: apt (apt-pkg/depcache.cc, "phased
updates", apt >= 2.1.16) seeds a random draw with ``"<source package>-<version>-<machine
id>"``, so that each release picks its own share of machines. Its draw (C++'s
``minstd_rand`` over a ``seed_seq``) is not reproducible from Python's standard library,
so the same seed goes through SHA-256 instead (stable across Python versions and
machines, unlike ``hash()``): the first 8 bytes of the digest, big-endian, modulo 100.
A hub is thus not in the same bucket as under apt; what matters is that every hub's
bucket is fixed for a release and uniformly spread.

A hub whose ``/etc/machine-id`` is missing or empty is put in the last bucket (99): it
takes a phased release only at 100%, and says why.

The limit: the percentage is signed with the release's index. Raising it (20% today,
50% next week) means re-signing the release, which GitHub's immutable releases do not
allow; owners who need a rollout that grows use a fleet server (Eclipse hawkBit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from picohub.repository import PackageEntry
from picohub.settings import PACKAGE

BUCKETS = 100
LAST_BUCKET = BUCKETS - 1
# Every package of a release is built from the one source package.
SOURCE = PACKAGE


def bucket(source: str, version: str, machine_id: str) -> int:
    """This machine's bucket (0-99) for release ``version`` of ``source``."""
    seed = f"{source}-{version}-{machine_id}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % BUCKETS


def read_machine_id(path: Path) -> str | None:
    """The machine id in ``path`` (``Settings.machine_id``), or None when missing or empty."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return text or None


@dataclass(frozen=True)
class Phasing:
    """A phased release as seen from this hub."""

    percentage: int  # the release's Phased-Update-Percentage, 0-100
    bucket: int  # this hub's bucket for the release, 0-99
    machine_id_known: bool = True  # False: no machine id, the last bucket

    @property
    def included(self) -> bool:
        """Whether this hub takes the release automatically now."""
        return self.bucket < self.percentage

    @property
    def halted(self) -> bool:
        return self.percentage == 0

    @property
    def turn_at(self) -> int:
        """The percentage from which this hub takes the release (1-100)."""
        return self.bucket + 1

    @property
    def why_not(self) -> str | None:
        """Why this hub does not take the release automatically; None when it does."""
        if self.included:
            return None
        if self.halted:
            said = "the release is halted (phased at 0%)"
        else:
            said = (
                f"not this hub's turn yet (bucket {self.bucket}, the release is at "
                f"{self.percentage}%)"
            )
        said += f"; this hub's turn comes at {self.turn_at}%"
        if not self.machine_id_known:
            said += " (no /etc/machine-id: the last bucket)"
        return said


def phasing_of(
    packages: Iterable[PackageEntry], version: str, machine_id: str | None
) -> Phasing | None:
    """How the release's ``packages`` are phased for this hub; None when not phased.

    The release tool writes one percentage into every package; should they differ, the
    lowest holds (the release is installed as a whole)."""
    percentages = [entry.phase for entry in packages if entry.phase is not None]
    if not percentages:
        return None
    known = machine_id is not None
    place = bucket(SOURCE, version, machine_id) if machine_id is not None else LAST_BUCKET
    return Phasing(min(percentages), place, known)
