"""RP2350 metadata blocks built by hand for the tests, per the Pico SDK's layout.

Written from src/common/boot_picobin_headers/include/boot/picobin.h and
src/rp2_common/pico_crt0/embedded_start_block.inc.S (pico-sdk), and picotool's
bintool/metadata.h, not with the code under test: a block is 0xffffded3, items (each a
header word: type byte, size in words, item data), LAST (0xff, two-byte size: the words
of the items before it), the signed byte offset to the next block, 0xab123579.
"""

from __future__ import annotations

import struct

START = 0xFFFFDED3
END = 0xAB123579
# IMAGE_TYPE flags of an SDK build for the RP2350's Arm cores, secure:
# EXE (1) | SECURITY S (2 << 4) | CPU ARM (0 << 8) | CHIP RP2350 (1 << 12); TBYB 0x8000.
ARM_EXE = 0x1 | 0x2 << 4 | 0x0 << 8 | 0x1 << 12
RISCV_EXE = 0x1 | 0x1 << 8 | 0x1 << 12
TBYB = 0x8000


def image_type(flags: int) -> list[int]:
    return [0x42 | 1 << 8 | flags << 16]


def version(major: int, minor: int, rollback: int | None = None, rows: int = 0) -> list[int]:
    """VERSION (0x48): major << 16 | minor; with OTP rows, rollback and the row numbers."""
    if rollback is None:
        return [0x48 | 2 << 8, major << 16 | minor]
    row_words = [0x100 + n for n in range(rows)]  # row numbers, two to a word after rollback
    packed = [rollback | (row_words[0] << 16 if row_words else 0)]
    for n in range(1, rows, 2):
        packed.append(row_words[n] | (row_words[n + 1] << 16 if n + 1 < rows else 0))
    size = 2 + len(packed)
    return [0x48 | size << 8 | rows << 24, major << 16 | minor, *packed]


def hash_def(words_to_hash: int) -> list[int]:
    """HASH_DEF (0x47), SHA-256 (1), as picotool seal writes it."""
    return [0x47 | 2 << 8 | 1 << 24, words_to_hash]


def hash_value(digest: bytes = bytes(range(32))) -> list[int]:
    return [0x4B | (1 + len(digest) // 4) << 8, *struct.unpack(f"<{len(digest) // 4}I", digest)]


def signature() -> list[int]:
    """SIGNATURE (0x09), secp256k1 (1): 16 words of public key, 16 of signature."""
    return [0x09 | 0x21 << 8 | 1 << 24, *range(1, 33)]


def load_map(start: int, size: int) -> list[int]:
    """LOAD_MAP (0x06), one absolute entry (bit 31 of the header)."""
    return [0x06 | 4 << 8 | 1 << 24 | 1 << 31, start, start, start + size]


def ignored() -> list[int]:
    """IGNORED (0xfe, two-byte size), what the SDK's end block holds."""
    return [0xFE | 1 << 8]


def block(*items: list[int], next_offset: int = 0) -> bytes:
    """One block; ``next_offset`` bytes from its start to the next (0: itself)."""
    words = [word for item in items for word in item]
    tail = [0xFF | len(words) << 8, next_offset & 0xFFFFFFFF, END]
    return struct.pack(f"<{len(words) + 4}I", START, *words, *tail)


def sdk_image(
    *,
    flags: int = ARM_EXE | TBYB,
    major_minor: tuple[int, int] | None = (1, 2),
    size: int = 4096,
    end_items: tuple[list[int], ...] = (),
) -> bytes:
    """Flash bytes as an SDK build lays them out: the start block (IMAGE_TYPE, VERSION),
    code, and the end block at the end linking back (a two-block loop). ``end_items``
    makes the end block an IMAGE_DEF too (as picotool seal does, with hash/signature)."""
    start_items = [image_type(flags)]
    if major_minor is not None:
        start_items.append(version(*major_minor))
    end_block_items = [*end_items] if end_items else [ignored()]
    end_len = len(block(*end_block_items))
    first_len = len(block(*start_items))
    end_at = size - end_len
    first = block(*start_items, next_offset=end_at)
    code = bytes((n * 7) & 0xFF for n in range(end_at - first_len))
    return first + code + block(*end_block_items, next_offset=-end_at)


def to_uf2(memory: bytes, *, family: int = 0xE48BFF59, e10: bool = True) -> bytes:
    """``memory`` as UF2 blocks from 0x10000000, with picotool's E10 block first."""
    memory = memory.ljust(-(-len(memory) // 256) * 256, b"\0")
    count = len(memory) // 256
    out = []
    if e10:  # picotool's gen_abs_block: family absolute, 0x10ffff00, 2 blocks, 0xef
        head = struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0xA000, 0x10FFFF00, 256, 0, 2, 0xE48BFF57)
        data = b"\xef" * 256 + struct.pack("<I", 0x9957E304)
        out.append(head + data.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30))
    for n in range(count):
        head = struct.pack(
            "<8I", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + n * 256, 256, n, count, family
        )
        payload = memory[n * 256 : (n + 1) * 256]
        out.append(head + payload.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30))
    return b"".join(out)
