"""A valid but not bootable UF2 image, the same for the same inputs, for tests and demos.

It lets the package build and the update path be tested without a Pico SDK build.
"""

from __future__ import annotations

import hashlib

from picohub.errors import UsageError
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


def generate_test_image(board: Board, version: str, size: int = 16 * 1024) -> bytes:
    """A valid but not bootable image of ``size`` payload bytes, the same for the same inputs.

    It lets the package build and the update path be tested without a Pico SDK build; the
    version is in it as ASCII so a flashed test image can be recognised.
    """
    if size <= 0 or size % PAYLOAD_SIZE or size > board.flash_size:
        raise UsageError(
            f"test image size {size} must be a positive multiple of {PAYLOAD_SIZE} within "
            f"the {board.flash_size} bytes of {board.name} flash"
        )
    if not (version.isascii() and version.isprintable() and 0 < len(version) <= 64):
        raise UsageError(f"test image version {version!r} must be 1-64 printable ASCII characters")
    header = U32.pack(IMAGE_DEF_MARKER) + TEST_IMAGE_LABEL + version.encode("ascii") + b"\0"
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
