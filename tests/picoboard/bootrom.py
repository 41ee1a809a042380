"""A model of the RP2350 boot ROM's A/B partitions with "try before you buy" (TBYB).

What a board relies on, as the datasheet (5.1.17, "Try before you buy") describes it: an
image written to the inactive partition is booted with ``rom_reboot(REBOOT2_FLAG_REBOOT_
TYPE_FLASH_UPDATE, ..., partition start)``; a TBYB image boots as a trial, and unless it
calls ``rom_explicit_buy()`` before the watchdog fires (16.7 s), the next boot is of the
other partition, whose image was never touched. A bought image stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BootType(StrEnum):
    """rom_get_last_boot_type()'s BOOT_TYPE_* values, as the heartbeat names them."""

    NORMAL = "normal"
    FLASH_UPDATE = "flash_update"


@dataclass
class Partition:
    """What one A/B partition holds: the image's flash bytes and what they say."""

    size: int
    payload: bytes = b""
    firmware_version: str | None = None
    sha256: str | None = None  # of the UF2 it was written from


@dataclass
class BootRom:
    """Two partitions "a" and "b"; the board runs from ``running``."""

    partition_size: int
    running: str = "a"
    bought: bool = True
    last_boot_type: BootType = BootType.NORMAL
    partitions: dict[str, Partition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            self.partitions.setdefault(name, Partition(self.partition_size))

    @classmethod
    def running_version(cls, version: str, partition_size: int) -> BootRom:
        rom = cls(partition_size)
        rom.partitions["a"].firmware_version = version
        return rom

    @property
    def inactive(self) -> str:
        return "b" if self.running == "a" else "a"

    @property
    def firmware_version(self) -> str:
        version = self.partitions[self.running].firmware_version
        assert version is not None, "the running partition holds no image"
        return version

    def write_inactive(self, payload: bytes, firmware_version: str, sha256: str) -> None:
        """Erase and program the inactive partition (flash_range_erase/program)."""
        if len(payload) > self.partition_size:
            raise ValueError(
                f"{len(payload)} bytes do not fit a {self.partition_size}-byte partition"
            )
        self.partitions[self.inactive] = Partition(
            self.partition_size, payload, firmware_version, sha256
        )

    def reboot_to_try(self) -> None:
        """rom_reboot(FLASH_UPDATE) into the inactive partition: the new image's trial."""
        self.running = self.inactive
        self.bought = False
        self.last_boot_type = BootType.FLASH_UPDATE

    def explicit_buy(self) -> None:
        """rom_explicit_buy(): the trial image stays."""
        self.bought = True

    def watchdog_fires(self) -> bool:
        """The trial's watchdog: an image not bought is left for the other partition.
        Returns whether the boot ROM reverted."""
        if self.bought:
            return False
        self.running = self.inactive
        self.bought = True
        self.last_boot_type = BootType.NORMAL
        return True
