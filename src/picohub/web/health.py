"""``/healthz``: whether the app can serve, and which packaged version is running."""

from __future__ import annotations

import sqlite3

from flask import Blueprint, Response, current_app, jsonify

from picohub.web.database import get_db

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    version = current_app.config["PICOHUB_VERSION"]
    try:
        get_db().execute("SELECT count(*) FROM devices").fetchone()
    except sqlite3.Error as exc:
        return jsonify(status="error", version=version, message=f"database: {exc}"), 503
    return jsonify(status="ok", version=version), 200
