"""The device registry: Pico boards report in, the frontend lists them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from debian.debian_support import Version
from flask import Blueprint, Response, current_app, jsonify, request

from picohub.errors import PicohubError
from picohub.firmware import rollout as decide
from picohub.firmware.manifest import Manifest
from picohub.firmware.rollout import BoardOta, BoardReport, Rollout
from picohub.settings import Settings
from picohub.web import rollout
from picohub.web.auth import admin_required
from picohub.web.database import get_db, write_transaction
from picohub.web.errors import ApiError
from picohub.web.firmware import offered_manifest
from picohub.web.heartbeat import Heartbeat, HeartbeatError, check_device_id, parse_heartbeat

blueprint = Blueprint("devices", __name__, url_prefix="/api/devices")


def _offered(settings: Settings) -> Manifest | None:
    try:
        return offered_manifest(settings)
    except PicohubError:
        return None  # a broken manifest is reported by /api/firmware, not here


def _read_body() -> bytes:
    """The request body, refused unless it is JSON of a declared, bounded length."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    length = request.content_length
    if length is None:
        raise ApiError(411, "length_required", "send a Content-Length header")
    if length > settings.max_request_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"body of {length} bytes; at most {settings.max_request_bytes}",
        )
    return request.get_data(cache=False)


@blueprint.post("/<device_id>/heartbeat")
def heartbeat(device_id: str) -> tuple[Response, int]:
    try:
        check_device_id(device_id)
        beat = parse_heartbeat(_read_body())
    except HeartbeatError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    now = rollout.utc_now()
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    manifest = _offered(settings)
    config = rollout.read_config(settings).config  # broken: stored, nothing promoted
    # One write transaction for the count and the insert: two new boards at once must
    # not both take the last place.
    with write_transaction(get_db()) as db:
        known = db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone()
        count = db.execute("SELECT count(*) FROM devices").fetchone()[0]
        if known is None and count >= settings.max_devices:
            raise ApiError(
                409,
                "registry_full",
                f"the hub keeps at most {settings.max_devices} boards and knows "
                f"{count}: an administrator must remove one (DELETE /api/devices/ID) "
                f"before {device_id} can report",
            )
        _store(db, device_id, beat, now)
        if manifest is not None:
            report = BoardReport(beat.firmware_version, beat.bought, beat.ota)
            rollout.on_heartbeat(db, device_id, report, manifest, config, now)
    return jsonify(id=device_id, last_seen=now), 200


def _store(db: sqlite3.Connection, device_id: str, beat: Heartbeat, now: str) -> None:
    ota = None if beat.ota is None else json.dumps(asdict(beat.ota))
    db.execute(
        """
        INSERT INTO devices (id, firmware_version, uptime_s, readings, first_seen, last_seen,
                             slot, boot_type, bought, ota)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            firmware_version = excluded.firmware_version,
            uptime_s = excluded.uptime_s,
            readings = excluded.readings,
            last_seen = excluded.last_seen,
            slot = excluded.slot,
            boot_type = excluded.boot_type,
            bought = excluded.bought,
            ota = excluded.ota
        """,
        (
            device_id,
            beat.firmware_version,
            beat.uptime_s,
            json.dumps(beat.readings),
            now,
            now,
            beat.slot,
            beat.boot_type,
            beat.bought,
            ota,
        ),
    )


@blueprint.delete("/<device_id>")
@admin_required
def remove_device(device_id: str) -> tuple[Response, int]:
    """Forget a board (its next heartbeat registers it again)."""
    try:
        check_device_id(device_id)
    except HeartbeatError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    # Its OTA states go with it (ON DELETE CASCADE), and a canary the rollout picked.
    with write_transaction(get_db()) as db:
        removed = db.execute("DELETE FROM devices WHERE id = ?", (device_id,)).rowcount
        rollout.forget_canary(db, device_id)
    if not removed:
        raise ApiError(404, "not_found", f"no board {device_id} is registered")
    return jsonify(id=device_id, removed=True), 200


def _behind(running: str, offered: str | None) -> bool | None:
    """Whether a board runs older firmware than the hub offers (None: nothing offered)."""
    if offered is None:
        return None
    try:
        return bool(Version(running) < Version(offered))
    except ValueError:  # not comparable as versions: any difference means out of date
        return running != offered


@blueprint.get("")
def list_devices() -> tuple[Response, int]:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    manifest = _offered(settings)
    offered = manifest.firmware_version if manifest else None
    db = get_db()
    current, boards, rollout_view = rollout.listing(db, manifest, rollout.read_config(settings))
    rows = db.execute("SELECT * FROM devices ORDER BY id").fetchall()
    devices = [
        {
            "id": row["id"],
            "firmware_version": row["firmware_version"],
            "uptime_s": row["uptime_s"],
            "readings": json.loads(row["readings"]),
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
            "behind": _behind(row["firmware_version"], offered),
            "slot": row["slot"],
            "boot_type": row["boot_type"],
            "bought": None if row["bought"] is None else bool(row["bought"]),
            **_ota_view(current, row, boards.get(row["id"])),
        }
        for row in rows
    ]
    return jsonify(devices=devices, offered_firmware=offered, rollout=rollout_view), 200


def _ota_view(current: Rollout | None, row: sqlite3.Row, board: BoardOta | None) -> dict[str, Any]:
    """A board's state with the offered image, and what the hub offers it."""
    reported = None if row["ota"] is None else json.loads(row["ota"])
    if current is None:
        return {"ota": None, "offered_version": None}
    bought = None if row["bought"] is None else bool(row["bought"])
    running = row["firmware_version"]
    return {
        "ota": {
            "state": decide.listed_state(current, running, bought, board),
            "sha256": current.sha256,
            "reason": board.reason if board is not None else None,
            "reported": reported,
        },
        "offered_version": decide.offered_version(current, row["id"], running, board),
    }
