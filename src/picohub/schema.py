"""The hub database's schema: its migrations, the version this release knows, and the
version a database file has.

Flask-free on purpose: the updater (root) reads a database's version and opens it with
:func:`open_read_only`; the web app (``picohub.web.database``) runs the migrations.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from picohub.errors import PicohubError

log = logging.getLogger(__name__)

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
    # Firmware rollouts board by board (firmware/rollout.py, web/rollout.py): what a
    # board's heartbeat says of its A/B slot and its last OTA attempt; each image's
    # rollout (the latest generation is the current one); each board's state with an
    # image ('reverted' is kept for good: that board is never offered that image again).
    """
    ALTER TABLE devices ADD COLUMN slot TEXT;
    ALTER TABLE devices ADD COLUMN boot_type TEXT;
    ALTER TABLE devices ADD COLUMN bought INTEGER;
    ALTER TABLE devices ADD COLUMN ota TEXT;
    CREATE TABLE firmware_rollouts (
        sha256 TEXT PRIMARY KEY,
        generation INTEGER NOT NULL UNIQUE,
        firmware_version TEXT NOT NULL,
        started TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('canary', 'rolling', 'halted')),
        canaries TEXT NOT NULL,
        halted_by TEXT,
        halted_reason TEXT
    );
    CREATE TABLE board_ota (
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL REFERENCES firmware_rollouts (sha256) ON DELETE CASCADE,
        state TEXT NOT NULL CHECK (
            state IN ('pending', 'downloading', 'trying', 'bought', 'reverted', 'failed')
        ),
        healthy_heartbeats INTEGER NOT NULL,
        reason TEXT,
        updated TEXT NOT NULL,
        PRIMARY KEY (device_id, sha256)
    );
    CREATE INDEX board_ota_by_image ON board_ota (sha256);
    """,
)

# The schema version (``PRAGMA user_version``) of a database this release has migrated.
SCHEMA_VERSION = len(MIGRATIONS)

# The files SQLite keeps beside a database in WAL mode.
COMPANION_SUFFIXES = ("-wal", "-shm")


def user_version(connection: sqlite3.Connection) -> int:
    """The schema version of the connection's database: how many migrations have run."""
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def refuse_newer(path: Path, version: int) -> None:
    """Raise when ``version`` is newer than this release knows (after a rollback)."""
    if version <= SCHEMA_VERSION:
        return
    raise PicohubError(
        f"the database {path} has schema version {version}, newer than this release of "
        f"picohub knows ({SCHEMA_VERSION}): a newer release wrote it",
        hint="when the updater rolls an update back, it puts back the snapshot of the "
        "database it took before; otherwise install the newer release again: "
        f"sudo picohub-update apply, or restore a backup of {path}",
    )


def companions(path: Path) -> tuple[Path, ...]:
    """The ``-wal`` and ``-shm`` files SQLite may keep beside ``path``."""
    return tuple(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)


def give_companions_owner(path: Path, owner: tuple[int, int]) -> None:
    """Give the ``-wal`` and ``-shm`` files beside ``path`` the ``owner`` (uid, gid).

    Root opening the app's database may create them; owned by root, they would keep the
    app (user picohub) from opening its database. SQLite's unix VFS already does this for
    a process running as root; this makes sure of it.
    """
    for companion in companions(path):
        try:
            found = companion.lstat()
        except FileNotFoundError:
            continue
        if (found.st_uid, found.st_gid) == owner:
            continue
        try:
            os.chown(companion, *owner, follow_symlinks=False)
        except OSError as exc:
            log.warning("cannot give %s the owner %d:%d: %s", companion, *owner, exc.strerror)


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path``, which must exist.

    A database in WAL mode is read through its ``-wal`` and ``-shm`` files, which SQLite
    creates when they are missing; once the connection is closed they are given the
    database's owner. A symbolic link is refused: root must not be led to read another
    file as if it were the app's database.
    """
    try:
        found = path.lstat()
    except OSError as exc:
        raise PicohubError(f"cannot open the database {path}: {exc.strerror}") from exc
    if path.is_symlink() or not path.is_file():
        raise PicohubError(f"the database {path} is not a regular file")
    owner = (found.st_uid, found.st_gid)
    uri = f"{path.absolute().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)) as db:
            yield db
    except sqlite3.Error as exc:
        raise PicohubError(f"cannot read the database {path}: {exc}") from exc
    finally:
        give_companions_owner(path, owner)


def schema_version(path: Path) -> int | None:
    """The schema version of the database at ``path``; None when there is no such file."""
    if not path.exists() and not path.is_symlink():
        return None
    with open_read_only(path) as connection:
        return user_version(connection)
