"""The server's record of open administrator sessions."""

from __future__ import annotations

from pathlib import Path

from picohub.web.admin_sessions import close_session, is_open, open_session
from picohub.web.database import connect, migrate

LIFETIME_S = 12 * 3600


def test_sessions_are_recorded_until_closed(tmp_path: Path) -> None:
    migrate(tmp_path / "hub.db")
    db = connect(tmp_path / "hub.db")
    first = open_session(db, 1000.0, LIFETIME_S)
    second = open_session(db, 1001.0, LIFETIME_S)
    assert first != second and is_open(db, first) and is_open(db, second)
    close_session(db, first)
    assert not is_open(db, first) and is_open(db, second)
    assert not is_open(db, "never-opened")


def test_a_login_forgets_sessions_past_their_lifetime(tmp_path: Path) -> None:
    migrate(tmp_path / "hub.db")
    db = connect(tmp_path / "hub.db")
    old = open_session(db, 1000.0, LIFETIME_S)
    young = open_session(db, 1000.0 + LIFETIME_S - 1, LIFETIME_S)
    open_session(db, 1000.0 + LIFETIME_S, LIFETIME_S)
    assert not is_open(db, old)
    assert is_open(db, young)
    rows = db.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0]
    assert rows == 2
