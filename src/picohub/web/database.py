"""The hub's SQLite database under the state directory, created and migrated on start."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g

from picohub.errors import PicohubError

# The schema lives in picohub.schema, which the updater imports without Flask; still
# importable from here, hence the explicit re-exports mypy wants.
from picohub.schema import MIGRATIONS as MIGRATIONS  # noqa: PLC0414
from picohub.schema import SCHEMA_VERSION as SCHEMA_VERSION  # noqa: PLC0414
from picohub.schema import refuse_newer, user_version
from picohub.settings import Settings


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock first, so what is read inside stays true until
    the write), committed on leaving, rolled back when anything is raised."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def migrate(path: Path) -> int:
    """Create or bring the database up to the current schema; return its version.

    A database a newer release wrote (after a rollback) is refused with a PicohubError
    before anything in it is changed: this release cannot know what its tables mean.
    """
    if not path.parent.is_dir():
        raise PicohubError(
            f"state directory {path.parent} does not exist",
            hint="picohub.service creates it (StateDirectory=); set PICOHUB_STATE_DIR elsewhere",
        )
    connection = connect(path)
    try:
        # Before the first write: even the switch to WAL changes the file's header.
        refuse_newer(path, user_version(connection))
        # WAL lets the health check and readers run while a heartbeat writes.
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        version = user_version(connection)
        refuse_newer(path, version)  # a newer release's process may have come in between
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
        return SCHEMA_VERSION
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
