"""UF2 firmware images for Raspberry Pi Pico boards: what a valid one is, and its check.

The boards check little when they take an image over the air (the boot ROM and the
pico-examples OTA flow trust the file), so everything the boot ROM relies on is checked
here, before an image is packaged or sent. Standard library only: this runs on the hub.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.firmware.picobin import MARKER_START, SEARCH_WINDOW, ImageDef, find_image_def

BLOCK_SIZE = 512
DATA_OFFSET = 32
DATA_AREA_SIZE = 476
PAYLOAD_SIZE = 256  # the only payload size the boot ROMs write to flash
FLASH_START = 0x10000000

MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
_HEADER_START = struct.Struct("<II")

FLAG_NOT_MAIN_FLASH = 0x0001
FLAG_FILE_CONTAINER = 0x1000
FLAG_FAMILY_ID = 0x2000
FLAG_MD5 = 0x4000
FLAG_EXTENSION_TAGS = 0x8000
# Image blocks must carry a family; MD5 and extension tags are harmless extras. The others
# (not-main-flash, file container) make the boot ROM skip the block.
ALLOWED_FLAGS = FLAG_FAMILY_ID | FLAG_MD5 | FLAG_EXTENSION_TAGS

# The RP2350-E10 workaround block that SDK builds put first (picotool's gen_abs_block).
E10_ADDRESS = 0x10FFFF00
E10_BLOCK_COUNT = 2
E10_FILL = 0xEF
E10_IGNORE_TAG = 0x9957E304  # extension "size 4, RP2 ignore block", newer picotool only

IMAGE_DEF_MARKER = MARKER_START
IMAGE_DEF_WINDOW = SEARCH_WINDOW  # the RP2350 boot ROM looks for IMAGE_DEF this far in

HEADER = struct.Struct("<8I")  # the eight u32 fields at offsets 0..31
U32 = struct.Struct("<I")
_RETRY_COPY = "copy or download the .uf2 file again; it may have been cut short or altered"


class Family(IntEnum):
    """UF2 family ids of the Raspberry Pi chips (picotool's list)."""

    RP2040 = 0xE48BFF56
    ABSOLUTE = 0xE48BFF57
    DATA = 0xE48BFF58
    RP2350_ARM_S = 0xE48BFF59
    RP2350_RISCV = 0xE48BFF5A
    RP2350_ARM_NS = 0xE48BFF5B

    @property
    def label(self) -> str:
        """The name picotool and the datasheets use."""
        return _FAMILY_LABELS[self]

    @property
    def is_rp2350(self) -> bool:
        return self in {Family.RP2350_ARM_S, Family.RP2350_RISCV, Family.RP2350_ARM_NS}


_FAMILY_LABELS = {
    Family.RP2040: "RP2040",
    Family.ABSOLUTE: "absolute",
    Family.DATA: "data",
    Family.RP2350_ARM_S: "RP2350 Arm-S",
    Family.RP2350_RISCV: "RP2350 RISC-V",
    Family.RP2350_ARM_NS: "RP2350 Arm-NS",
}


def family_text(family_id: int) -> str:
    """``0xe48bff59 (RP2350 Arm-S)``, for messages; unknown ids say so."""
    try:
        label = Family(family_id).label
    except ValueError:
        label = "unknown family"
    return f"0x{family_id:08x} ({label})"


@dataclass(frozen=True)
class Board:
    """A board picohub ships firmware for: one UF2 family and one flash size.

    ``ota_partition_size`` is the size of each of the two A/B partitions an image is
    written to over the air, None for a board whose boot ROM has no A/B partitions.
    """

    name: str
    family: Family
    flash_size: int
    ota_partition_size: int | None = None

    @property
    def flash_end(self) -> int:
        """The first address past the board's flash."""
        return FLASH_START + self.flash_size


# The Pico 2 W's A/B partitions are those of pico-examples' OTA example
# (pico_w/wifi/ota_update/main.json, loaded with `picotool partition create`): "Main A" and
# "Main B" of 1744K each from 8K (the partition table's two sectors), then two 256K
# partitions for the CYW43 Wi-Fi firmware at 3500K. The RP2040 has no A/B boot.
BOARDS: dict[str, Board] = {
    "pico2_w": Board("pico2_w", Family.RP2350_ARM_S, 4 * 1024 * 1024, 1744 * 1024),
    "pico_w": Board("pico_w", Family.RP2040, 2 * 1024 * 1024),
}


def board(name: str) -> Board:
    """The board called ``name`` (the Pico SDK's PICO_BOARD name)."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UsageError(
            f"unknown board {name!r}", hint=f"known boards: {', '.join(sorted(BOARDS))}"
        ) from None


class Uf2Error(PicohubError):
    """A UF2 file that a board must not be given; the message says what and where."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Uf2Image:
    """What :func:`validate` found in a good image."""

    board: str
    family: Family
    blocks: int  # image blocks, without the RP2350-E10 workaround block
    payload_size: int  # blocks * 256
    first_address: int
    last_address: int  # end, exclusive
    has_e10_block: bool
    image_def: ImageDef | None  # the IMAGE_DEF the RP2350 boot ROM uses, if any
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _Block:
    """One 512-byte block, its three magic numbers already checked."""

    index: int  # position in the file
    flags: int
    address: int
    payload_size: int
    number: int
    count: int
    family_id: int
    data: bytes  # the whole 476-byte data area

    @property
    def where(self) -> str:
        return f"block {self.index} (byte offset {self.index * BLOCK_SIZE})"

    @property
    def payload(self) -> bytes:
        return self.data[:PAYLOAD_SIZE]

    @property
    def is_absolute(self) -> bool:
        return bool(self.flags & FLAG_FAMILY_ID) and self.family_id == Family.ABSOLUTE


def validate(data: bytes, board: Board) -> Uf2Image:
    """Check ``data`` is a UF2 image the boot ROM of ``board`` takes whole; raise Uf2Error if not.

    Warnings (returned, not raised) are for images that will flash but may not boot.
    """
    if not data:
        raise Uf2Error("the UF2 file is empty (0 bytes)", hint=_RETRY_COPY)
    # Look at the start first, so a file that is no UF2 at all is named as such rather
    # than as a truncated one.
    if len(data) < 8 or _HEADER_START.unpack_from(data) != (MAGIC_START0, MAGIC_START1):
        found = int.from_bytes(data[:4].ljust(4, b"\0"), "little")
        raise Uf2Error(
            f"not a UF2 file: it starts with 0x{found:08x}, a UF2 block with 0x{MAGIC_START0:08x}",
            hint="give the .uf2 file the Pico SDK build writes, not the .elf or .bin",
        )
    if len(data) % BLOCK_SIZE:
        raise Uf2Error(
            f"file size {len(data)} is not a multiple of {BLOCK_SIZE} (truncated or padded?)",
            hint=_RETRY_COPY,
        )
    total = len(data) // BLOCK_SIZE
    has_e10 = False
    image: list[_Block] = []
    for index in range(total):
        if image and len(image) == image[0].count:
            # The image is complete; anything after it is padding or a second image.
            raise Uf2Error(
                f"trailing data after the last block: {total - index} more block(s) from "
                f"byte offset {index * BLOCK_SIZE}, but the blocks say the image has "
                f"{image[0].count}",
                hint="give one image for one board per file, without padding",
            )
        block = _parse(data, index)
        if block.is_absolute:
            if index == 0:
                _check_e10(block, board)
                has_e10 = True
                continue
            raise Uf2Error(
                f"{block.where}: family {family_text(block.family_id)} block after the start; "
                "the RP2350-E10 workaround block is allowed only as the first block",
                hint="use the .uf2 file exactly as the Pico SDK or picotool wrote it",
            )
        _check_image_block(block, image, board)
        image.append(block)
    if not image:
        raise Uf2Error("the file holds only the RP2350-E10 workaround block, no image blocks")
    if len(image) != image[0].count:
        raise Uf2Error(
            f"the file ends after {len(image)} image blocks, but the blocks say "
            f"{image[0].count} (truncated?)",
            hint=_RETRY_COPY,
        )
    image_def = find_image_def(_memory(image), image[0].address)
    warnings = _image_def_warnings(image_def, board)
    return Uf2Image(
        board=board.name,
        family=board.family,
        blocks=len(image),
        payload_size=len(image) * PAYLOAD_SIZE,
        first_address=image[0].address,
        last_address=image[-1].address + PAYLOAD_SIZE,
        has_e10_block=has_e10,
        image_def=image_def,
        warnings=tuple(warnings),
    )


def _parse(data: bytes, index: int) -> _Block:
    offset = index * BLOCK_SIZE
    magic0, magic1, flags, address, size, number, count, family_id = HEADER.unpack_from(
        data, offset
    )
    (magic_end,) = U32.unpack_from(data, offset + BLOCK_SIZE - 4)
    for name, found, expected in (
        ("first magic", magic0, MAGIC_START0),
        ("second magic", magic1, MAGIC_START1),
        ("end magic", magic_end, MAGIC_END),
    ):
        if found != expected:
            if index == 0:
                raise Uf2Error(
                    f"not a UF2 file: block 0 has {name} 0x{found:08x}, expected 0x{expected:08x}",
                    hint="give the .uf2 file the Pico SDK build writes, not the .elf or .bin",
                )
            raise Uf2Error(
                f"block {index} (byte offset {offset}): {name} 0x{found:08x}, expected "
                f"0x{expected:08x} (corrupted, or not a UF2 block)",
                hint=_RETRY_COPY,
            )
    return _Block(
        index=index,
        flags=flags,
        address=address,
        payload_size=size,
        number=number,
        count=count,
        family_id=family_id,
        data=data[offset + DATA_OFFSET : offset + DATA_OFFSET + DATA_AREA_SIZE],
    )


def _check_e10(block: _Block, board: Board) -> None:
    """Accept exactly picotool's RP2350-E10 workaround block, older or newer form."""
    if not board.family.is_rp2350:
        raise Uf2Error(
            f"{block.where}: RP2350-E10 workaround block (family "
            f"{family_text(block.family_id)}) in an image for {board.name} "
            f"({board.family.label}), which has no such erratum",
            hint=f"build the firmware with PICO_BOARD={board.name}",
        )
    extension = bool(block.flags & FLAG_EXTENSION_TAGS)
    (tag,) = U32.unpack_from(block.data, PAYLOAD_SIZE)
    problems = (
        (block.flags & ~FLAG_EXTENSION_TAGS != FLAG_FAMILY_ID, f"flags 0x{block.flags:08x}"),
        (block.address != E10_ADDRESS, f"address 0x{block.address:08x}"),
        (block.payload_size != PAYLOAD_SIZE, f"payload size {block.payload_size}"),
        (block.number != 0, f"block number {block.number}"),
        (block.count != E10_BLOCK_COUNT, f"block count {block.count}"),
        (block.payload != bytes([E10_FILL]) * PAYLOAD_SIZE, "payload not all 0xef"),
        (extension and tag != E10_IGNORE_TAG, f"extension tag 0x{tag:08x}"),
    )
    for wrong, what in problems:
        if wrong:
            raise Uf2Error(
                f"{block.where}: family absolute, but not the RP2350-E10 workaround block "
                f"({what}; expected block 0 of {E10_BLOCK_COUNT} at 0x{E10_ADDRESS:08x}, "
                f"{PAYLOAD_SIZE} bytes of 0x{E10_FILL:02x})",
                hint="use the .uf2 file exactly as the Pico SDK or picotool wrote it",
            )


def _check_image_block(block: _Block, previous: list[_Block], board: Board) -> None:
    """Check one image block against the board and the image blocks before it."""
    where = block.where
    if not block.flags & FLAG_FAMILY_ID:
        raise Uf2Error(
            f"{where}: no family id (flag 0x{FLAG_FAMILY_ID:04x} not set in flags "
            f"0x{block.flags:08x})",
            hint="build with the Pico SDK or convert with picotool, which set the family",
        )
    extra = block.flags & ~ALLOWED_FLAGS
    if extra:
        raise Uf2Error(
            f"{where}: flags 0x{block.flags:08x} have bits 0x{extra:08x} that a flash image "
            "must not have (the boot ROM would skip the block)"
        )
    first = previous[0] if previous else None
    if first is not None and block.family_id != first.family_id:
        raise Uf2Error(
            f"{where}: family {family_text(block.family_id)}, but block {first.index} has "
            f"{family_text(first.family_id)}; one file must not mix families",
            hint=f"give one image built for {board.name} only",
        )
    if block.family_id != board.family:
        raise Uf2Error(
            f"family {family_text(block.family_id)} in block {block.index}, but board "
            f"{board.name} needs {family_text(board.family)}",
            hint=f"build the firmware with PICO_BOARD={board.name}, or choose the right board",
        )
    if block.payload_size != PAYLOAD_SIZE:
        raise Uf2Error(
            f"{where}: payload size {block.payload_size}, expected {PAYLOAD_SIZE}",
            hint="the boot ROM writes only 256-byte blocks; convert with picotool",
        )
    if block.address % PAYLOAD_SIZE:
        raise Uf2Error(
            f"{where}: target address 0x{block.address:08x} is not a multiple of {PAYLOAD_SIZE}",
            hint="the boot ROM writes only 256-aligned blocks; convert with picotool",
        )
    if not FLASH_START <= block.address <= board.flash_end - PAYLOAD_SIZE:
        raise Uf2Error(
            f"{where}: target address 0x{block.address:08x} is outside the {board.name} flash "
            f"(0x{FLASH_START:08x}-0x{board.flash_end:08x})",
            hint=f"build the firmware with PICO_BOARD={board.name} for a flash image",
        )
    if previous and block.address <= previous[-1].address:
        raise Uf2Error(
            f"{where}: target address 0x{block.address:08x} does not rise above the previous "
            f"block's 0x{previous[-1].address:08x} (duplicate or out of order)",
            hint=_RETRY_COPY,
        )
    if block.number != len(previous):
        raise Uf2Error(
            f"{where}: block number {block.number}, expected {len(previous)} (blocks out of "
            "order or missing)",
            hint=_RETRY_COPY,
        )
    if first is not None and block.count != first.count:
        raise Uf2Error(
            f"{where}: block count {block.count}, but block {first.index} says "
            f"{first.count} (inconsistent block count)",
            hint=_RETRY_COPY,
        )


def _memory(image: list[_Block]) -> bytes:
    """The image's bytes from its first address, 0xff (erased flash) between blocks."""
    start = image[0].address
    memory = bytearray(b"\xff" * (image[-1].address + PAYLOAD_SIZE - start))
    for block in image:
        memory[block.address - start : block.address - start + PAYLOAD_SIZE] = block.payload
    return bytes(memory)


def _image_def_warnings(image_def: ImageDef | None, board: Board) -> list[str]:
    if not board.family.is_rp2350:
        return []
    if image_def is None:
        return [
            f"no IMAGE_DEF block (marker 0x{IMAGE_DEF_MARKER:08x}) in the first "
            f"{IMAGE_DEF_WINDOW} bytes of the image; the {board.name} boot ROM does not boot "
            "images without one"
        ]
    warnings = [] if image_def.problem is None else [f"IMAGE_DEF: {image_def.problem}"]
    cpu = "riscv" if board.family == Family.RP2350_RISCV else "arm"
    if image_def.image_type != "exe":
        warnings.append(f"IMAGE_DEF says image type {image_def.image_type}, not executable")
    elif (image_def.chip, image_def.cpu) != ("RP2350", cpu):
        warnings.append(
            f"IMAGE_DEF says {image_def.chip} {image_def.cpu}, but the UF2 family is "
            f"{board.family.label}; the boot ROM will not boot it"
        )
    return warnings
