"""Offline bundles: a release's signed repository as one file, for a hub without network
(a USB stick, or an upload on the web page); applied by :mod:`picohub.update.bundle_apply`.

The format: a plain, uncompressed tar file (ustar; the .debs are compressed already)
whose members are regular files with flat names and no directories:

- ``InRelease`` first (the clear-signed index),
- then the index files it lists, in its order (``Packages``, ``Packages.gz``),
- then the .deb files, sorted by name: all of the release's packages, or only some
  (a bundle made from a hub's cache has the packages that changed there).

Every member is mode 0644, owner root, dated with the release's ``Date``, so the same
release gives the same bundle. ``Release``, ``Release.gpg``, the keyrings and
``SHA256SUMS`` are not in it: nothing but ``InRelease`` and what it signs is trusted.
A hub ignores (and does not keep) other members; it never trusts a key from a bundle.

Opening a bundle reads the tar headers first and refuses, before writing anything,
anything but regular files with plain names (no links, devices, directories, paths or
duplicate names), more than :data:`MAX_MEMBERS` members, more bytes than the limit, a
compressed or truncated file; it checks the free space, extracts into a scratch
directory beside the cache, and verifies that against the pinned keyring before anything
is used. Only then does the release move into the cache.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from picohub.errors import PicohubError, UsageError
from picohub.files import atomic_file, fsync_directory
from picohub.repository import (
    CHUNK,
    INRELEASE,
    RepositoryError,
    VerifiedRepository,
    safe_filename,
    verify_repository,
)
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.config import UpdateConfig
from picohub.update.fetch import check_free_space

log = logging.getLogger(__name__)

# A release has 6 files (InRelease, Packages, Packages.gz, three .debs); room to spare.
MAX_MEMBERS = 32
# Beside the packages (each at most max_download_bytes): InRelease and the index files.
INDEX_BYTES = 16 * 1024 * 1024
# A member's name: what a flat repository holds (ustar keeps names to 100 bytes).
MEMBER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,99}")
_END_OF_ARCHIVE = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


class BundleError(PicohubError):
    """The file is not a bundle that can be used safely; nothing was changed."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    members: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class Unpacked:
    """A bundle extracted into a scratch directory and verified."""

    version: str
    directory: Path
    verified: VerifiedRepository


def bundle_limit(config: UpdateConfig) -> int:
    """The most bytes a bundle may hold: every release package at its largest, and the index."""
    return len(RELEASE_PACKAGES) * config.max_download_bytes + INDEX_BYTES


def _member_name(name: str) -> str:
    if not MEMBER_NAME.fullmatch(name):
        raise BundleError(f"the bundle's member {name!r} is not a plain file name")
    return safe_filename(name)


# -- writing ---------------------------------------------------------------------------


def pack(directory: Path, names: Sequence[str], target: Path, *, mtime: int = 0) -> int:
    """Write the files ``names`` of ``directory`` as the bundle ``target``; return its size.

    Written beside ``target`` and fsync'ed, then linked into place, so ``target`` is
    either absent or complete. An existing ``target`` is never overwritten (it may be
    anything a root command was pointed at by mistake): that is refused.
    """
    refused = UsageError(
        f"{target} exists; picohub-update does not overwrite it",
        hint="remove it or choose another file name",
    )
    if target.exists() or target.is_symlink():
        raise refused
    if not target.parent.is_dir():
        raise UsageError(f"the folder {target.parent} does not exist")
    try:
        with atomic_file(target, mode=0o644, overwrite=False, suffix=".partial") as out:
            with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
                for name in names:
                    _add(archive, directory / _member_name(name), mtime)
            size = out.tell()
    except FileExistsError:  # one appeared meanwhile
        raise refused from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise PicohubError(
            f"cannot write the bundle {target}: {where}{exc.strerror or exc}"
        ) from exc
    return size


def _add(archive: tarfile.TarFile, path: Path, mtime: int) -> None:
    with path.open("rb") as source:
        info = tarfile.TarInfo(path.name)
        info.size = os.fstat(source.fileno()).st_size
        info.mtime = mtime
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        archive.addfile(info, source)


def _release_time(verified: VerifiedRepository) -> int:
    try:
        return int(parsedate_to_datetime(verified.release.fields["Date"]).timestamp())
    except (KeyError, TypeError, ValueError):
        return 0


def write_bundle(
    directory: Path, keyring: Path, target: Path, *, version: str | None = None
) -> Bundle:
    """Verify the repository in ``directory`` against ``keyring`` (the packages it has),
    then pack ``InRelease``, its index files and those packages as ``target``."""
    verified = verify_repository(directory, keyring, partial=True)
    signed_version = verified.release.fields.get("Version")
    if not signed_version:
        raise RepositoryError("the signed index has no Version field")
    if version is not None and signed_version != version:
        raise RepositoryError(
            f"{directory} should hold release {version}, but its signed index is "
            f"release {signed_version}"
        )
    if not verified.present:
        raise UsageError(f"release {signed_version} in {directory} has no packages to bundle")
    names = (
        INRELEASE,
        *verified.release.files,
        *sorted(path.name for path in verified.present),
    )
    size = pack(directory, names, target, mtime=_release_time(verified))
    return Bundle(target, signed_version, names, size)


def bundle_release(settings: Settings, version: str, target: Path) -> Bundle:
    """``picohub-update bundle VERSION FILE``: the cached release, verified again, packed."""
    directory = ReleaseCache(settings).release_dir(version)
    if not directory.is_dir():
        raise UsageError(
            f"release {version} is not in the cache ({directory})",
            hint=f"fetch it first: picohub-update fetch {version}",
        )
    return write_bundle(directory, settings.archive_keyring, target, version=version)


# -- reading ---------------------------------------------------------------------------


def unpack(
    bundle: Path, directory: Path, *, max_bytes: int, max_members: int = MAX_MEMBERS
) -> tuple[str, ...]:
    """Extract the bundle's members into ``directory`` (existing, empty); return their
    names. Every header is checked before the first byte is written."""
    try:
        if not stat.S_ISREG(bundle.stat().st_mode):  # a FIFO or a device: never opened
            raise BundleError(f"the bundle {bundle} is not a regular file")
        raw = bundle.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read the bundle {bundle}: {exc.strerror or exc}") from exc
    with raw:
        _refuse_compressed(raw, bundle)
        with _open_tar(raw, bundle) as archive:
            members = _members(archive, raw, bundle, max_bytes, max_members)
            check_free_space(directory, sum(member.size for member in members))
            for member in members:
                _extract(archive, member, directory, bundle)
    return tuple(member.name for member in members)


def _open_tar(raw: BinaryIO, bundle: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=raw, mode="r:")
    except (tarfile.TarError, ValueError, UnicodeError) as exc:
        raise BundleError(f"{bundle} is not a tar file ({exc})") from exc


def _refuse_compressed(raw: BinaryIO, bundle: Path) -> None:
    start = raw.read(8)
    raw.seek(0)
    for magic, kind in _COMPRESSED.items():
        if start.startswith(magic):
            raise BundleError(
                f"{bundle} is {kind}-compressed; a bundle is a plain tar file",
                hint="decompress it first, or make it with: picohub-update bundle VERSION FILE",
            )


def _members(
    archive: tarfile.TarFile, raw: BinaryIO, bundle: Path, max_bytes: int, max_members: int
) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    names: set[str] = set()
    total = 0
    while True:
        try:
            member = archive.next()
        except (tarfile.TarError, ValueError, UnicodeError) as exc:
            raise BundleError(
                f"{bundle} is truncated or damaged {_after(members)} ({exc})"
            ) from exc
        if member is None:
            break
        if len(members) >= max_members:
            raise BundleError(f"{bundle} has more than {max_members} members; not a bundle")
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
            raise BundleError(
                f"the bundle's member {member.name!r} is {_kind(member)}, not a regular file"
            )
        _member_name(member.name)
        if member.name in names:
            raise BundleError(f"the bundle has the member {member.name!r} twice")
        names.add(member.name)
        total += member.size
        if total > max_bytes:
            raise BundleError(
                f"{bundle} holds more than {max_bytes} bytes, the most a bundle may hold",
                hint="raise max_download_bytes in /etc/picohub/update.conf if that is expected",
            )
        members.append(member)
    # tarfile takes a damaged or missing header after the first for the end; the end of
    # a complete archive is two zero blocks.
    raw.seek(archive.offset)
    if raw.read(len(_END_OF_ARCHIVE)) != _END_OF_ARCHIVE:
        raise BundleError(
            f"{bundle} is truncated or damaged {_after(members)} (no end-of-archive marker)"
        )
    if not members:
        raise BundleError(f"{bundle} is an empty tar file")
    return members


def _after(members: Sequence[tarfile.TarInfo]) -> str:
    return f"after its member {members[-1].name!r}" if members else "at its start"


_KINDS = (
    (tarfile.TarInfo.issym, "a symbolic link"),
    (tarfile.TarInfo.islnk, "a hard link"),
    (tarfile.TarInfo.isdir, "a directory"),
    (tarfile.TarInfo.ischr, "a device"),
    (tarfile.TarInfo.isblk, "a device"),
    (tarfile.TarInfo.isfifo, "a FIFO"),
    (tarfile.TarInfo.issparse, "a sparse file"),
)


def _kind(member: tarfile.TarInfo) -> str:
    for test, words in _KINDS:
        if test(member):
            return words
    return f"of tar type {member.type!r}"


def _extract(
    archive: tarfile.TarFile, member: tarfile.TarInfo, directory: Path, bundle: Path
) -> None:
    source = archive.extractfile(member)
    if source is None:  # not reached: only regular files get here
        raise BundleError(f"the bundle's member {member.name!r} cannot be read")
    with source, (directory / member.name).open("xb") as out:
        left = member.size
        while left:
            try:
                chunk = source.read(min(CHUNK, left))
            except tarfile.ReadError as exc:
                raise BundleError(f"{bundle} is truncated in {member.name} ({exc})") from exc
            if not chunk:
                raise BundleError(f"{bundle} is truncated in {member.name}")
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())


@contextmanager
def opened(bundle: Path, settings: Settings, *, max_bytes: int) -> Iterator[Unpacked]:
    """The bundle extracted into a scratch directory beside the cache and verified
    against the pinned keyring; the directory is removed on leaving unless it was kept
    (:func:`keep`)."""
    scratch = ReleaseCache(settings).new_scratch()
    try:
        scratch.chmod(0o755)
        names = unpack(bundle, scratch, max_bytes=max_bytes)
        if INRELEASE not in names:
            raise BundleError(f"{bundle} is not a picohub bundle: it has no {INRELEASE}")
        verified = verify_repository(scratch, settings.archive_keyring, partial=True)
        version = verified.release.fields.get("Version")
        if not version:
            raise RepositoryError("the signed index has no Version field")
        ReleaseCache(settings).release_dir(version)  # a plain version, or refused
        yield Unpacked(version, scratch, verified)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def keep(unpacked: Unpacked, settings: Settings) -> Fetched:
    """Move the verified release into the cache as ``releases/VERSION`` (replacing a
    cached copy of it), without the members its signed index does not name."""
    verified = unpacked.verified
    signed = {INRELEASE, *verified.release.files, *(path.name for path in verified.present)}
    for path in sorted(unpacked.directory.iterdir()):
        if path.name not in signed:
            log.info("ignoring %s from the bundle: the signed index does not name it", path.name)
            path.unlink()
    target = ReleaseCache(settings).release_dir(unpacked.version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        log.info("replacing the cached release %s with the bundle's", unpacked.version)
        shutil.rmtree(target)
    unpacked.directory.rename(target)
    fsync_directory(target.parent)
    debs = tuple(target / path.name for path in verified.present)
    return Fetched(unpacked.version, target, debs, 0)
