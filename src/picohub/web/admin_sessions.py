"""The administrator's open sessions, recorded on the server (table ``admin_sessions``).

The session cookie is signed, so the hub could trust it alone; but then a cookie copied
off the LAN (plain HTTP) would stay good after its owner logged out. Each login records a
random session id here and puts it in the cookie; a session counts only while its row
exists, and logging out deletes the row. Rows of sessions past their lifetime are pruned
at each login. The database is shared by gunicorn's workers and survives restarts.
"""

from __future__ import annotations

import secrets
import sqlite3

ID_BYTES = 32


def open_session(db: sqlite3.Connection, now: float, lifetime_s: float) -> str:
    """Record a new session opened at ``now``; return its id."""
    session_id = secrets.token_urlsafe(ID_BYTES)
    with db:
        db.execute("DELETE FROM admin_sessions WHERE opened <= ?", (now - lifetime_s,))
        db.execute("INSERT INTO admin_sessions (id, opened) VALUES (?, ?)", (session_id, now))
    return session_id


def is_open(db: sqlite3.Connection, session_id: str) -> bool:
    row = db.execute("SELECT 1 FROM admin_sessions WHERE id = ?", (session_id,)).fetchone()
    return row is not None


def close_session(db: sqlite3.Connection, session_id: str) -> None:
    with db:
        db.execute("DELETE FROM admin_sessions WHERE id = ?", (session_id,))
