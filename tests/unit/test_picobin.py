"""What the hub reads from an image's IMAGE_DEF, and which images it takes for OTA.

The blocks are built by hand (tests/picobin_blocks.py) as the Pico SDK and picotool lay
them out, not with the code under test."""

from __future__ import annotations

import pytest

from picohub.firmware.manifest import make_manifest
from picohub.firmware.ota import expected_binary_version, ota_problems
from picohub.firmware.picobin import find_image_def
from picohub.firmware.uf2 import BOARDS, Family, validate
from tests import picobin_blocks as pb

PICO2_W = BOARDS["pico2_w"]
FLASH = 0x10000000


def read(memory: bytes, *, e10: bool = True) -> tuple[object, ...]:
    image = validate(pb.to_uf2(memory, e10=e10), PICO2_W)
    found = image.image_def
    assert found is not None
    return (found.image_type, found.cpu, found.chip, found.tbyb, found.version_text)


def test_an_sdk_tbyb_image_with_a_version() -> None:
    image = validate(pb.to_uf2(pb.sdk_image(major_minor=(3, 1), size=8192)), PICO2_W)
    found = image.image_def
    assert found is not None
    assert (found.image_type, found.cpu, found.chip, found.security) == (
        "exe",
        "arm",
        "RP2350",
        "secure",
    )
    assert (found.tbyb, found.version, found.rollback) == (True, (3, 1), None)
    assert (found.hashed, found.signed, found.blocks, found.problem) == (False, False, 2, None)
    assert found.address == FLASH
    assert image.warnings == ()
    assert (image.first_address, image.last_address, image.payload_size) == (
        FLASH,
        FLASH + 8192,
        8192,
    )
    assert image.has_e10_block
    assert ota_problems(image, PICO2_W, "3.1.0") == ()


def test_an_image_without_tbyb() -> None:
    image = validate(pb.to_uf2(pb.sdk_image(flags=pb.ARM_EXE)), PICO2_W)
    assert image.image_def is not None and not image.image_def.tbyb
    (problem,) = ota_problems(image, PICO2_W, "1.2")
    assert "no TBYB" in problem


def test_an_image_without_a_version() -> None:
    image = validate(pb.to_uf2(pb.sdk_image(major_minor=None)), PICO2_W)
    assert image.image_def is not None and image.image_def.version is None
    (problem,) = ota_problems(image, PICO2_W, "1.2")
    assert "no VERSION item" in problem


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("1.3.0", "binary_version is 1.2, but the firmware version 1.3.0 says 1.3"),
        ("2.2", "says 2.2"),
        ("nightly", "does not start with major.minor"),
    ],
)
def test_a_version_that_disagrees(given: str, complaint: str) -> None:
    image = validate(pb.to_uf2(pb.sdk_image(major_minor=(1, 2))), PICO2_W)
    (problem,) = ota_problems(image, PICO2_W, given)
    assert complaint in problem


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1.2", (1, 2)), ("1.2.3", (1, 2)), ("10.20-rc1", (10, 20)), ("1", None), ("1.x", None)],
)
def test_the_binary_version_a_firmware_version_means(
    given: str, expected: tuple[int, int] | None
) -> None:
    assert expected_binary_version(given) == expected


def test_the_version_with_rollback_rows() -> None:
    memory = pb.block(pb.image_type(pb.ARM_EXE | pb.TBYB), pb.version(4, 7, rollback=3, rows=3))
    found = find_image_def(memory, FLASH)
    assert found is not None
    assert (found.version, found.rollback) == ((4, 7), 3)


def test_a_sealed_image_with_hash_and_signature() -> None:
    """picotool seal: the end block becomes the IMAGE_DEF, with HASH_DEF and SIGNATURE."""
    sealed_items = (
        pb.image_type(pb.ARM_EXE | pb.TBYB),
        pb.version(1, 2),
        pb.load_map(FLASH, 4096),
        pb.hash_def(12),
        pb.signature(),
    )
    memory = pb.sdk_image(flags=pb.ARM_EXE, size=4096, end_items=sealed_items)
    image = validate(pb.to_uf2(memory), PICO2_W)
    found = image.image_def
    assert found is not None
    # The last IMAGE_DEF of the loop is the one the boot ROM uses: TBYB from the end block.
    assert (found.hashed, found.signed, found.tbyb, found.blocks) == (True, True, True, 2)
    assert found.address > FLASH
    assert ota_problems(image, PICO2_W, "1.2.0") == ()


def test_a_hashed_image_without_signature() -> None:
    memory = pb.block(pb.image_type(pb.ARM_EXE), pb.hash_def(3), pb.hash_value())
    found = find_image_def(memory, FLASH)
    assert found is not None
    assert (found.hashed, found.signed) == (True, False)


def test_a_span_too_large_for_a_partition() -> None:
    partition = PICO2_W.ota_partition_size
    assert partition == 1744 * 1024
    memory = pb.sdk_image(size=partition + 256)
    image = validate(pb.to_uf2(memory), PICO2_W)
    (problem,) = ota_problems(image, PICO2_W, "1.2")
    assert f"more than an A/B partition of pico2_w holds ({partition} bytes)" in problem
    assert "0x10000000-0x101b40ff" in problem
    assert (
        ota_problems(validate(pb.to_uf2(pb.sdk_image(size=partition)), PICO2_W), PICO2_W, "1.2")
        == ()
    )


def test_the_e10_block_is_seen_and_left_out_of_the_span() -> None:
    with_e10 = validate(pb.to_uf2(pb.sdk_image(size=1024)), PICO2_W)
    without = validate(pb.to_uf2(pb.sdk_image(size=1024), e10=False), PICO2_W)
    assert (with_e10.has_e10_block, without.has_e10_block) == (True, False)
    assert with_e10.last_address == without.last_address == FLASH + 1024
    assert with_e10.image_def == without.image_def


def test_a_riscv_image() -> None:
    memory = pb.block(pb.image_type(pb.RISCV_EXE | pb.TBYB), pb.version(1, 0))
    found = find_image_def(memory, FLASH)
    assert found is not None and (found.cpu, found.security) == ("riscv", "unspecified")


def test_an_arm_image_def_in_a_riscv_family_warns() -> None:
    memory = pb.block(pb.image_type(pb.RISCV_EXE | pb.TBYB), pb.version(1, 0))
    (warning,) = validate(pb.to_uf2(memory), PICO2_W).warnings
    assert "RP2350 riscv, but the UF2 family is RP2350 Arm-S" in warning


def test_a_broken_loop_warns_and_uses_the_first_block() -> None:
    memory = pb.block(pb.image_type(pb.ARM_EXE | pb.TBYB), pb.version(1, 2), next_offset=512)
    image = validate(pb.to_uf2(memory.ljust(1024, b"\0")), PICO2_W)
    assert image.image_def is not None and image.image_def.tbyb
    (warning,) = image.warnings
    assert "links to 0x10000200, where there is no valid block" in warning


def test_a_marker_without_a_valid_block_is_no_image_def() -> None:
    bad_last = bytearray(pb.block(pb.image_type(pb.ARM_EXE)))
    bad_last[8] = 5  # LAST's size no longer matches the items before it
    image = validate(pb.to_uf2(bytes(bad_last)), PICO2_W)
    assert image.image_def is None
    assert "no IMAGE_DEF block" in image.warnings[0]
    (problem,) = ota_problems(image, PICO2_W, "1.0")
    assert "no IMAGE_DEF block" in problem


def test_a_block_after_other_words_in_the_first_4_kb_is_found() -> None:
    memory = bytes(1000) + pb.block(pb.image_type(pb.ARM_EXE | pb.TBYB), pb.version(0, 9))
    assert read(memory) == ("exe", "arm", "RP2350", True, "0.9")


def test_a_data_image_is_not_executable() -> None:
    memory = pb.block(pb.image_type(0x2))
    image = validate(pb.to_uf2(memory), PICO2_W)
    assert image.image_def is not None
    assert (image.image_def.image_type, image.image_def.cpu) == ("data", None)
    assert "not executable" in image.warnings[0]


def test_the_pico_w_has_no_ab_partitions() -> None:
    pico_w = BOARDS["pico_w"]
    data = pb.to_uf2(bytes(512), family=Family.RP2040, e10=False)
    image = validate(data, pico_w)
    assert image.image_def is None and image.warnings == ()
    assert ota_problems(image, pico_w, "1.0") == (
        "the pico_w boot ROM has no A/B partitions to try an image in",
    )


def test_the_manifest_carries_what_imagedef_says() -> None:
    data = pb.to_uf2(pb.sdk_image(major_minor=(2, 0), size=2048))
    made = make_manifest(
        data, PICO2_W, firmware_version="2.0.1", package_version="1", test_image=False
    )
    assert (made.image_type, made.cpu, made.binary_version, made.tbyb) == (
        "exe",
        "arm",
        "2.0",
        True,
    )
    assert (made.hashed, made.signed, made.e10_block) == (False, False, True)
    assert (made.payload_first_address, made.payload_last_address, made.payload_bytes) == (
        FLASH,
        FLASH + 2047,
        2048,
    )
    assert (made.revertible, made.ota_problems) == (True, ())


def test_the_manifest_of_an_image_without_tbyb_is_not_revertible() -> None:
    data = pb.to_uf2(pb.sdk_image(flags=pb.ARM_EXE, major_minor=(2, 0)))
    made = make_manifest(
        data, PICO2_W, firmware_version="2.0", package_version="1", test_image=False
    )
    assert not made.revertible
    assert "no TBYB" in made.ota_problems[0]
