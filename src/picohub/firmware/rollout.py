"""Rolling a firmware image out board by board: the decisions, without Flask or storage.

The hub offers one image at a time, the installed manifest's. Each image (by its
SHA-256) gets a rollout: first its canaries are offered it, then, once every canary has
run it, bought, for a number of heartbeats in a row, every board. A board reporting that
its boot ROM went back to its old image (``reverted``) halts the rollout, and that board
is never offered that image again. The storage and the HTTP glue are in
``picohub.web.rollout``; this module only decides.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from picohub.errors import PicohubError

# A board's id (the heartbeat's path, a canary in firmware.conf).
BOARD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
BOARD_ID_RULE = "1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
SECTION = "rollout"
DEFAULT_HEALTHY_HEARTBEATS = 3
MAX_HEALTHY_HEARTBEATS = 100
CONFIG_KEYS = ("canaries", "healthy_heartbeats")


class RolloutState(StrEnum):
    CANARY = "canary"  # offered to the canaries only
    ROLLING = "rolling"  # offered to every board
    HALTED = "halted"  # a board reverted from it: offered to none


class OtaResult(StrEnum):
    """What a board says of its last OTA attempt (the heartbeat's ``ota.result``)."""

    DOWNLOADING = "downloading"
    TRYING = "trying"  # rebooted into the new image, on trial (TBYB)
    BOUGHT = "bought"
    REVERTED = "reverted"  # the boot ROM went back to the old image
    FAILED = "failed"  # download or verification failed; the old image runs on


class BoardState(StrEnum):
    """Where a board is with one image."""

    PENDING = "pending"  # offered it (got the manifest), nothing reported yet
    DOWNLOADING = "downloading"
    TRYING = "trying"
    BOUGHT = "bought"
    REVERTED = "reverted"  # for good: never offered this image again
    FAILED = "failed"


class Hold(StrEnum):
    """Why a board is not offered the image (``X-Picohub-Rollout``)."""

    WAITING = "waiting"  # for the canaries, or for the board's first heartbeat
    HALTED = "halted"
    REVERTED = "reverted"


class RolloutConfigError(PicohubError):
    """firmware.conf cannot be read or has a value it does not allow."""


@dataclass(frozen=True)
class RolloutConfig:
    canaries: tuple[str, ...] = ()
    healthy_heartbeats: int = DEFAULT_HEALTHY_HEARTBEATS


@dataclass(frozen=True)
class OtaReport:
    sha256: str
    result: OtaResult
    reason: str | None = None


@dataclass(frozen=True)
class BoardReport:
    """What of a heartbeat the rollout reads."""

    firmware_version: str
    bought: bool | None = None
    ota: OtaReport | None = None


@dataclass(frozen=True)
class BoardOta:
    """One board's state with one image."""

    state: BoardState
    healthy_heartbeats: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class Rollout:
    sha256: str
    firmware_version: str
    state: RolloutState
    canaries: tuple[str, ...] = ()
    halted_by: str | None = None
    halted_reason: str | None = None


@dataclass(frozen=True)
class Offer:
    """Whether a board asking for the manifest gets it, and what to record."""

    offered: bool
    hold: Hold | None = None
    becomes_canary: bool = False  # the first board to ask, no canaries configured
    record_pending: bool = False  # first offered an image it does not run


# -- firmware.conf -----------------------------------------------------------------------


def parse_config(text: str, source: str = "firmware.conf") -> RolloutConfig:
    """Read firmware.conf's ``[rollout]``; a bad key or value names itself and the rule."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise RolloutConfigError(f"{source} is not an INI file: {exc}") from exc
    others = [name for name in parser.sections() if name != SECTION]
    if others:
        raise RolloutConfigError(
            f"{source}: unknown section(s) {', '.join(others)}; allowed: [{SECTION}]"
        )
    if not parser.has_section(SECTION):
        return RolloutConfig()
    values = dict(parser.items(SECTION))
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise RolloutConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} in [{SECTION}]; "
            f"allowed: {', '.join(CONFIG_KEYS)}"
        )
    return RolloutConfig(
        canaries=_canaries(values.get("canaries", ""), source),
        healthy_heartbeats=_healthy(values.get("healthy_heartbeats"), source),
    )


def _canaries(value: str, source: str) -> tuple[str, ...]:
    ids: list[str] = []
    for word in value.split():
        if not BOARD_ID.fullmatch(word):
            raise RolloutConfigError(
                f"{source}: canaries = {value!r}: {word[:80]!r} is not a board id "
                f"({BOARD_ID_RULE}); list board ids separated by spaces"
            )
        if word not in ids:
            ids.append(word)
    return tuple(ids)


def _healthy(value: str | None, source: str) -> int:
    if value is None or not value.strip():
        return DEFAULT_HEALTHY_HEARTBEATS
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_HEALTHY_HEARTBEATS:
        raise RolloutConfigError(
            f"{source}: healthy_heartbeats = {value!r} is not allowed: a whole number "
            f"from 1 to {MAX_HEALTHY_HEARTBEATS} (default {DEFAULT_HEALTHY_HEARTBEATS})"
        )
    return int(text)


def read_config(path: Path) -> RolloutConfig:
    """firmware.conf, read on every request (a small file); no file: the defaults."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RolloutConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise RolloutConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(text, str(path))


# -- the rollout -------------------------------------------------------------------------


def start(sha256: str, firmware_version: str, config: RolloutConfig | None) -> Rollout:
    """A new rollout (a new image, or an image installed again): the canaries first."""
    canaries = config.canaries if config is not None else ()
    return Rollout(sha256, firmware_version, RolloutState.CANARY, canaries)


def with_configured_canaries(rollout: Rollout, config: RolloutConfig | None) -> Rollout:
    """While the canaries are tried, the configured ones are the canaries (firmware.conf
    is read on every request); with none configured the rollout keeps those it has (the
    first board that asked). Once promoted or halted, they are history."""
    if rollout.state is not RolloutState.CANARY or config is None or not config.canaries:
        return rollout
    return replace(rollout, canaries=config.canaries)


def decide_offer(
    rollout: Rollout, board_id: str, running: str | None, board: BoardOta | None
) -> Offer:
    """Whether ``board_id`` (running ``running``, None: never reported) is offered the
    rollout's image. ``board`` is its state with that image."""
    hold = _held(rollout, running, board)
    if hold is not None:
        return Offer(offered=False, hold=hold)
    if running == rollout.firmware_version:
        return Offer(offered=True)  # nothing to do for it, and nothing to record
    pending = board is None
    if rollout.state is RolloutState.ROLLING or board_id in rollout.canaries:
        return Offer(offered=True, record_pending=pending)
    if not rollout.canaries:
        return Offer(offered=True, becomes_canary=True, record_pending=pending)
    return Offer(offered=False, hold=Hold.WAITING)


def _held(rollout: Rollout, running: str | None, board: BoardOta | None) -> Hold | None:
    if running is None:
        return Hold.WAITING  # the board's first heartbeat says what it runs
    if running == rollout.firmware_version:
        return None
    if board is not None and board.state is BoardState.REVERTED:
        return Hold.REVERTED
    if rollout.state is RolloutState.HALTED:
        return Hold.HALTED
    return None


def after_heartbeat(
    previous: BoardOta | None, report: BoardReport, rollout: Rollout
) -> BoardOta | None:
    """A board's state with the rollout's image after a heartbeat; None: nothing to record
    (it was never offered the image, does not run it and reports nothing of it)."""
    if previous is not None and previous.state is BoardState.REVERTED:
        return previous  # for good
    ota = report.ota if report.ota is not None and report.ota.sha256 == rollout.sha256 else None
    reason = ota.reason if ota is not None else (previous.reason if previous else None)
    if ota is not None and ota.result is OtaResult.REVERTED:
        return BoardOta(BoardState.REVERTED, 0, reason)
    if report.firmware_version == rollout.firmware_version:
        return _running_it(previous, report, ota, reason)
    if ota is not None:
        return BoardOta(BoardState(ota.result.value), 0, reason)
    if previous is None:
        return None
    return replace(previous, healthy_heartbeats=0)


def _running_it(
    previous: BoardOta | None, report: BoardReport, ota: OtaReport | None, reason: str | None
) -> BoardOta:
    """A board running the image: healthy while it says it bought it, in a row. A board
    that does not say (no A/B partitions, or firmware older than the OTA fields) has
    nothing on trial: it counts as bought."""
    if report.bought is not False:
        healthy = previous.healthy_heartbeats + 1 if previous is not None else 1
        return BoardOta(BoardState.BOUGHT, healthy, reason)
    bought = ota is not None and ota.result is OtaResult.BOUGHT
    return BoardOta(BoardState.BOUGHT if bought else BoardState.TRYING, 0, reason)


def reverted_elsewhere(report: BoardReport, rollout: Rollout) -> str | None:
    """The SHA-256 of another image the board says it reverted from (an older rollout's):
    recorded, so that the board is not offered that image if it is installed again."""
    ota = report.ota
    if ota is None or ota.result is not OtaResult.REVERTED or ota.sha256 == rollout.sha256:
        return None
    return ota.sha256


def after_board_change(
    rollout: Rollout, board_id: str, before: BoardOta | None, after: BoardOta | None
) -> Rollout:
    """A board reverting from the image halts the rollout (the first one is named). Only
    the change halts: a board that reverted from it in an earlier rollout of the same
    image, and still says so, is not offered it, and halts nothing."""
    if after is None or after.state is not BoardState.REVERTED:
        return rollout
    if before is not None and before.state is BoardState.REVERTED:
        return rollout
    if rollout.state is RolloutState.HALTED:
        return rollout
    return replace(
        rollout, state=RolloutState.HALTED, halted_by=board_id, halted_reason=after.reason
    )


def promoted(rollout: Rollout, healthy: Mapping[str, int], needed: int) -> Rollout:
    """Every canary ran the image, bought, for ``needed`` heartbeats in a row: every board
    is offered it."""
    if rollout.state is not RolloutState.CANARY or not rollout.canaries:
        return rollout
    if all(healthy.get(canary, 0) >= needed for canary in rollout.canaries):
        return replace(rollout, state=RolloutState.ROLLING)
    return rollout


def listed_state(
    rollout: Rollout, running: str, bought: bool | None, board: BoardOta | None
) -> str:
    """A board's OTA state as the devices listing shows it: ``current`` when it runs the
    offered image, bought; its state with the image; ``waiting`` when not offered yet."""
    if running == rollout.firmware_version and bought is not False:
        return "current"
    return board.state.value if board is not None else Hold.WAITING.value


def offered_version(
    rollout: Rollout, board_id: str, running: str, board: BoardOta | None
) -> str | None:
    """What the hub offers this board now; None while it is held (a board that would be
    picked as the canary is not offered until it asks)."""
    offer = decide_offer(rollout, board_id, running, board)
    return rollout.firmware_version if offer.offered and not offer.becomes_canary else None
