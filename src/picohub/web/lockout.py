"""Wrong administrator passwords slow the guesser down: per client address, and for all
addresses together.

Counted in the database (table ``login_failures``), so gunicorn's workers and a restarted
app share the count. After ``FREE_ATTEMPTS`` failures from one address, each further
attempt from it must wait ``2 ** (failures - FREE_ATTEMPTS)`` seconds after the last
failure (1 s, 2 s, 4 s, ... at most ``MAX_DELAY_S``, 15 minutes); after
``GLOBAL_FREE_ATTEMPTS`` failures from anywhere the same curve holds for everyone, so many
addresses (IPv6 gives a LAN plenty) guess no faster than one. A refused attempt is not
checked at all. An address's count is cleared by a success and forgotten, like the global
one, after ``FORGET_AFTER_S`` without a failure. The global limit can delay the real
administrator while someone guesses: by at most ``MAX_DELAY_S`` at a time.

An attempt counts as a failure before the password is checked (and is taken back on
success), so parallel requests cannot slip past the limit together.
"""

from __future__ import annotations

import sqlite3

from picohub.web.database import write_transaction

FREE_ATTEMPTS = 5
GLOBAL_FREE_ATTEMPTS = 20
MAX_DELAY_S = 15 * 60
FORGET_AFTER_S = 24 * 60 * 60
# The row that counts the failures of every address together.
EVERYONE = "*"


def delay(failures: int, free: int) -> float:
    """How long after the last failure the next attempt must wait."""
    if failures < free:
        return 0.0
    return float(min(2 ** min(failures - free, 32), MAX_DELAY_S))


def _stale(last_failure: float, now: float) -> bool:
    return now - last_failure > FORGET_AFTER_S


def _wait(row: sqlite3.Row | None, free: int, now: float) -> float:
    if row is None or _stale(row["last_failure"], now):
        return 0.0
    needed = delay(row["failures"], free)
    last: float = row["last_failure"]
    # A clock set back (a Pi without a real-time clock, before NTP) never makes the wait
    # longer than the delay itself.
    return max(0.0, min(last + needed - now, needed))


def _rows(db: sqlite3.Connection, client: str) -> dict[str, sqlite3.Row]:
    found = db.execute(
        "SELECT client, failures, last_failure FROM login_failures WHERE client IN (?, ?)",
        (client, EVERYONE),
    ).fetchall()
    return {row["client"]: row for row in found}


def _waits(rows: dict[str, sqlite3.Row], client: str, now: float) -> float:
    return max(
        _wait(rows.get(client), FREE_ATTEMPTS, now),
        _wait(rows.get(EVERYONE), GLOBAL_FREE_ATTEMPTS, now),
    )


def begin_attempt(db: sqlite3.Connection, client: str, now: float) -> float:
    """0 when ``client`` may try a password now (the attempt is then counted as a
    failure until :func:`succeeded`), otherwise the seconds it must wait."""
    with write_transaction(db):
        rows = _rows(db, client)
        wait = _waits(rows, client, now)
        if wait == 0:
            db.execute("DELETE FROM login_failures WHERE last_failure < ?", (now - FORGET_AFTER_S,))
            for key in (client, EVERYONE):
                row = rows.get(key)
                failures = 0 if row is None or _stale(row["last_failure"], now) else row["failures"]
                db.execute(
                    "INSERT OR REPLACE INTO login_failures (client, failures, last_failure) "
                    "VALUES (?, ?, ?)",
                    (key, failures + 1, now),
                )
    return wait


def next_wait(db: sqlite3.Connection, client: str, now: float) -> float:
    """How long ``client`` must wait before its next attempt (after a failure)."""
    return _waits(_rows(db, client), client, now)


def succeeded(db: sqlite3.Connection, client: str) -> None:
    """The password was right: clear the address's count and take back the attempt."""
    with write_transaction(db):
        db.execute("DELETE FROM login_failures WHERE client = ?", (client,))
        db.execute(
            "UPDATE login_failures SET failures = max(failures - 1, 0) WHERE client = ?",
            (EVERYONE,),
        )
