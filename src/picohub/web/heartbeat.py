"""What a Pico board may send in a heartbeat, checked strictly before anything is stored."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from picohub import jsontext
from picohub.firmware.manifest import SHA256
from picohub.firmware.rollout import BOARD_ID, BOARD_ID_RULE, OtaReport, OtaResult

DEVICE_ID = BOARD_ID  # one rule for a board's id, in firmware.conf's canaries too
FIRMWARE_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]{0,31}")
READING_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_READINGS = 16
MAX_UPTIME_S = 10 * 365 * 24 * 3600
REQUIRED_FIELDS = frozenset({"firmware_version"})
KNOWN_FIELDS = REQUIRED_FIELDS | {"uptime_s", "readings", "slot", "boot_type", "bought", "ota"}
# The A/B partition the board runs from.
SLOTS = ("a", "b")
# pico-sdk's rom_get_last_boot_type(): BOOT_TYPE_NORMAL, _BOOTSEL, _RAM_IMAGE,
# _FLASH_UPDATE, _PC_SP.
BOOT_TYPES = ("normal", "bootsel", "ram_image", "flash_update", "pc_sp")
OTA_FIELDS = frozenset({"sha256", "result", "reason"})
MAX_REASON = 200


class HeartbeatError(ValueError):
    """The heartbeat is not acceptable; the message names the field and the rule."""


@dataclass(frozen=True)
class Heartbeat:
    firmware_version: str
    uptime_s: int | None = None
    readings: dict[str, float] = field(default_factory=dict)
    slot: str | None = None  # "a" or "b"; None without A/B partitions
    boot_type: str | None = None  # one of BOOT_TYPES
    bought: bool | None = None  # False while an image is on trial (TBYB)
    ota: OtaReport | None = None  # the board's last OTA attempt


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id):
        raise HeartbeatError(f"device id {device_id[:80]!r} is not valid: use {BOARD_ID_RULE}")
    return device_id


def _is_number(value: Any) -> bool:
    # JSON true/false arrive as bool, a subclass of int: not a reading.
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_heartbeat(body: bytes) -> Heartbeat:
    try:
        data = jsontext.loads(body)
    except jsontext.JsonRefused as exc:
        raise HeartbeatError(f"the body is not acceptable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HeartbeatError("body must be a JSON object")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise HeartbeatError(
            f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    missing = sorted(REQUIRED_FIELDS - set(data))
    if missing:
        raise HeartbeatError(f"missing field(s): {', '.join(missing)}")

    version = data["firmware_version"]
    if not isinstance(version, str) or not FIRMWARE_VERSION.fullmatch(version):
        raise HeartbeatError(
            "firmware_version must be a string of 1 to 32 letters, digits or '._+~-'"
        )

    uptime = data.get("uptime_s")
    if uptime is not None and (
        not isinstance(uptime, int) or isinstance(uptime, bool) or not 0 <= uptime <= MAX_UPTIME_S
    ):
        raise HeartbeatError(f"uptime_s must be a whole number of seconds, 0 to {MAX_UPTIME_S}")

    bought = data.get("bought")
    if bought is not None and not isinstance(bought, bool):
        raise HeartbeatError("bought must be true or false (false while an image is on trial)")
    return Heartbeat(
        firmware_version=version,
        uptime_s=uptime,
        readings=_readings(data.get("readings", {})),
        slot=_one_of("slot", data.get("slot"), SLOTS),
        boot_type=_one_of("boot_type", data.get("boot_type"), BOOT_TYPES),
        bought=bought,
        ota=_ota(data.get("ota")),
    )


def _readings(readings: Any) -> dict[str, float]:
    if not isinstance(readings, dict):
        raise HeartbeatError("readings must be an object of name: number")
    if len(readings) > MAX_READINGS:
        raise HeartbeatError(f"readings has {len(readings)} entries; at most {MAX_READINGS}")
    for name, value in readings.items():
        if not READING_NAME.fullmatch(name):
            raise HeartbeatError(
                f"reading name {name[:40]!r} is not valid: lower-case letters, digits and '_', "
                "up to 32, starting with a letter"
            )
        if not _is_number(value) or not math.isfinite(value):
            raise HeartbeatError(f"reading {name!r} must be a finite number")
    return {name: float(value) for name, value in readings.items()}


def _one_of(
    name: str, value: Any, allowed: tuple[str, ...], *, nullable: bool = True
) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value)[:40] if isinstance(value, str) else "not a string"
        rule = f"one of {', '.join(allowed)}" + (" or null" if nullable else "")
        raise HeartbeatError(f"{name} is {shown}: must be {rule}")
    return value


def _ota(ota: Any) -> OtaReport | None:
    """The board's last OTA attempt: the image it was about and how it went."""
    if ota is None:
        return None
    if not isinstance(ota, dict):
        raise HeartbeatError('ota must be an object {"sha256", "result", "reason"} or null')
    unknown = sorted(set(ota) - OTA_FIELDS)
    if unknown:
        raise HeartbeatError(
            f"unknown ota field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(OTA_FIELDS))}"
        )
    missing = sorted({"sha256", "result"} - set(ota))
    if missing:
        raise HeartbeatError(f"missing ota field(s): {', '.join(missing)}")
    sha256 = ota["sha256"]
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise HeartbeatError("ota.sha256 must be the image's SHA-256: 64 lower-case hex digits")
    results = tuple(result.value for result in OtaResult)
    result = _one_of("ota.result", ota["result"], results, nullable=False)
    reason = ota.get("reason")
    if reason is not None and (
        not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.isprintable()
    ):
        raise HeartbeatError(
            f"ota.reason must be a string of at most {MAX_REASON} printable characters"
        )
    return OtaReport(sha256=sha256, result=OtaResult(str(result)), reason=reason)
