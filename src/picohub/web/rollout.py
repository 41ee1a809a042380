"""The firmware rollout's state in the hub's database, and what a request changes in it.

The decisions are picohub.firmware.rollout's; this module reads and writes the tables of
schema migration 4 (``firmware_rollouts``, ``board_ota``) inside the caller's
transaction. Callers that change anything hold ``write_transaction``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from picohub.firmware import rollout as decide
from picohub.firmware.manifest import Manifest
from picohub.firmware.rollout import (
    BoardOta,
    BoardReport,
    BoardState,
    Offer,
    Rollout,
    RolloutConfig,
    RolloutConfigError,
    RolloutState,
)
from picohub.settings import Settings


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ConfigRead:
    """firmware.conf, or why it cannot be used (a request goes on without it)."""

    config: RolloutConfig | None
    error: str | None = None


def read_config(settings: Settings) -> ConfigRead:
    try:
        return ConfigRead(decide.read_config(settings.firmware_rollout_config))
    except RolloutConfigError as exc:
        return ConfigRead(None, str(exc))


# -- reading -----------------------------------------------------------------------------


def _rollout(row: sqlite3.Row) -> Rollout:
    return Rollout(
        sha256=row["sha256"],
        firmware_version=row["firmware_version"],
        state=RolloutState(row["state"]),
        canaries=tuple(json.loads(row["canaries"])),
        halted_by=row["halted_by"],
        halted_reason=row["halted_reason"],
    )


def latest(db: sqlite3.Connection) -> Rollout | None:
    """The rollout started last (of the image installed then)."""
    row = db.execute("SELECT * FROM firmware_rollouts ORDER BY generation DESC LIMIT 1").fetchone()
    return None if row is None else _rollout(row)


def current(db: sqlite3.Connection, manifest: Manifest) -> Rollout | None:
    """The installed image's rollout; None until a board's request starts it."""
    found = latest(db)
    return found if found is not None and found.sha256 == manifest.sha256 else None


def board_state(db: sqlite3.Connection, device_id: str, sha256: str) -> BoardOta | None:
    row = db.execute(
        "SELECT state, healthy_heartbeats, reason FROM board_ota"
        " WHERE device_id = ? AND sha256 = ?",
        (device_id, sha256),
    ).fetchone()
    if row is None:
        return None
    return BoardOta(BoardState(row["state"]), row["healthy_heartbeats"], row["reason"])


def board_states(db: sqlite3.Connection, sha256: str) -> dict[str, BoardOta]:
    rows = db.execute(
        "SELECT device_id, state, healthy_heartbeats, reason FROM board_ota WHERE sha256 = ?",
        (sha256,),
    ).fetchall()
    return {
        row["device_id"]: BoardOta(
            BoardState(row["state"]), row["healthy_heartbeats"], row["reason"]
        )
        for row in rows
    }


def running_version(db: sqlite3.Connection, device_id: str) -> str | None:
    row = db.execute("SELECT firmware_version FROM devices WHERE id = ?", (device_id,)).fetchone()
    return None if row is None else str(row["firmware_version"])


# -- writing (inside write_transaction) --------------------------------------------------


def _save(db: sqlite3.Connection, rollout: Rollout) -> None:
    db.execute(
        "UPDATE firmware_rollouts SET state = ?, canaries = ?, halted_by = ?, halted_reason = ?"
        " WHERE sha256 = ?",
        (
            rollout.state.value,
            json.dumps(list(rollout.canaries)),
            rollout.halted_by,
            rollout.halted_reason,
            rollout.sha256,
        ),
    )


def _save_board(
    db: sqlite3.Connection, device_id: str, sha256: str, board: BoardOta, now: str
) -> None:
    db.execute(
        """
        INSERT INTO board_ota (device_id, sha256, state, healthy_heartbeats, reason, updated)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (device_id, sha256) DO UPDATE SET
            state = excluded.state,
            healthy_heartbeats = excluded.healthy_heartbeats,
            reason = excluded.reason,
            updated = excluded.updated
        """,
        (device_id, sha256, board.state.value, board.healthy_heartbeats, board.reason, now),
    )


def ensure_current(
    db: sqlite3.Connection, manifest: Manifest, config: RolloutConfig | None, now: str
) -> Rollout:
    """The installed image's rollout, started when the image is new or installed again
    after another one. A board that reverted from an image keeps that record; every
    other board's state with an older image is forgotten."""
    found = current(db, manifest)
    if found is None:
        found = decide.start(manifest.sha256, manifest.firmware_version, config)
        generation = db.execute(
            "SELECT coalesce(max(generation), 0) + 1 FROM firmware_rollouts"
        ).fetchone()[0]
        db.execute(
            """
            INSERT INTO firmware_rollouts
                (sha256, generation, firmware_version, started, state, canaries)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO UPDATE SET
                generation = excluded.generation,
                firmware_version = excluded.firmware_version,
                started = excluded.started,
                state = excluded.state,
                canaries = excluded.canaries,
                halted_by = NULL,
                halted_reason = NULL
            """,
            (
                found.sha256,
                generation,
                found.firmware_version,
                now,
                found.state.value,
                json.dumps(list(found.canaries)),
            ),
        )
        db.execute("DELETE FROM board_ota WHERE state != ?", (BoardState.REVERTED.value,))
    configured = decide.with_configured_canaries(found, config)
    if configured != found:
        _save(db, configured)
    return configured


def offer(
    db: sqlite3.Connection, device_id: str, manifest: Manifest, config: RolloutConfig, now: str
) -> tuple[Rollout, Offer]:
    """A board asks for the manifest: whether it gets it, recorded (the canary picked,
    the board's state ``pending``)."""
    rollout = _promote(db, ensure_current(db, manifest, config, now), config)
    board = board_state(db, device_id, rollout.sha256)
    answer = decide.decide_offer(rollout, device_id, running_version(db, device_id), board)
    if answer.becomes_canary:
        rollout = replace(rollout, canaries=(device_id,))
        _save(db, rollout)
    if answer.record_pending:
        _save_board(db, device_id, rollout.sha256, BoardOta(BoardState.PENDING), now)
    return rollout, answer


def _promote(db: sqlite3.Connection, rollout: Rollout, config: RolloutConfig | None) -> Rollout:
    if config is None:
        return rollout  # firmware.conf is broken: no one knows how many heartbeats
    healthy = {
        device: board.healthy_heartbeats
        for device, board in board_states(db, rollout.sha256).items()
    }
    promoted = decide.promoted(rollout, healthy, config.healthy_heartbeats)
    if promoted != rollout:
        _save(db, promoted)
    return promoted


def on_heartbeat(
    db: sqlite3.Connection,
    device_id: str,
    report: BoardReport,
    manifest: Manifest,
    config: RolloutConfig | None,
    now: str,
) -> None:
    """What a board's heartbeat says of the installed image (and of an older one it
    reverted from): its state, a halt, a promotion."""
    rollout = ensure_current(db, manifest, config, now)
    before = board_state(db, device_id, rollout.sha256)
    after = decide.after_heartbeat(before, report, rollout)
    if after is not None and after != before:
        _save_board(db, device_id, rollout.sha256, after, now)
    halted = decide.after_board_change(rollout, device_id, before, after)
    if halted != rollout:
        _save(db, halted)
    _promote(db, halted, config)
    elsewhere = decide.reverted_elsewhere(report, rollout)
    if elsewhere is not None and _known_image(db, elsewhere):
        reason = report.ota.reason if report.ota is not None else None
        _save_board(db, device_id, elsewhere, BoardOta(BoardState.REVERTED, 0, reason), now)


def _known_image(db: sqlite3.Connection, sha256: str) -> bool:
    """Only images the hub rolled out are recorded: a board cannot fill the table."""
    found = db.execute("SELECT 1 FROM firmware_rollouts WHERE sha256 = ?", (sha256,))
    return found.fetchone() is not None


def forget_canary(db: sqlite3.Connection, device_id: str) -> None:
    """A board removed from the registry stops being the canary the rollout picked (the
    next board that asks is picked); configured canaries stay configured."""
    rollout = latest(db)
    if rollout is None or rollout.state is not RolloutState.CANARY:
        return
    if device_id in rollout.canaries:
        remaining = tuple(canary for canary in rollout.canaries if canary != device_id)
        _save(db, replace(rollout, canaries=remaining))


# -- the listing -------------------------------------------------------------------------


def listing(
    db: sqlite3.Connection, manifest: Manifest | None, read: ConfigRead
) -> tuple[Rollout | None, dict[str, BoardOta], dict[str, Any] | None]:
    """The installed image's rollout as it stands (as it would start, before a board
    asked), each board's state with it, and the listing's ``rollout`` object."""
    if manifest is None:
        return None, {}, None
    stored = current(db, manifest)
    rollout = (
        stored
        if stored is not None
        else decide.start(manifest.sha256, manifest.firmware_version, read.config)
    )
    rollout = decide.with_configured_canaries(rollout, read.config)
    view: dict[str, Any] = {
        "sha256": rollout.sha256,
        "firmware_version": rollout.firmware_version,
        "state": rollout.state.value,
        "started": stored is not None,
        "canaries": list(rollout.canaries),
        "halted_by": rollout.halted_by,
        "halted_reason": rollout.halted_reason,
        "healthy_heartbeats": read.config.healthy_heartbeats if read.config else None,
        "error": read.error,
    }
    return rollout, board_states(db, rollout.sha256) if stored else {}, view
