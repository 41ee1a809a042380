"""The RP2350 boot ROM's metadata blocks inside an image, and what its IMAGE_DEF says.

The layout is the Pico SDK's ``boot/picobin.h`` (src/common/boot_picobin_headers) and the
RP2350 datasheet's "Block format": a block is the word 0xffffded3, items, a LAST item, the
signed byte offset from this block's start to the next block of its loop, and 0xab123579.
Every item starts with a header word: byte 0 the type (bit 7 set: the size is two bytes,
bytes 1-2; else one, byte 1), the size in words including the header, the rest item data.
The first block lies in the first 4 kB of the image; the blocks link into a loop back to
it (an SDK build: the start block and an end block after the binary; a single block links
to itself, offset 0). The boot ROM uses the last IMAGE_DEF of the loop, which is where
``picotool seal`` puts the hash and the signature (picotool bintool/bintool.cpp).
Standard library only: this runs on the hub.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MARKER_START = 0xFFFFDED3
MARKER_END = 0xAB123579
SEARCH_WINDOW = 4096  # the first block must start in the first 4 kB of the image
MAX_BLOCKS = 64  # a loop longer than this is taken as broken (real images have 1-3)

# Item types (picobin.h PICOBIN_BLOCK_ITEM_*); bit 6 of a one-byte-size type is parity.
ITEM_NEXT_BLOCK_OFFSET = 0x41
ITEM_IMAGE_TYPE = 0x42
ITEM_VECTOR_TABLE = 0x03
ITEM_ENTRY_POINT = 0x44
ITEM_ROLLING_WINDOW_DELTA = 0x05
ITEM_LOAD_MAP = 0x06
ITEM_HASH_DEF = 0x47
ITEM_VERSION = 0x48
ITEM_SIGNATURE = 0x09
ITEM_PARTITION_TABLE = 0x0A
ITEM_HASH_VALUE = 0x4B
ITEM_SALT = 0x0C
ITEM_IGNORED = 0xFE  # 0x80 | 0x7e, two-byte size
ITEM_LAST = 0xFF  # 0x80 | 0x7f, two-byte size
SIZE_FLAG = 0x80

# The IMAGE_TYPE item's 16 flag bits (bytes 2-3 of its header word).
IMAGE_TYPE_BITS = 0x000F
SECURITY_LSB, SECURITY_BITS = 4, 0x0030
CPU_LSB, CPU_BITS = 8, 0x0700
CHIP_LSB, CHIP_BITS = 12, 0x7000
TBYB_BITS = 0x8000
IMAGE_TYPES = {0: "invalid", 1: "exe", 2: "data"}
SECURITIES = {0: "unspecified", 1: "non-secure", 2: "secure"}
CPUS = {0: "arm", 1: "riscv", 2: "varmulet"}
CHIPS = {0: "RP2040", 1: "RP2350"}

_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class ImageDef:
    """What the IMAGE_DEF the boot ROM uses says about the image."""

    address: int  # where the IMAGE_DEF block starts
    blocks: int  # blocks in the loop (1 when the loop is broken; see ``problem``)
    image_type: str  # "exe", "data", "invalid" or "unknown (n)"
    cpu: str | None  # "arm", "riscv", "varmulet"; None for a non-executable image
    chip: str | None  # "RP2040", "RP2350"; None for a non-executable image
    security: str | None  # "secure", "non-secure", "unspecified"
    tbyb: bool  # "try before you buy": the boot ROM reverts it unless it is bought
    version: tuple[int, int] | None  # binary_version (major, minor), from a VERSION item
    rollback: int | None  # rollback version, when the VERSION item has OTP rows
    hashed: bool  # a HASH_DEF item: the boot ROM checks a hash of the image
    signed: bool  # a SIGNATURE item: the boot ROM can check a signature (secure boot)
    problem: str | None  # a broken block loop, said in words; the first block was used

    @property
    def version_text(self) -> str | None:
        """``major.minor`` as ``pico_set_binary_version`` sets it."""
        return None if self.version is None else f"{self.version[0]}.{self.version[1]}"


@dataclass(frozen=True)
class _Block:
    address: int
    next_offset: int  # signed, bytes from this block's start
    items: tuple[tuple[int, tuple[int, ...]], ...]  # (type byte, words incl. header)

    def item(self, kind: int) -> tuple[int, ...] | None:
        for found, words in self.items:
            if found == kind:
                return words
        return None


def find_image_def(memory: bytes, base: int) -> ImageDef | None:
    """The IMAGE_DEF of the image whose bytes from address ``base`` are ``memory``.

    None when no valid block starts in the first 4 kB, or the loop holds no IMAGE_TYPE
    item (the boot ROM then does not boot the image).
    """
    first = None
    for offset in range(0, min(len(memory), SEARCH_WINDOW), 4):
        if _word(memory, offset) == MARKER_START:
            first = _parse_block(memory, base, offset)
            if first is not None:
                break
    if first is None:
        return None
    loop, problem = _follow_loop(memory, base, first)
    image_types = [(b, item) for b in loop if (item := b.item(ITEM_IMAGE_TYPE)) is not None]
    if not image_types:
        return None
    block, image_type_item = image_types[-1]
    return _describe(block, image_type_item[0] >> 16, len(loop), problem)


def _word(memory: bytes, offset: int) -> int | None:
    if offset < 0 or offset + 4 > len(memory):
        return None
    value: int = _U32.unpack_from(memory, offset)[0]
    return value


def _parse_block(memory: bytes, base: int, offset: int) -> _Block | None:
    """The block whose start marker is at ``offset``, or None if it is not a valid one."""
    items: list[tuple[int, tuple[int, ...]]] = []
    position = offset + 4
    while True:
        header = _word(memory, position)
        if header is None:
            return None
        kind = header & 0xFF
        size = (header >> 8) & (0xFFFF if kind & SIZE_FLAG else 0xFF)
        if kind == ITEM_LAST:
            # LAST's size is the words of the items before it; then the offset and the end.
            next_offset = _word(memory, position + 4)
            if size * 4 != position - offset - 4 or next_offset is None:
                return None
            if _word(memory, position + 8) != MARKER_END:
                return None
            signed = next_offset - (1 << 32) if next_offset & 0x80000000 else next_offset
            return _Block(base + offset, signed, tuple(items))
        if size == 0 or position + size * 4 > len(memory):
            return None
        words = struct.unpack_from(f"<{size}I", memory, position)
        items.append((kind, words))
        position += size * 4


def _follow_loop(memory: bytes, base: int, first: _Block) -> tuple[list[_Block], str | None]:
    loop = [first]
    block = first
    while block.next_offset != 0:
        address = block.address + block.next_offset
        if address == first.address:
            return loop, None
        if len(loop) >= MAX_BLOCKS or any(seen.address == address for seen in loop):
            return [first], f"the block loop from 0x{first.address:08x} does not close"
        following = None
        if _word(memory, address - base) == MARKER_START:
            following = _parse_block(memory, base, address - base)
        if following is None:
            return [first], (
                f"the block at 0x{block.address:08x} links to 0x{address:08x}, "
                "where there is no valid block"
            )
        loop.append(following)
        block = following
    if block is not first:
        return [first], f"the block at 0x{block.address:08x} links to itself, not to the first"
    return loop, None


def _describe(block: _Block, flags: int, blocks: int, problem: str | None) -> ImageDef:
    kind = flags & IMAGE_TYPE_BITS
    image_type = IMAGE_TYPES.get(kind, f"unknown ({kind})")
    exe = image_type == "exe"
    cpu = (flags & CPU_BITS) >> CPU_LSB
    chip = (flags & CHIP_BITS) >> CHIP_LSB
    security = (flags & SECURITY_BITS) >> SECURITY_LSB
    version = None
    rollback = None
    version_item = block.item(ITEM_VERSION)
    if version_item is not None and len(version_item) >= 2:
        # Word 1 is major << 16 | minor; with OTP rows (header byte 3) word 2 holds the
        # rollback version in its low half (picotool's version_item).
        version = (version_item[1] >> 16, version_item[1] & 0xFFFF)
        if version_item[0] >> 24 and len(version_item) >= 3:
            rollback = version_item[2] & 0xFFFF
    return ImageDef(
        address=block.address,
        blocks=blocks,
        image_type=image_type,
        cpu=CPUS.get(cpu, f"unknown ({cpu})") if exe else None,
        chip=CHIPS.get(chip, f"unknown ({chip})") if exe else None,
        security=SECURITIES.get(security, f"unknown ({security})") if exe else None,
        tbyb=exe and bool(flags & TBYB_BITS),
        version=version,
        rollback=rollback,
        hashed=block.item(ITEM_HASH_DEF) is not None,
        signed=block.item(ITEM_SIGNATURE) is not None,
        problem=problem,
    )
