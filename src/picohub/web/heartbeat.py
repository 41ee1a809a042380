"""What a Pico board may send in a heartbeat, checked strictly before anything is stored."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from picohub import jsontext

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
FIRMWARE_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]{0,31}")
READING_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_READINGS = 16
MAX_UPTIME_S = 10 * 365 * 24 * 3600
REQUIRED_FIELDS = frozenset({"firmware_version"})
KNOWN_FIELDS = REQUIRED_FIELDS | {"uptime_s", "readings"}


class HeartbeatError(ValueError):
    """The heartbeat is not acceptable; the message names the field and the rule."""


@dataclass(frozen=True)
class Heartbeat:
    firmware_version: str
    uptime_s: int | None = None
    readings: dict[str, float] = field(default_factory=dict)


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id):
        raise HeartbeatError(
            f"device id {device_id[:80]!r} is not valid: use 1 to 64 letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
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

    readings = data.get("readings", {})
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
    return Heartbeat(
        firmware_version=version,
        uptime_s=uptime,
        readings={name: float(value) for name, value in readings.items()},
    )
