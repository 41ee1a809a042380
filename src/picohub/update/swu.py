"""The picohub bundle inside an SWUpdate image (``.swu``), as goosebit hands releases out.

goosebit, a hawkBit DDI server, takes only SWUpdate images (or RAUC bundles) as software.
A picohub release for it is a ``.swu``: a cpio archive in the "new ASCII" format (magic
``070701``, or ``070702`` with a checksum of each member's bytes) whose first member is
``sw-description`` and whose other member is the release's signed offline bundle, a tar.
:func:`extract_bundle` reads that archive (stdlib only, no cpio(1)) and writes the one tar
member to a folder, to be applied as any bundle is: its signature against the pinned
release key decides, not anything in the ``.swu`` (``sw-description`` is not read).

Refused, with the reason: cpio's older formats (portable ASCII, binary), another first
member, a member name that is not a plain file name (``../x``, ``/etc/x``, ``a/b``), a
member that is not a regular file, no tar member or more than one, a header or member
cut short, a crc member whose checksum is wrong, and sizes beyond sane bounds (names,
member count, ``sw-description``, the bundle).
"""

from __future__ import annotations

import logging
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from picohub.errors import PicohubError
from picohub.files import rename_into_place

log = logging.getLogger(__name__)

NEWC = b"070701"
CRC = b"070702"
MAGICS = (NEWC, CRC)
# cpio's older formats, which SWUpdate does not read: portable ASCII ("odc") and binary
# (its 2-byte magic 070707 in either byte order).
OLD_MAGICS = (b"070707", b"\xc7\x71", b"\x71\xc7")
DESCRIPTION = "sw-description"
TRAILER = "TRAILER!!!"
HEADER_BYTES = 110  # the magic and 13 fields of 8 hex digits
MAX_NAME_BYTES = 256
MAX_MEMBERS = 64
MAX_DESCRIPTION_BYTES = 1 << 20
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
CHUNK = 1 << 20
_FILE_TYPE = 0o170000
_REGULAR = 0o100000
_TAR_BLOCK = 512


class SwuError(PicohubError):
    """The ``.swu`` is not an SWUpdate image holding one picohub bundle."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(
            f"the SWUpdate image {path.name} is not usable: {message}",
            hint="a picohub .swu holds sw-description and the release's .bundle.tar only",
        )


@dataclass(frozen=True)
class Member:
    """One cpio member: its name, where its bytes start in the archive, their size."""

    name: str
    mode: int
    offset: int
    size: int
    checksum: int | None  # the crc format's sum of the bytes; None in newc


def is_swu(path: Path) -> bool:
    """Whether ``path`` starts as a cpio archive, as an SWUpdate image does (one in an
    older cpio format is then refused by :func:`extract_bundle` with what to do)."""
    with path.open("rb") as stream:
        start = stream.read(len(NEWC))
    return start in MAGICS or start in OLD_MAGICS or start[:2] in OLD_MAGICS


def _pad(length: int) -> int:
    return -length % 4


def _fields(header: bytes) -> list[int]:
    fields = []
    for start in range(6, HEADER_BYTES, 8):
        text = header[start : start + 8]
        try:
            fields.append(int(text, 16))
        except ValueError:
            raise ValueError(f"a header field is {text!r}, not 8 hex digits") from None
    return fields


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def members(stream: BinaryIO, total: int) -> Iterator[Member]:
    """The members of the cpio archive in ``stream`` (``total`` bytes), in order, up to
    the trailer; :class:`ValueError` saying what is wrong with it."""
    offset = 0
    for index in range(MAX_MEMBERS + 1):
        stream.seek(offset)
        header = stream.read(HEADER_BYTES)
        if offset == 0 and (header[:6] in OLD_MAGICS or header[:2] in OLD_MAGICS):
            raise ValueError(
                "it is a cpio archive of an older format (portable ASCII or binary), which "
                "SWUpdate does not read: pack it in the new ASCII format (cpio -H newc or "
                "-H crc)"
            )
        if len(header) < HEADER_BYTES:
            raise ValueError(f"it ends at byte {offset + len(header)}, before its trailer")
        if header[:6] not in MAGICS:
            raise ValueError(f"byte {offset} starts no cpio header of the new ASCII format")
        fields = _fields(header)
        mode, size, name_size, check = fields[1], fields[6], fields[11], fields[12]
        if not 1 < name_size <= MAX_NAME_BYTES:
            raise ValueError(f"member {index + 1} has a name of {name_size} bytes")
        raw = stream.read(name_size)
        if len(raw) < name_size or raw[-1:] != b"\0":
            raise ValueError(f"the name of member {index + 1} is cut short")
        name = raw[:-1].decode("utf-8", errors="replace")
        start = offset + HEADER_BYTES + name_size
        start += _pad(start)
        if name == TRAILER:
            return
        if index == MAX_MEMBERS:
            break
        if start + size > total:
            raise ValueError(f"member {name!r} has {size} bytes; the image ends before them")
        yield Member(name, mode, start, size, check if header[:6] == CRC else None)
        offset = start + size + _pad(start + size)
    raise ValueError(f"it has more than {MAX_MEMBERS} members")


def _is_tar(stream: BinaryIO, member: Member) -> bool:
    """Whether ``member`` starts with a valid ustar (POSIX, GNU or pax) header block."""
    if member.size < _TAR_BLOCK:
        return False
    stream.seek(member.offset)
    block = stream.read(_TAR_BLOCK)
    if block[257:262] != b"ustar":
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _copy(stream: BinaryIO, member: Member, target: Path) -> None:
    """``member``'s bytes to ``target`` (through ``target.part``); a crc member's
    checksum is checked before the file appears."""
    part = target.with_name(target.name + ".part")
    total = 0
    stream.seek(member.offset)
    left = member.size
    try:
        with part.open("wb") as out:
            while left:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    raise ValueError(f"member {member.name!r} is cut short")
                if member.checksum is not None:
                    total = (total + sum(chunk)) & 0xFFFFFFFF
                out.write(chunk)
                left -= len(chunk)
        if member.checksum is not None and total != member.checksum:
            raise ValueError(f"member {member.name!r} does not match its cpio checksum")
        rename_into_place(part, target)
    finally:
        part.unlink(missing_ok=True)


def extract_bundle(swu: Path, directory: Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Path:
    """The picohub bundle of the SWUpdate image ``swu``, written to ``directory`` under
    its member name; :class:`SwuError` when the image is not one picohub can use."""
    try:
        with swu.open("rb") as stream:
            total = os.fstat(stream.fileno()).st_size
            found = list(members(stream, total))
            _check(found)
            tars = [member for member in found[1:] if _is_tar(stream, member)]
            if not tars:
                raise ValueError("none of its members is a tar (the picohub bundle)")
            if len(tars) > 1:
                names = ", ".join(repr(member.name) for member in tars)
                raise ValueError(f"it has {len(tars)} tar members ({names}); one is the bundle")
            [bundle] = tars
            if bundle.size > max_bytes:
                raise ValueError(
                    f"its bundle {bundle.name!r} has {bundle.size} bytes, "
                    f"more than the limit of {max_bytes}"
                )
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / bundle.name
            _copy(stream, bundle, target)
            log.info("took the bundle %s (%d bytes) out of %s", bundle.name, bundle.size, swu)
            return target
    except ValueError as exc:
        raise SwuError(swu, str(exc)) from None


def _check(found: list[Member]) -> None:
    """The rules every member must follow (see the module docstring)."""
    if not found or found[0].name != DESCRIPTION:
        first = found[0].name if found else "none"
        raise ValueError(f"its first member is {first!r}, not {DESCRIPTION}")
    if found[0].size > MAX_DESCRIPTION_BYTES:
        raise ValueError(f"its {DESCRIPTION} has {found[0].size} bytes")
    names = set()
    for member in found:
        if not _plain(member.name):
            raise ValueError(f"the member name {member.name[:80]!r} is not a plain file name")
        if member.mode & _FILE_TYPE != _REGULAR:
            raise ValueError(f"member {member.name!r} is not a regular file")
        if member.name in names:
            raise ValueError(f"two members are named {member.name!r}")
        names.add(member.name)
