"""A minimal SWUpdate image (``.swu``): what goosebit takes as software.

goosebit 0.2 accepts only an SWUpdate image or a RAUC bundle: it reads the first member of
the ``.swu``, ``sw-description`` (libconfig syntax), for ``software.version`` and the
``hardware-compatibility`` lists (none: board "default", revision "default"), and hands
the whole file out with its SHA-1. A ``.swu`` is a cpio archive in the "new ASCII"
(``070701``) format; Debian's cpio is not needed to write one this small, so it is written
here: ``sw-description`` first, then the picohub bundle, then the trailer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MAGIC = b"070701"
CRC_MAGIC = b"070702"  # the same, with the sum of each member's bytes in its header
TRAILER = "TRAILER!!!"
_HEADER = 110  # the magic and 13 fields of 8 hex digits
REGULAR = 0o100644


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def member(
    name: str,
    data: bytes,
    inode: int,
    *,
    mode: int | None = None,
    magic: bytes = MAGIC,
    checksum: int | None = None,
) -> bytes:
    """One cpio member; in the crc format its checksum is the sum of ``data`` unless
    ``checksum`` says otherwise (a wrong one, for a test)."""
    encoded = name.encode() + b"\0"
    if mode is None:
        mode = 0 if name == TRAILER else REGULAR
    if checksum is None:
        checksum = sum(data) & 0xFFFFFFFF if magic == CRC_MAGIC else 0
    # inode, mode, uid, gid, links, mtime, size, 4 device numbers, name size, checksum
    fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), checksum)
    header = magic + b"".join(b"%08X" % value for value in fields) + encoded
    return header + _pad(len(header)) + data + _pad(len(data))


def trailer(magic: bytes = MAGIC) -> bytes:
    return member(TRAILER, b"", 0, magic=magic)


def sw_description(version: str, bundle_name: str, bundle: bytes) -> str:
    """The ``sw-description`` of an image whose one file is the picohub bundle."""
    digest = hashlib.sha256(bundle).hexdigest()
    return (
        "software = {\n"
        f'  version = "{version}";\n'
        f'  description = "picohub {version}";\n'
        "  images: ( {\n"
        f'    filename = "{bundle_name}";\n'
        '    type = "picohub-bundle";\n'
        f'    sha256 = "{digest}";\n'
        "  } );\n"
        "};\n"
    )


def write_swu(path: Path, version: str, bundle_name: str, bundle: bytes) -> Path:
    """``path``: an SWUpdate image of ``version`` holding the bundle."""
    description = sw_description(version, bundle_name, bundle).encode()
    path.write_bytes(
        member("sw-description", description, 1) + member(bundle_name, bundle, 2) + trailer()
    )
    return path


def read_swu(data: bytes) -> dict[str, bytes]:
    """The members of a ``.swu`` by name, in order (the trailer left out)."""
    members: dict[str, bytes] = {}
    offset = 0
    while True:
        header = data[offset : offset + _HEADER]
        if len(header) < _HEADER or header[:6] not in (MAGIC, CRC_MAGIC):
            raise ValueError(f"no cpio header at offset {offset}")
        size = int(header[54:62], 16)
        name_size = int(header[94:102], 16)
        name_end = offset + _HEADER + name_size
        name = data[offset + _HEADER : name_end - 1].decode()
        start = name_end + (-name_end % 4)
        if name == TRAILER:
            return members
        members[name] = data[start : start + size]
        offset = start + size + (-(start + size) % 4)
