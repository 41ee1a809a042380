"""The database snapshot the updater takes before an update and restores on going back,
on real SQLite files: another connection writing in WAL mode, a process that died with
its rows only in the -wal, damaged snapshots."""

from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub.schema import schema_version
from picohub.update.snapshot import Snapshot, remove_snapshot, restore_snapshot, take_snapshot

NOW = "2026-12-02T10:15:00Z"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="giving files another owner (as the updater does) needs root"
)

# A process that commits a row and dies before SQLite checkpoints: the row is only in the
# -wal, which SQLite would replay onto whatever file is called picohub.db next.
DIES_AFTER_COMMIT = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint = 0")
db.execute("INSERT INTO readings VALUES (?)", (int(sys.argv[2]),))
os._exit(0)
"""


def make_database(path: Path, values: list[int], *, schema: int) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE readings (value INTEGER)")
        db.executemany("INSERT INTO readings VALUES (?)", [(value,) for value in values])
        db.execute(f"PRAGMA user_version = {schema}")


def migrate_newer(path: Path, values: list[int], *, schema: int) -> None:
    """What a newer release does to the database: a table more, more rows."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE groups (id TEXT)")
        db.executemany("INSERT INTO readings VALUES (?)", [(value,) for value in values])
        db.execute(f"PRAGMA user_version = {schema}")


def values(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT value FROM readings ORDER BY value")]


def tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_schema ORDER BY name")]


def wal_and_shm(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def nobody() -> tuple[int, int]:
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


@pytest.fixture
def database(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "picohub.db"
    make_database(path, [1, 2], schema=3)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "snapshots" / "txn-1.db"


@pytest.fixture
def writer(database: Path) -> Iterator[sqlite3.Connection]:
    """The app, writing: rows committed but not checkpointed, and a write transaction open."""
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("INSERT INTO readings VALUES (3)")
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO readings VALUES (4)")
        yield db
        db.execute("ROLLBACK")


def test_snapshot_has_the_rows_committed_only_in_the_wal(
    database: Path, target: Path, writer: sqlite3.Connection, tmp_path: Path
) -> None:
    # A copy of the file alone misses the committed row the -wal holds.
    shutil.copyfile(database, tmp_path / "file-copy.db")
    assert values(tmp_path / "file-copy.db") == [1, 2]

    snapshot = take_snapshot(database, target)

    assert snapshot is not None
    assert snapshot.path == target.absolute()
    assert snapshot.schema == 3
    assert values(target) == [1, 2, 3]  # committed rows, not the open transaction's
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in target.parent.iterdir()] == [target.name]
    # The writer was not disturbed.
    writer.execute("COMMIT")
    writer.execute("BEGIN")
    assert values(database) == [1, 2, 3, 4]


def test_snapshot_of_no_database_is_none(tmp_path: Path, target: Path) -> None:
    assert take_snapshot(tmp_path / "none.db", target) is None
    assert not target.exists()


def test_snapshot_replaces_the_last_one(database: Path, target: Path) -> None:
    take_snapshot(database, target)
    migrate_newer(database, [5], schema=4)

    snapshot = take_snapshot(database, target)

    assert snapshot is not None
    assert snapshot.schema == 4
    assert values(target) == [1, 2, 5]
    assert [path.name for path in target.parent.iterdir()] == [target.name]


def test_snapshot_refuses_a_symbolic_link(tmp_path: Path, target: Path) -> None:
    make_database(tmp_path / "elsewhere.db", [1], schema=1)
    (tmp_path / "picohub.db").symlink_to(tmp_path / "elsewhere.db")

    with pytest.raises(PicohubError, match="is not a regular file"):
        take_snapshot(tmp_path / "picohub.db", target)
    assert not target.exists()


@needs_root
def test_snapshot_leaves_the_wal_and_shm_to_the_database_owner(
    database: Path, target: Path
) -> None:
    owner = nobody()
    os.chown(database, *owner)
    # Files root left behind: an SQLite that did not hand them over itself.
    for companion in wal_and_shm(database):
        companion.touch()
        os.chown(companion, 0, 0)

    take_snapshot(database, target)

    left = [path for path in wal_and_shm(database) if path.exists()]
    assert left  # a read-only connection leaves them (it may not delete them)
    assert {(path.stat().st_uid, path.stat().st_gid) for path in left} == {owner}
    assert (database.stat().st_uid, database.stat().st_gid) == owner


@needs_root
def test_snapshot_made_wal_and_shm_belong_to_the_database_owner(
    database: Path, target: Path
) -> None:
    owner = nobody()
    os.chown(database, *owner)
    assert not any(path.exists() for path in wal_and_shm(database))

    take_snapshot(database, target)

    left = [path for path in wal_and_shm(database) if path.exists()]
    assert left  # SQLite made them to read the database in WAL mode
    assert {(path.stat().st_uid, path.stat().st_gid) for path in left} == {owner}


def test_restore_brings_back_the_older_rows_and_keeps_the_newer_aside(
    database: Path, target: Path
) -> None:
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    migrate_newer(database, [3], schema=4)
    # The newer app died with a committed row only in its -wal.
    subprocess.run([sys.executable, "-c", DIES_AFTER_COMMIT, str(database), "9"], check=True)
    assert database.with_name("picohub.db-wal").stat().st_size > 0

    aside = restore_snapshot(snapshot, database, now=NOW)

    assert aside == database.with_name("picohub.db.schema4-20261202T101500Z")
    assert not any(path.exists() for path in wal_and_shm(database))
    assert schema_version(database) == 3
    assert values(database) == [1, 2]
    assert tables(database) == ["readings"]
    assert schema_version(aside) == 4
    assert values(aside) == [1, 2, 3, 9]
    assert tables(aside) == ["groups", "readings"]
    assert not [path for path in database.parent.iterdir() if path.name.startswith(".")]


def test_restore_twice_in_a_second_keeps_both(database: Path, target: Path) -> None:
    snapshot = take_snapshot(database, target)
    assert snapshot is not None

    first = restore_snapshot(snapshot, database, now=NOW)
    second = restore_snapshot(snapshot, database, now=NOW)

    assert first is not None
    assert second == first.with_name(f"{first.name}.1")
    assert first.exists()


def test_restore_without_a_database(database: Path, target: Path) -> None:
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    database.unlink()

    assert restore_snapshot(snapshot, database, now=NOW) is None
    assert values(database) == [1, 2]


@needs_root
def test_restore_gives_the_database_owner_and_mode(database: Path, target: Path) -> None:
    owner = nobody()
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    os.chown(database, *owner)
    database.chmod(0o640)

    aside = restore_snapshot(snapshot, database, now=NOW)

    assert aside is not None
    for path in (database, aside):
        found = path.stat()
        assert (found.st_uid, found.st_gid) == owner
        assert stat.S_IMODE(found.st_mode) == 0o640


def damage_a_page(path: Path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as stream:  # the table's b-tree page (page 2)
        stream.seek(page_size)
        stream.write(b"\x0d\x00\x05\xff\xff\x00\x00\x00" + b"\xa5" * 200)


def lose_an_index(path: Path) -> None:
    """Pages no table or index owns: SQLite reads the file, its integrity check fails."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE INDEX by_value ON readings (value)")
        db.execute("PRAGMA writable_schema = ON")
        db.execute("DELETE FROM sqlite_schema WHERE name = 'by_value'")
        db.execute("PRAGMA writable_schema = OFF")


def bigger_snapshot(database: Path, target: Path) -> Snapshot:
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.executemany("INSERT INTO readings VALUES (?)", [(n,) for n in range(10, 2000)])
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    return snapshot


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: path.write_bytes(b"\x00" * 4096), "not an SQLite database"),
        (lambda path: path.write_bytes(b""), "not an SQLite database"),
        (lambda path: path.write_bytes(path.read_bytes()[:5000]), "malformed"),
        (damage_a_page, "malformed"),
        (lose_an_index, "integrity check failed (Page "),
    ],
    ids=["zeros", "empty", "truncated", "damaged-page", "pages-never-used"],
)
def test_a_damaged_snapshot_is_refused_and_the_database_left_alone(
    database: Path, target: Path, damage: Callable[[Path], object], reason: str
) -> None:
    snapshot = bigger_snapshot(database, target)
    damage(target)
    before = sorted(database.parent.iterdir())
    content = database.read_bytes()

    with pytest.raises(PicohubError) as raised:
        restore_snapshot(snapshot, database, now=NOW)

    assert raised.value.message.startswith(
        f"the snapshot {target.absolute()} cannot be restored, {database} was left as it was"
    )
    assert reason in raised.value.message
    assert sorted(database.parent.iterdir()) == before
    assert database.read_bytes() == content


def test_a_snapshot_of_another_schema_than_recorded_is_refused(
    database: Path, target: Path
) -> None:
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    content = database.read_bytes()

    with pytest.raises(PicohubError, match="schema version 3, its record says 2"):
        restore_snapshot(Snapshot(snapshot.path, 2, snapshot.taken_at), database)
    assert database.read_bytes() == content


def test_a_missing_snapshot_is_refused(database: Path, tmp_path: Path) -> None:
    snapshot = Snapshot(tmp_path / "gone.db", 3, NOW)

    with pytest.raises(PicohubError, match=f"cannot read the snapshot {tmp_path / 'gone.db'}"):
        restore_snapshot(snapshot, database)
    assert values(database) == [1, 2]


def test_snapshot_round_trips_through_json() -> None:
    snapshot = Snapshot(Path("/var/cache/picohub/snapshots/t1.db"), 3, NOW)

    assert snapshot.to_json() == {
        "path": "/var/cache/picohub/snapshots/t1.db",
        "schema": 3,
        "taken_at": NOW,
    }
    assert Snapshot.from_json(snapshot.to_json()) == snapshot


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"path": "relative.db", "schema": 3, "taken_at": NOW},
        {"path": "/s.db", "schema": "3", "taken_at": NOW},
        {"path": "/s.db", "schema": True, "taken_at": NOW},
        {"path": "/s.db", "schema": -1, "taken_at": NOW},
        {"path": "/s.db", "schema": 3},
        {"path": "/s.db", "schema": 3, "taken_at": "yesterday"},
        {"path": "/s.db", "schema": 3, "taken_at": "2026-12-02T10:15:00+00:00"},
    ],
)
def test_snapshot_from_bad_json(data: object) -> None:
    with pytest.raises(ValueError, match=r"snapshot|time"):
        Snapshot.from_json(data)


def test_take_records_the_time_in_utc(database: Path, target: Path) -> None:
    snapshot = take_snapshot(database, target)

    assert snapshot is not None
    assert Snapshot.from_json(snapshot.to_json()) == snapshot


def test_remove_snapshot(database: Path, target: Path) -> None:
    snapshot = take_snapshot(database, target)
    assert snapshot is not None
    leftovers = [
        target.with_name(f"{target.name}-wal"),
        target.with_name(f".{target.name}.abc123"),  # a take cut off before its rename
    ]
    for leftover in leftovers:
        leftover.touch()

    assert remove_snapshot(snapshot) is True
    assert list(target.parent.iterdir()) == []
    assert remove_snapshot(target) is False
