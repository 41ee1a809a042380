"""A valid but not bootable UF2 image, the same for the same inputs, for tests and demos.

It lets the package build and the update path be tested without a Pico SDK build. For an
RP2350 board it starts with an IMAGE_DEF block as a Pico SDK build for OTA has one (an
executable Arm image with the TBYB flag and the version's major.minor as binary_version),
so it passes the build's over-the-air checks; the code after it is random bytes.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from picohub.errors import UsageError
from picohub.firmware import picobin
from picohub.firmware.ota import expected_binary_version
from picohub.firmware.uf2 import (
    DATA_AREA_SIZE,
    E10_ADDRESS,
    E10_BLOCK_COUNT,
    E10_FILL,
    FLAG_FAMILY_ID,
    FLASH_START,
    HEADER,
    IMAGE_DEF_MARKER,
    MAGIC_END,
    MAGIC_START0,
    MAGIC_START1,
    PAYLOAD_SIZE,
    U32,
    Board,
    Family,
)

TEST_IMAGE_LABEL = b"picohub test image, not bootable: "
FROM_VERSION: Literal["from-version"] = "from-version"


def generate_test_image(
    board: Board,
    version: str,
    size: int = 16 * 1024,
    *,
    tbyb: bool = True,
    binary_version: tuple[int, int] | Literal["from-version"] | None = FROM_VERSION,
) -> bytes:
    """A valid but not bootable image of ``size`` payload bytes, the same for the same inputs.

    It lets the package build and the update path be tested without a Pico SDK build; the
    version is in it as ASCII so a flashed test image can be recognised. ``tbyb`` and
    ``binary_version`` (by default the version's major.minor, None: no VERSION item) shape
    the IMAGE_DEF of an RP2350 image.
    """
    if size <= 0 or size % PAYLOAD_SIZE or size > board.flash_size:
        raise UsageError(
            f"test image size {size} must be a positive multiple of {PAYLOAD_SIZE} within "
            f"the {board.flash_size} bytes of {board.name} flash"
        )
    if not (version.isascii() and version.isprintable() and 0 < len(version) <= 64):
        raise UsageError(f"test image version {version!r} must be 1-64 printable ASCII characters")
    if board.family.is_rp2350:
        if binary_version == FROM_VERSION:
            binary_version = expected_binary_version(version)
        start = image_def_block(board.family, tbyb=tbyb, binary_version=binary_version)
    else:
        start = U32.pack(IMAGE_DEF_MARKER)  # meaningless to the RP2040, kept as it was
    header = start + TEST_IMAGE_LABEL + version.encode("ascii") + b"\0"
    seed = hashlib.sha256(b"picohub test image\0%s\0%s" % (board.name.encode(), header)).digest()
    payload = header + _pattern(seed, size - len(header))
    count = size // PAYLOAD_SIZE
    blocks = [_e10_block()] if board.family.is_rp2350 else []
    for number in range(count):
        blocks.append(
            _pack_block(
                flags=FLAG_FAMILY_ID,
                address=FLASH_START + number * PAYLOAD_SIZE,
                number=number,
                count=count,
                family_id=board.family,
                payload=payload[number * PAYLOAD_SIZE : (number + 1) * PAYLOAD_SIZE],
            )
        )
    return b"".join(blocks)


def image_def_block(family: Family, *, tbyb: bool, binary_version: tuple[int, int] | None) -> bytes:
    """A one-block loop: IMAGE_TYPE (executable, RP2350, Arm secure or RISC-V), VERSION."""
    if family == Family.RP2350_RISCV:
        flags = 1 | 1 << picobin.CPU_LSB
    else:
        flags = 1 | (2 << picobin.SECURITY_LSB)
    flags |= 1 << picobin.CHIP_LSB | (picobin.TBYB_BITS if tbyb else 0)
    words = [picobin.MARKER_START, picobin.ITEM_IMAGE_TYPE | 1 << 8 | flags << 16]
    if binary_version is not None:
        major, minor = binary_version
        words += [picobin.ITEM_VERSION | 2 << 8, major << 16 | minor]
    items = len(words) - 1
    words += [picobin.ITEM_LAST | items << 8, 0, picobin.MARKER_END]
    return b"".join(U32.pack(word) for word in words)


def _pattern(seed: bytes, length: int) -> bytes:
    """A deterministic byte stream: sha256(seed || counter) for counter = 0, 1, ..."""
    chunks = []
    for counter in range(-(-length // 32)):
        chunks.append(hashlib.sha256(seed + counter.to_bytes(8, "little")).digest())
    return b"".join(chunks)[:length]


def _e10_block() -> bytes:
    """The older form of the RP2350-E10 workaround block (no extension tag)."""
    return _pack_block(
        flags=FLAG_FAMILY_ID,
        address=E10_ADDRESS,
        number=0,
        count=E10_BLOCK_COUNT,
        family_id=Family.ABSOLUTE,
        payload=bytes([E10_FILL]) * PAYLOAD_SIZE,
    )


def _pack_block(
    *, flags: int, address: int, number: int, count: int, family_id: int, payload: bytes
) -> bytes:
    header = HEADER.pack(
        MAGIC_START0, MAGIC_START1, flags, address, len(payload), number, count, family_id
    )
    data = payload.ljust(DATA_AREA_SIZE, b"\0")  # the unused data area is zero
    return header + data + U32.pack(MAGIC_END)
