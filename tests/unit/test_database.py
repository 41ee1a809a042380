"""The database's schema: migrate() brings it up to date, refuses one a newer release wrote."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from picohub.settings import Settings
from picohub.web import create_app
from picohub.web.database import connect, migrate


def newer_database(path: Path, *, journal_mode: str) -> bytes:
    """A database as a newer release leaves it: one migration more, a row in it."""
    migrate(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(f"PRAGMA journal_mode = {journal_mode}")
        db.execute("CREATE TABLE groups (id TEXT PRIMARY KEY)")
        db.execute("INSERT INTO groups VALUES ('kitchen')")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    return path.read_bytes()


def test_schema_version_is_the_number_of_migrations() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"

    assert migrate(path) == SCHEMA_VERSION
    assert schema_version(path) == SCHEMA_VERSION
    with closing(connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrate_an_up_to_date_database_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    migrate(path)
    with closing(connect(path)) as db:
        db.execute("INSERT INTO admin_sessions VALUES ('s1', 1.0)")

    assert migrate(path) == SCHEMA_VERSION
    with closing(connect(path)) as db:
        assert [row["id"] for row in db.execute("SELECT id FROM admin_sessions")] == ["s1"]


def test_migrate_runs_only_the_migrations_not_run_yet(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO devices VALUES ('pico-1', '1.0', 5, '{}', 'a', 'b')")
        db.execute("PRAGMA user_version = 1")

    assert migrate(path) == SCHEMA_VERSION
    assert schema_version(path) == SCHEMA_VERSION
    with closing(connect(path)) as db:
        assert [row["id"] for row in db.execute("SELECT id FROM devices")] == ["pico-1"]
        assert db.execute("SELECT count(*) FROM admin_sessions").fetchone()[0] == 0


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_migrate_refuses_a_newer_schema_and_changes_nothing(
    tmp_path: Path, journal_mode: str
) -> None:
    path = tmp_path / "hub.db"
    before = newer_database(path, journal_mode=journal_mode)

    with pytest.raises(PicohubError) as raised:
        migrate(path)

    error = raised.value
    assert error.message == (
        f"the database {path} has schema version {SCHEMA_VERSION + 1}, newer than this "
        f"release of picohub knows ({SCHEMA_VERSION}): a newer release wrote it"
    )
    assert error.hint is not None
    assert "snapshot" in error.hint
    assert "sudo picohub-update apply" in error.hint
    assert path.read_bytes() == before
    assert schema_version(path) == SCHEMA_VERSION + 1


def test_the_app_does_not_start_on_a_newer_schema(settings: Settings) -> None:
    before = newer_database(settings.database, journal_mode="wal")

    with pytest.raises(PicohubError, match=f"schema version {SCHEMA_VERSION + 1}"):
        create_app(settings)

    assert settings.database.read_bytes() == before


def test_schema_version_of_no_database_is_none(tmp_path: Path) -> None:
    assert schema_version(tmp_path / "none.db") is None
    assert not (tmp_path / "none.db").exists()


def test_schema_version_of_an_empty_file_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.touch()

    assert schema_version(path) == 0


def test_schema_version_of_a_file_that_is_no_database(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.write_bytes(b"not a database, " * 512)

    with pytest.raises(PicohubError, match=f"cannot read the database {path}"):
        schema_version(path)


def test_schema_version_refuses_a_symbolic_link(tmp_path: Path) -> None:
    migrate(tmp_path / "elsewhere.db")
    (tmp_path / "hub.db").symlink_to(tmp_path / "elsewhere.db")

    with pytest.raises(PicohubError, match="is not a regular file"):
        schema_version(tmp_path / "hub.db")
