"""Make a release: build the packages, write the signed flat repository, verify it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from debian.debfile import DebFile

from picohub.errors import PicohubError
from picohub.repository import VerifiedRepository, verify_repository
from picohub_release.build import build_debs
from picohub_release.firmware_key import FirmwareKey
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import Signer
from picohub_release.versions import check_tag

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Made:
    repository: Repository
    verified: VerifiedRepository


def check_package_versions(debs: list[Path] | tuple[Path, ...], version: str) -> None:
    for deb in debs:
        found = DebFile(str(deb)).debcontrol()["Version"]
        if found != version:
            raise PicohubError(f"{deb.name} has version {found}, the release is {version}")


def make_release(
    source: Path,
    dist: Path,
    work: Path,
    repo_dir: Path,
    signer: Signer,
    *,
    firmware_key: FirmwareKey,
    tag: str | None = None,
    keyring: Path | None = None,
    valid_for: timedelta | None = None,
    phase: int | None = None,
) -> Made:
    """Build from a clean copy of ``source`` and write the repository to ``repo_dir``.

    The repository is verified as a device would verify it: against ``keyring`` when
    given (the one devices pin), else against the public key written beside it.
    ``firmware_key`` signs the firmware manifest: a release never ships it unsigned.
    """
    # The picohub package pins the key that signs this release.
    pinned = work / "picohub-archive-keyring.gpg"
    work.mkdir(parents=True, exist_ok=True)
    pinned.write_bytes(signer.public_key(armor=False))
    build = build_debs(source, dist, work, keyring=pinned, firmware_key=firmware_key)
    if tag is not None:
        check_tag(tag, build.version)
    check_package_versions(build.debs, build.version)
    repository = write_repository(
        build.debs, repo_dir, signer, version=build.version, valid_for=valid_for, phase=phase
    )
    verified = verify_repository(repo_dir, keyring or repo_dir / KEYRING)
    log.info(
        "release %s: %d packages, signed by %s, in %s",
        build.version,
        len(verified.packages),
        verified.release.fingerprint,
        repo_dir,
    )
    return Made(repository, verified)
