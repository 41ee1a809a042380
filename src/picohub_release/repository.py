"""Write a signed flat apt repository over a release's .debs.

``Packages`` and ``Packages.gz``, a ``Release`` with SHA256 lines, ``InRelease`` (clear
signed) and ``Release.gpg`` (detached), the public key, the release as one offline bundle,
and ``SHA256SUMS`` over every asset, all written with python-debian's deb822 classes.
Origin, Label, Suite and Codename never change between releases: apt treats a change as a
different archive.
"""

from __future__ import annotations

import gzip
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from debian.deb822 import Packages, Release
from debian.debfile import DebFile

from picohub.errors import UsageError
from picohub.repository import INRELEASE, PACKAGES, PHASED, sha256_of
from picohub.update.bundle import pack
from picohub_release.signing import Signer

ORIGIN = "picohub"
LABEL = "picohub"
SUITE = "stable"
CODENAME = "picohub"
KEYRING = "picohub-archive-keyring.gpg"
KEYRING_ARMORED = "picohub-archive-keyring.asc"
SUMS = "SHA256SUMS"


def bundle_name(version: str) -> str:
    """The release asset that is the release's offline bundle."""
    return f"picohub_{version}_bundle.tar"


@dataclass(frozen=True)
class Repository:
    directory: Path
    version: str
    assets: tuple[Path, ...]


def _package_paragraph(deb: Path, phase: int | None) -> Packages:
    control = DebFile(str(deb)).debcontrol()
    paragraph = Packages()
    for key, value in control.items():
        paragraph[key] = value
    if phase is not None:
        # apt's own field (apt >= 2.1.16); apt ignores it when a version is asked for, as
        # picohub installs, so the hub's updater evaluates it (picohub.update.phasing).
        paragraph[PHASED] = str(phase)
    # Flat repository: the file sits beside the index, named without "./".
    paragraph["Filename"] = deb.name
    paragraph["Size"] = str(deb.stat().st_size)
    paragraph["SHA256"] = sha256_of(deb)
    return paragraph


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name: the same Packages gives the same Packages.gz.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as handle:
        handle.write(data)
    return buffer.getvalue()


def _release_text(
    directory: Path,
    names: Sequence[str],
    version: str,
    date: datetime,
    valid_until: datetime | None,
) -> str:
    release = Release()
    release["Origin"] = ORIGIN
    release["Label"] = LABEL
    release["Suite"] = SUITE
    release["Codename"] = CODENAME
    release["Version"] = version
    release["Date"] = format_datetime(date.astimezone(UTC), usegmt=True)
    if valid_until is not None:
        # A hub refuses the latest release once this has passed (a freeze): the channel
        # must be published again before then.
        release["Valid-Until"] = format_datetime(valid_until.astimezone(UTC), usegmt=True)
    release["Architectures"] = "all"
    release["Description"] = f"picohub {version}"
    # deb822's multivalued fields take a list of dicts; its type hints only say str.
    release["SHA256"] = [  # type: ignore[assignment]
        {
            "sha256": sha256_of(directory / name),
            "size": str((directory / name).stat().st_size),
            "name": name,
        }
        for name in names
    ]
    return str(release)


def write_repository(
    debs: Sequence[Path],
    directory: Path,
    signer: Signer,
    *,
    version: str,
    date: datetime | None = None,
    valid_for: timedelta | None = None,
    phase: int | None = None,
) -> Repository:
    """Write the repository for ``debs`` as ``directory``, signed by ``signer``; with
    ``valid_for``, its ``Release`` is valid until that long after its ``Date``; with
    ``phase`` (0-100), every package's stanza has that ``Phased-Update-Percentage``.

    The percentage is signed with the index: raising it later means re-signing the
    release, which an immutable GitHub release does not allow (a fleet server does).

    It is written beside its place and moved there only when complete, so a failure
    (a signing failure above all) never leaves an unsigned or partial repository.
    """
    final = directory
    directory = final.with_name(final.name + ".partial")
    if phase is not None and not 0 <= phase <= 100:
        raise UsageError(f"a phased percentage is 0-100, not {phase}")
    for stale in (directory, final):
        if stale.exists():
            shutil.rmtree(stale)
    directory.mkdir(parents=True)
    try:
        return _fill(
            debs,
            directory,
            final,
            signer,
            version=version,
            date=date,
            valid_for=valid_for,
            phase=phase,
        )
    finally:
        if directory.exists():
            shutil.rmtree(directory)


def _fill(
    debs: Sequence[Path],
    directory: Path,
    final: Path,
    signer: Signer,
    *,
    version: str,
    date: datetime | None,
    valid_for: timedelta | None,
    phase: int | None,
) -> Repository:
    copies = []
    for deb in sorted(debs, key=lambda path: path.name):
        copies.append(directory / deb.name)
        shutil.copyfile(deb, copies[-1])

    paragraphs = [str(_package_paragraph(deb, phase)) for deb in copies]
    packages = "\n".join(paragraphs).encode("utf-8")
    (directory / PACKAGES).write_bytes(packages)
    (directory / f"{PACKAGES}.gz").write_bytes(_gzip(packages))

    date = (date or datetime.now(UTC)).replace(microsecond=0)
    valid_until = None if valid_for is None else date + valid_for
    release = _release_text(directory, [PACKAGES, f"{PACKAGES}.gz"], version, date, valid_until)
    (directory / "Release").write_text(release, encoding="utf-8")
    (directory / INRELEASE).write_text(signer.clearsign(release), encoding="utf-8")
    (directory / "Release.gpg").write_text(signer.detach_sign(release), encoding="utf-8")
    (directory / KEYRING).write_bytes(signer.public_key(armor=False))
    (directory / KEYRING_ARMORED).write_bytes(signer.public_key(armor=True))
    # The offline bundle (README, "Offline bundles"): InRelease, what it signs, the .debs.
    pack(
        directory,
        [INRELEASE, PACKAGES, f"{PACKAGES}.gz", *(deb.name for deb in copies)],
        directory / bundle_name(version),
        mtime=int(date.timestamp()),
    )

    assets = sorted(path for path in directory.iterdir() if path.name != SUMS)
    sums = "".join(f"{sha256_of(path)}  {path.name}\n" for path in assets)
    (directory / SUMS).write_text(sums, encoding="utf-8")
    directory.rename(final)
    return Repository(
        final, version, tuple(final / path.name for path in (*assets, directory / SUMS))
    )
