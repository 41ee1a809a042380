"""The device registry: Pico boards report in, the frontend lists them."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from debian.debian_support import Version
from flask import Blueprint, Response, current_app, jsonify, request

from picohub.errors import PicohubError
from picohub.settings import Settings
from picohub.web.auth import admin_required
from picohub.web.database import get_db, write_transaction
from picohub.web.errors import ApiError
from picohub.web.firmware import offered_manifest
from picohub.web.heartbeat import Heartbeat, HeartbeatError, check_device_id, parse_heartbeat

blueprint = Blueprint("devices", __name__, url_prefix="/api/devices")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
    now = _utc_now()
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
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
    return jsonify(id=device_id, last_seen=now), 200


def _store(db: sqlite3.Connection, device_id: str, beat: Heartbeat, now: str) -> None:
    db.execute(
        """
        INSERT INTO devices (id, firmware_version, uptime_s, readings, first_seen, last_seen)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            firmware_version = excluded.firmware_version,
            uptime_s = excluded.uptime_s,
            readings = excluded.readings,
            last_seen = excluded.last_seen
        """,
        (device_id, beat.firmware_version, beat.uptime_s, json.dumps(beat.readings), now, now),
    )


@blueprint.delete("/<device_id>")
@admin_required
def remove_device(device_id: str) -> tuple[Response, int]:
    """Forget a board (its next heartbeat registers it again)."""
    try:
        check_device_id(device_id)
    except HeartbeatError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    removed = get_db().execute("DELETE FROM devices WHERE id = ?", (device_id,)).rowcount
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
    try:
        manifest = offered_manifest(settings)
    except PicohubError:
        manifest = None  # a broken manifest is reported by /api/firmware, not here
    offered = manifest.firmware_version if manifest else None
    rows = get_db().execute("SELECT * FROM devices ORDER BY id").fetchall()
    devices = [
        {
            "id": row["id"],
            "firmware_version": row["firmware_version"],
            "uptime_s": row["uptime_s"],
            "readings": json.loads(row["readings"]),
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
            "behind": _behind(row["firmware_version"], offered),
        }
        for row in rows
    ]
    return jsonify(devices=devices, offered_firmware=offered), 200
