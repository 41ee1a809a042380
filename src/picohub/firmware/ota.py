"""Whether an image can be updated over the air safely: A/B partitions and TBYB.

A Pico 2 W takes an image over the air as pico-examples' ``pico_w/wifi/ota_update`` does:
it writes the image into the partition it is not running from, reboots into it with
``rom_reboot(REBOOT2_FLAG_REBOOT_TYPE_FLASH_UPDATE, ...)``, and the boot ROM goes back to
the old image unless the new one calls ``rom_explicit_buy()``. That needs an image whose
IMAGE_DEF has the TBYB flag, a ``binary_version`` (the boot ROM boots the partition with
the higher version), and a payload that fits one partition.
"""

from __future__ import annotations

import re

from picohub.firmware.uf2 import FLASH_START, Board, Uf2Image

HOW_TO_BUILD = (
    "build the firmware with target_compile_definitions(<target> PRIVATE "
    "PICO_CRT0_IMAGE_TYPE_TBYB=1) and pico_set_binary_version(<target> MAJOR <major> MINOR "
    "<minor>) matching the firmware version, as pico-examples' pico_w/wifi/ota_update does"
)
# "1.2", "1.2.3", "1.2.0-rc1": the leading major.minor is what binary_version carries.
_MAJOR_MINOR = re.compile(r"([0-9]+)\.([0-9]+)(?![0-9])")
_U16_MAX = 0xFFFF


def expected_binary_version(firmware_version: str) -> tuple[int, int] | None:
    """The ``binary_version`` an image of ``firmware_version`` must carry, if it says one."""
    found = _MAJOR_MINOR.match(firmware_version)
    if found is None:
        return None
    major, minor = int(found.group(1)), int(found.group(2))
    return (major, minor) if major <= _U16_MAX and minor <= _U16_MAX else None


def ota_problems(image: Uf2Image, board: Board, firmware_version: str) -> tuple[str, ...]:
    """Why the boot ROM could not try ``image`` and go back from it; empty if it can."""
    if board.ota_partition_size is None:
        return (f"the {board.name} boot ROM has no A/B partitions to try an image in",)
    problems: list[str] = []
    image_def = image.image_def
    if image_def is None:
        problems.append("it has no IMAGE_DEF block, so neither the TBYB flag nor a version")
    else:
        if not image_def.tbyb:
            problems.append(
                "its IMAGE_DEF has no TBYB (try before you buy) flag: the boot ROM would keep "
                "it even if it never calls rom_explicit_buy()"
            )
        expected = expected_binary_version(firmware_version)
        if image_def.version is None:
            problems.append("its IMAGE_DEF has no VERSION item (binary_version)")
        elif expected is None:
            problems.append(
                f"the firmware version {firmware_version!r} does not start with major.minor "
                f"to compare with the image's binary_version {image_def.version_text}"
            )
        elif image_def.version != expected:
            problems.append(
                f"its binary_version is {image_def.version_text}, but the firmware version "
                f"{firmware_version} says {expected[0]}.{expected[1]}"
            )
    needed = image.last_address - FLASH_START
    if needed > board.ota_partition_size:
        problems.append(
            f"its payload spans 0x{image.first_address:08x}-0x{image.last_address - 1:08x}, "
            f"{needed} bytes from the start of an image, more than an A/B partition of "
            f"{board.name} holds ({board.ota_partition_size} bytes)"
        )
    return tuple(problems)
