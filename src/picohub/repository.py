"""Read and verify a signed flat apt repository, as apt itself would.

``InRelease`` is checked with ``gpgv`` against a pinned keyring before anything is read
from it; everything else (``Packages``, the .debs) is trusted only through the SHA-256
sums and sizes the signed index gives. Used by the device's updater and by the release
tool's ``verify`` command.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Packages, Release

from picohub.errors import PicohubError
from picohub.process import run

INRELEASE = "InRelease"
PACKAGES = "Packages"
# apt's field for phased updates, which the release tool writes (--phase).
PHASED = "Phased-Update-Percentage"
CHUNK = 1 << 16


class RepositoryError(PicohubError):
    """The repository is not what its signed index says: do not use it."""


class UnknownSignerError(RepositoryError):
    """Signed only by keys the keyring does not hold (``fingerprints``)."""

    def __init__(self, message: str, *, hint: str, fingerprints: tuple[str, ...]) -> None:
        super().__init__(message, hint=hint)
        self.fingerprints = fingerprints


@dataclass(frozen=True)
class IndexedFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackageEntry:
    package: str
    version: str
    filename: str
    size: int
    sha256: str
    # Phased-Update-Percentage (0-100): the release reaches this share of hubs
    # automatically (picohub.update.phasing); None when not phased.
    phase: int | None = None


@dataclass(frozen=True)
class SignedRelease:
    fingerprint: str
    fields: dict[str, str]
    files: dict[str, IndexedFile]


def verify_signed_text(signed: Path, keyring: Path) -> tuple[str, str]:
    """Check a clear-signed file with gpgv against ``keyring``; return (fingerprint, text)."""
    if not keyring.is_file():
        raise RepositoryError(f"the keyring {keyring} does not exist")
    with tempfile.TemporaryDirectory(prefix="picohub-gpgv-") as scratch:
        output = Path(scratch) / "signed-text"
        result = run(
            [
                "gpgv",
                "--status-fd=1",
                # A key or signature from after the hub's clock (a Pi without a real-time
                # clock): the signature still holds; picohub judges time by its own floor
                # (picohub.update.timefloor), as apt-key does by apt's checks.
                "--ignore-time-conflict",
                f"--keyring={keyring.resolve()}",
                f"--output={output}",
                signed,
            ],
            check=False,
            timeout=60,
        )
        status = [
            line.split()[1:] for line in result.stdout.splitlines() if line.startswith("[GNUPG:] ")
        ]
        words = {fields[0] for fields in status if fields}
        valid = [fields for fields in status if fields and fields[0] == "VALIDSIG"]
        # As apt: a good signature by a key that is neither expired nor revoked, and no bad
        # one beside it. A signature by a key the keyring lacks does not count, and does not
        # spoil a good one beside it: during a key change a release is signed by the old
        # key and the new one, and a hub knows one of them.
        refused = words & {"BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG"}
        if not valid or "GOODSIG" not in words or refused:
            # ERRSIG KEYID ALGO HASH CLASS TIME 9 [FINGERPRINT]: no public key for it.
            unknown = [
                fields[7] if len(fields) > 7 else fields[1]
                for fields in status
                if len(fields) > 6 and fields[0] == "ERRSIG" and fields[6] == "9"
            ]
            if unknown and not refused:
                raise UnknownSignerError(
                    f"{signed.name} is not signed by a key in {keyring}: only by "
                    f"{', '.join(unknown)}, which it does not hold. Either the release "
                    "channel moved to a new release key after this hub's release, or the "
                    "release is not genuine",
                    hint="after a key change, install the release that brought the new key "
                    "first (it is signed by both keys: picohub-update apply VERSION, or an "
                    "offline bundle of it); otherwise do not use it",
                    fingerprints=tuple(unknown),
                )
            reason = result.stderr.strip().splitlines()
            raise RepositoryError(
                f"{signed.name} is not signed by a key in {keyring}"
                + (f": {reason[-1]}" if reason else ""),
                hint="the release may be tampered with or signed by another key; do not use it",
            )
        return valid[0][1], output.read_text(encoding="utf-8")


def read_release(text: str, fingerprint: str) -> SignedRelease:
    release = Release(text)
    files = {
        entry["name"]: IndexedFile(entry["name"], int(entry["size"]), entry["sha256"].lower())
        for entry in release.get("SHA256", [])
    }
    if not files:
        raise RepositoryError("the signed index lists no SHA256 sums")
    fields = {key: str(value) for key, value in release.items() if key != "SHA256"}
    return SignedRelease(fingerprint, fields, files)


def read_packages(text: str) -> list[PackageEntry]:
    entries = []
    for paragraph in Packages.iter_paragraphs(text.splitlines(keepends=True), use_apt_pkg=False):
        try:
            entries.append(
                PackageEntry(
                    package=paragraph["Package"],
                    version=paragraph["Version"],
                    filename=paragraph["Filename"],
                    size=int(paragraph["Size"]),
                    sha256=paragraph["SHA256"].lower(),
                    phase=_percentage(paragraph.get(PHASED)),
                )
            )
        except (KeyError, ValueError) as exc:
            raise RepositoryError(f"Packages has an entry without a valid {exc}") from exc
    return entries


def _percentage(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)  # ValueError: said as an entry without a valid field
    if not 0 <= value <= 100:
        raise ValueError(f"{PHASED!r} ({text} is not 0-100)")
    return value


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, size: int, sha256: str) -> None:
    """Raise unless ``path`` has exactly this size and SHA-256."""
    if not path.is_file():
        raise RepositoryError(f"{path.name} is missing")
    actual_size = path.stat().st_size
    if actual_size != size:
        raise RepositoryError(f"{path.name} has {actual_size} bytes; the signed index says {size}")
    if sha256_of(path) != sha256:
        raise RepositoryError(f"{path.name} does not match the SHA-256 in the signed index")


def safe_filename(name: str) -> str:
    """A Filename from an index, refused unless it is a plain name in the repository."""
    if not name or "/" in name or name in (".", "..") or name.startswith("."):
        raise RepositoryError(f"the index names the file {name!r}, which is not a plain name")
    return name


@dataclass(frozen=True)
class VerifiedRepository:
    release: SignedRelease
    packages: list[PackageEntry]
    present: tuple[Path, ...]  # the package files checked


def verify_repository(
    directory: Path, keyring: Path, *, partial: bool = False
) -> VerifiedRepository:
    """Check a repository directory end to end: signature, index, every package.

    ``partial``: packages missing from the directory are allowed (the updater's cache
    holds only the packages that changed); those present are checked all the same.
    """
    fingerprint, text = verify_signed_text(directory / INRELEASE, keyring)
    return verify_indexed(directory, read_release(text, fingerprint), partial=partial)


def verify_indexed(
    directory: Path, release: SignedRelease, *, partial: bool = False
) -> VerifiedRepository:
    """Check what ``release`` (a trusted index) lists: Packages, then every package."""
    if PACKAGES not in release.files:
        raise RepositoryError("the signed index does not list Packages")
    for entry in release.files.values():
        check_file(directory / safe_filename(entry.name), entry.size, entry.sha256)
    packages = read_packages((directory / PACKAGES).read_text(encoding="utf-8"))
    present = []
    for package in packages:
        path = directory / safe_filename(package.filename)
        if partial and not path.exists():
            continue
        check_file(path, package.size, package.sha256)
        present.append(path)
    return VerifiedRepository(release, packages, tuple(present))
