"""The hub's SQLite database under the state directory, created and migrated on start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask, current_app, g

from picohub.errors import PicohubError
from picohub.settings import Settings

# Each entry migrates the schema from version i to i + 1. Append only: a device that
# upgrades runs the ones it has not run yet; data is never dropped.
MIGRATIONS = (
    """
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        firmware_version TEXT NOT NULL,
        uptime_s INTEGER,
        readings TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    """,
    # Wrong administrator passwords, per client address and '*' for all (web/lockout.py).
    """
    CREATE TABLE login_failures (
        client TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure REAL NOT NULL
    );
    """,
    # Open administrator sessions; a logout deletes its row (web/admin_sessions.py).
    """
    CREATE TABLE admin_sessions (
        id TEXT PRIMARY KEY,
        opened REAL NOT NULL
    );
    """,
)


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def migrate(path: Path) -> int:
    """Create or bring the database up to the current schema; return its version."""
    if not path.parent.is_dir():
        raise PicohubError(
            f"state directory {path.parent} does not exist",
            hint="picohub.service creates it (StateDirectory=); set PICOHUB_STATE_DIR elsewhere",
        )
    connection = connect(path)
    try:
        # WAL lets the health check and readers run while a heartbeat writes.
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
        return len(MIGRATIONS)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use and closed when the request ends."""
    if "db" not in g:
        settings: Settings = current_app.config["PICOHUB_SETTINGS"]
        g.db = connect(settings.database)
    connection: sqlite3.Connection = g.db
    return connection


def _close_db(_exc: BaseException | None) -> None:
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    settings: Settings = app.config["PICOHUB_SETTINGS"]
    migrate(settings.database)
    app.teardown_appcontext(_close_db)
