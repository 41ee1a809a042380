"""UF2 validation: every rule the Pico boot ROMs rely on, and the generated test image."""

from __future__ import annotations

import struct

import pytest

from picohub.errors import ExitCode, UsageError
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import (
    BOARDS,
    Family,
    Uf2Error,
    board,
    validate,
)
from tests import picobin_blocks

PICO2_W = BOARDS["pico2_w"]
PICO_W = BOARDS["pico_w"]
FLASH = 0x10000000
IMAGE_DEF = picobin_blocks.block(picobin_blocks.image_type(picobin_blocks.ARM_EXE))
E10_TAG = 0x9957E304


def block(
    number: int,
    count: int,
    *,
    address: int | None = None,
    family: int = Family.RP2350_ARM_S,
    flags: int = 0x2000,
    size: int = 256,
    payload: bytes | None = None,
    magic: tuple[int, int, int] = (0x0A324655, 0x9E5D5157, 0x0AB16F30),
) -> bytes:
    """One UF2 block, built here by hand (not with the code under test).

    Block 0 carries an IMAGE_DEF marker unless a payload is given.
    """
    if address is None:
        address = FLASH + number * 256
    if payload is None:
        payload = IMAGE_DEF if number == 0 else b""
    head = struct.pack("<8I", magic[0], magic[1], flags, address, size, number, count, family)
    return head + payload.ljust(476, b"\0") + struct.pack("<I", magic[2])


def image(count: int = 4, family: int = Family.RP2350_ARM_S) -> list[bytes]:
    return [block(n, count, family=family) for n in range(count)]


def e10(
    *, extension: bool = False, flags: int | None = None, address: int = 0x10FFFF00, count: int = 2
) -> bytes:
    """The RP2350-E10 workaround block; with ``extension`` in newer picotool's form."""
    if flags is None:
        flags = 0x2000 | (0x8000 if extension else 0)
    tag = struct.pack("<I", E10_TAG) if extension else b""
    return block(
        0, count, address=address, family=Family.ABSOLUTE, flags=flags, payload=b"\xef" * 256 + tag
    )


def refused(data: bytes, match: str, target: str = "pico2_w") -> Uf2Error:
    with pytest.raises(Uf2Error, match=match) as info:
        validate(data, BOARDS[target])
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_the_generated_image_validates_without_warnings() -> None:
    data = generate_test_image(PICO2_W, "1.2.3")
    found = validate(data, PICO2_W)
    assert found.warnings == ()
    assert found.has_e10_block
    assert found.family is Family.RP2350_ARM_S
    assert found.blocks == 64
    assert found.payload_size == 16 * 1024
    assert (found.first_address, found.last_address) == (FLASH, FLASH + 16 * 1024)
    assert len(data) == 65 * 512
    assert b"picohub test image, not bootable: 1.2.3" in data


def test_the_generated_image_is_deterministic() -> None:
    assert generate_test_image(PICO2_W, "1.2.3") == generate_test_image(PICO2_W, "1.2.3")
    assert generate_test_image(PICO2_W, "1.2.3") != generate_test_image(PICO2_W, "1.2.4")


def test_the_generated_image_zeroes_the_data_area_beyond_the_payload() -> None:
    data = generate_test_image(PICO2_W, "1.2.3", size=1024)
    for offset in range(0, len(data), 512):
        assert data[offset + 32 + 256 : offset + 508] == bytes(476 - 256)


def test_the_generated_pico_w_image_is_rp2040_without_e10_block() -> None:
    data = generate_test_image(PICO_W, "1.0", size=512)
    found = validate(data, PICO_W)
    assert (found.family, found.blocks, found.has_e10_block) == (Family.RP2040, 2, False)
    assert found.warnings == ()


@pytest.mark.parametrize("size", [0, 100, 8 * 1024 * 1024])
def test_impossible_test_image_sizes_are_refused(size: int) -> None:
    with pytest.raises(UsageError, match="test image size"):
        generate_test_image(PICO2_W, "1.0", size=size)


def test_a_minimal_image_without_e10_block_validates() -> None:
    found = validate(block(0, 1), PICO2_W)
    assert (found.blocks, found.has_e10_block, found.warnings) == (1, False, ())
    assert found.last_address == FLASH + 256


@pytest.mark.parametrize("extension", [False, True])
def test_both_forms_of_the_e10_block_are_accepted_first(extension: bool) -> None:
    found = validate(e10(extension=extension) + b"".join(image()), PICO2_W)
    assert found.has_e10_block
    assert found.blocks == 4


def test_an_image_may_have_gaps_between_blocks() -> None:
    data = block(0, 2) + block(1, 2, address=FLASH + 0x10000)
    assert validate(data, PICO2_W).last_address == FLASH + 0x10100


def test_pico_w_accepts_an_rp2040_image() -> None:
    found = validate(b"".join(image(family=Family.RP2040)), PICO_W)
    assert found.family is Family.RP2040
    assert found.board == "pico_w"


def test_missing_image_def_is_a_warning_on_pico2_w_only() -> None:
    plain = [block(n, 2, payload=b"\1" * 256) for n in range(2)]
    (warning,) = validate(b"".join(plain), PICO2_W).warnings
    assert "IMAGE_DEF" in warning
    plain_rp2040 = [block(n, 2, payload=b"\1", family=Family.RP2040) for n in range(2)]
    assert validate(b"".join(plain_rp2040), PICO_W).warnings == ()


def test_an_image_def_after_the_first_4_kb_still_warns() -> None:
    blocks = [block(n, 17, payload=b"\1") for n in range(16)]
    blocks.append(block(16, 17, payload=IMAGE_DEF))
    assert validate(b"".join(blocks), PICO2_W).warnings != ()


def test_empty_file() -> None:
    refused(b"", "empty")


def test_truncated_mid_block() -> None:
    data = b"".join(image())
    refused(data[:1000], r"file size 1000 is not a multiple of 512 \(truncated or padded\?\)")


def test_truncated_at_a_block_boundary() -> None:
    refused(b"".join(image()[:3]), r"ends after 3 image blocks, but the blocks say 4")


def test_padded_with_extra_bytes() -> None:
    refused(b"".join(image()) + b"\n", "file size 2049 is not a multiple of 512")


@pytest.mark.parametrize("padding", [bytes(512), b"\xff" * 1024])
def test_padded_with_extra_blocks(padding: bytes) -> None:
    refused(b"".join(image()) + padding, r"trailing data .* byte offset 2048")


def test_two_images_in_one_file() -> None:
    refused(b"".join(image() + image()), "trailing data")


def test_a_text_file_is_not_uf2() -> None:
    # Its size is no multiple of 512 either, but what it is matters more than its size.
    text = b"This is not firmware.\n" * 50
    error = refused(text, r"not a UF2 file: it starts with 0x73696854")
    assert error.hint is not None


def test_a_png_is_not_uf2() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(504)
    refused(png, r"not a UF2 file: it starts with 0x474e5089, a UF2 block with 0x0a324655")


@pytest.mark.parametrize(
    ("magic", "name"),
    [
        ((0x0A324655, 0, 0x0AB16F30), "second magic 0x00000000"),
        ((0x0A324655, 0x9E5D5157, 0x12345678), "end magic 0x12345678"),
    ],
)
def test_bad_magic_in_a_later_block(magic: tuple[int, int, int], name: str) -> None:
    blocks = image()
    blocks[2] = block(2, 4, magic=magic)
    refused(b"".join(blocks), rf"block 2 \(byte offset 1024\): {name}")


def test_wrong_family_for_the_board() -> None:
    refused(
        b"".join(image(family=Family.RP2040)),
        r"family 0xe48bff56 \(RP2040\) in block 0, but board pico2_w needs "
        r"0xe48bff59 \(RP2350 Arm-S\)",
    )


def test_rp2350_image_for_pico_w() -> None:
    refused(b"".join(image()), r"board pico_w needs 0xe48bff56 \(RP2040\)", target="pico_w")


def test_unknown_family() -> None:
    refused(block(0, 1, family=0x12345678), r"0x12345678 \(unknown family\)")


def test_mixed_families() -> None:
    blocks = image()
    blocks[2] = block(2, 4, family=Family.RP2350_RISCV)
    refused(b"".join(blocks), r"block 2 .*RP2350 RISC-V.* must not mix families")


def test_missing_family_flag() -> None:
    refused(block(0, 1, flags=0), r"block 0 \(byte offset 0\): no family id")


def test_not_main_flash_flag() -> None:
    refused(block(0, 1, flags=0x2001), r"bits 0x00000001")


def test_payload_size_128() -> None:
    blocks = image()
    blocks[3] = block(3, 4, size=128)
    refused(b"".join(blocks), r"block 3 \(byte offset 1536\): payload size 128, expected 256")


def test_unaligned_address() -> None:
    blocks = image()
    blocks[1] = block(1, 4, address=FLASH + 0x180)
    refused(b"".join(blocks), r"block 1 .*address 0x10000180 is not a multiple of 256")


@pytest.mark.parametrize("address", [0x20000000, FLASH - 256, FLASH + 4 * 1024 * 1024])
def test_address_outside_flash(address: int) -> None:
    refused(block(0, 1, address=address), rf"address 0x{address:08x} is outside the pico2_w")


def test_address_outside_the_smaller_pico_w_flash() -> None:
    data = block(0, 1, address=FLASH + 2 * 1024 * 1024, family=Family.RP2040)
    refused(data, "outside the pico_w flash", target="pico_w")


def test_duplicate_address() -> None:
    blocks = image()
    blocks[2] = block(2, 4, address=FLASH + 256)
    refused(b"".join(blocks), r"block 2 .*0x10000100 does not rise.*duplicate or out of order")


def test_falling_address() -> None:
    blocks = image()
    blocks[3] = block(3, 4, address=FLASH)
    refused(b"".join(blocks), "does not rise")


def test_block_numbers_out_of_order() -> None:
    blocks = [
        block(0, 4),
        block(2, 4, address=FLASH + 256),
        block(1, 4, address=FLASH + 512),
        block(3, 4),
    ]
    refused(b"".join(blocks), r"block 1 .*: block number 2, expected 1")


def test_inconsistent_block_count() -> None:
    blocks = image()
    blocks[2] = block(2, 5)
    refused(b"".join(blocks), r"block 2 .*: block count 5, but block 0 says 4")


def test_e10_block_in_second_position() -> None:
    blocks = image()
    blocks.insert(1, e10())
    refused(b"".join(blocks), r"block 1 .*allowed only as the first block")


def test_e10_block_after_another_e10_block() -> None:
    refused(e10() + e10() + b"".join(image()), r"block 1 .*allowed only as the first block")


@pytest.mark.parametrize(
    ("changed", "what"),
    [
        (e10(address=0x10FFFE00), "address 0x10fffe00"),
        (e10(count=3), "block count 3"),
        (e10(flags=0x2001), "flags 0x00002001"),
        (e10(flags=0xA000), "extension tag 0x00000000"),
    ],
    ids=["address", "count", "flags", "tag"],
)
def test_a_changed_e10_block_is_refused(changed: bytes, what: str) -> None:
    refused(changed + b"".join(image()), rf"not the RP2350-E10 .*{what}")


def test_an_e10_block_with_other_payload_is_refused() -> None:
    bad = bytearray(e10())
    bad[32 + 100] = 0
    refused(bytes(bad) + b"".join(image()), "payload not all 0xef")


def test_an_e10_block_with_the_wrong_extension_tag_is_refused() -> None:
    bad = bytearray(e10(extension=True))
    bad[32 + 256 : 32 + 260] = struct.pack("<I", 0x12345678)
    refused(bytes(bad) + b"".join(image()), "extension tag 0x12345678")


def test_e10_block_alone() -> None:
    refused(e10(), "only the RP2350-E10 workaround block")


def test_e10_block_in_a_pico_w_image() -> None:
    data = e10() + b"".join(image(family=Family.RP2040))
    refused(data, "no such erratum", target="pico_w")


def test_boards_are_named() -> None:
    assert board("pico2_w") == PICO2_W
    assert (PICO2_W.family, PICO2_W.flash_size) == (Family.RP2350_ARM_S, 4 * 1024 * 1024)
    assert (PICO_W.family, PICO_W.flash_size) == (Family.RP2040, 2 * 1024 * 1024)
    with pytest.raises(UsageError, match="unknown board 'pico3'") as info:
        board("pico3")
    assert info.value.hint == "known boards: pico2_w, pico_w"
