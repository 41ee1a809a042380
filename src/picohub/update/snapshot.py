"""A consistent copy of the app's database, taken by the updater (root) before an update,
and put back when the updater goes back to the release that ran before it.

Every copy goes through SQLite's online backup API, never a file copy: the app (another
process, another user) may be writing in WAL mode meanwhile, and what it committed may
still be only in the ``-wal`` file. The backup reads one committed state into memory;
the bytes SQLite serialises from there are written through a file descriptor of our own
(a temporary file, its mode and owner set on the descriptor, fsync, rename, fsync of the
folder). Root never lets SQLite open by name a file it made in the app's state folder,
where the app's user could put a symbolic link in its place. The hub's database is small
(devices and sessions), so a copy in memory costs little.

One snapshot per transaction: the updater takes it into a folder of its own before dpkg
runs, records the :class:`Snapshot` (:meth:`Snapshot.to_json`) with the transaction, and
removes it (:func:`remove_snapshot`, which also takes what a cut-off take left) when the
next transaction takes its own. :func:`picohub.schema.schema_version` tells whether the
database moved on since a snapshot was taken.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from picohub.errors import PicohubError
from picohub.files import atomic_file
from picohub.schema import companions, open_read_only, user_version
from picohub.update.status import now as utc_now

log = logging.getLogger(__name__)

# A database that never existed is put back with the mode the app gives its own (UMask).
NEW_DATABASE_MODE = 0o640
_TIME = "%Y-%m-%dT%H:%M:%SZ"  # as Status.updated_at: 2026-12-02T10:15:00Z
_STAMP = "%Y%m%dT%H%M%SZ"  # in a file name: 20261202T101500Z
_HEADER = b"SQLite format 3\x00"
# Header bytes 18 and 19, the file format's write and read versions: 1 with a rollback
# journal, 2 in WAL mode (https://sqlite.org/fileformat2.html, "File format version numbers").
_WAL_MARK = b"\x02\x02"
_ROLLBACK_MARK = b"\x01\x01"


@dataclass(frozen=True)
class Snapshot:
    """A copy of the database, the schema version it has, and when it was taken."""

    path: Path
    schema: int
    taken_at: str

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "schema": self.schema, "taken_at": self.taken_at}

    @classmethod
    def from_json(cls, data: object) -> Snapshot:
        """The snapshot ``to_json`` described; ValueError when ``data`` is not one."""
        if not isinstance(data, dict):
            raise ValueError(f"a snapshot is a JSON object, not {data!r}")
        path, schema, taken_at = data.get("path"), data.get("schema"), data.get("taken_at")
        if not isinstance(path, str) or not Path(path).is_absolute():
            raise ValueError(f"a snapshot's path is an absolute path, not {path!r}")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 0:
            raise ValueError(f"a snapshot's schema is a version number, not {schema!r}")
        if not isinstance(taken_at, str):
            raise ValueError(f"a snapshot's taken_at is a time, not {taken_at!r}")
        _parse_time(taken_at)
        return cls(Path(path), schema, taken_at)


def take_snapshot(database: Path, target: Path) -> Snapshot | None:
    """Copy ``database`` to ``target`` (root's, mode 0600), replacing it atomically; None
    when there is no database yet. The app may go on reading and writing meanwhile."""
    if not database.exists() and not database.is_symlink():
        return None
    taken_at = utc_now()
    data, schema = _read_live(database)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_temporaries(target)  # of a take cut off before its rename
    except OSError as exc:
        raise PicohubError(f"cannot write the snapshot {target}: {exc.strerror}") from exc
    _replace(target, data, mode=0o600, owner=None, what="the snapshot")
    log.info("took a snapshot of %s (schema version %d) in %s", database, schema, target)
    return Snapshot(target.absolute(), schema, taken_at)


def restore_snapshot(snapshot: Snapshot, database: Path, *, now: str | None = None) -> Path | None:
    """Put the snapshot's content in place of ``database``; return where the database it
    replaced was kept (``picohub.db.schema4-20261202T101500Z`` beside it, a consistent
    copy with the database's owner and mode), or None when there was no database.

    The caller must have stopped the app (picohub.service): a process holding the old
    database open would go on writing to the file that is no longer there, or into a
    ``-wal`` this removes. The snapshot is checked first (``PRAGMA integrity_check``, its
    schema version against the record); one that fails is refused and nothing is changed.
    The restored file gets the database's owner and mode; its ``-wal``, ``-shm`` and
    ``-journal`` are removed before the rename, since SQLite would replay them onto it.
    """
    stamp = _parse_time(now or utc_now()).strftime(_STAMP)
    data = _read_snapshot(snapshot, database)
    aside: Path | None = None
    if database.exists() or database.is_symlink():
        found = database.lstat()
        owner, mode = (found.st_uid, found.st_gid), stat.S_IMODE(found.st_mode)
        current, schema = _read_live(database)
        aside = _free_name(database.with_name(f"{database.name}.schema{schema}-{stamp}"))
        _replace(aside, current, mode=mode, owner=owner, what="the copy of the database")
        log.info("kept the database %s (schema version %d) as %s", database, schema, aside)
    else:
        folder = database.parent.stat()
        owner, mode = (folder.st_uid, folder.st_gid), NEW_DATABASE_MODE
    stale = (*companions(database), database.with_name(database.name + "-journal"))
    _replace(database, data, mode=mode, owner=owner, what="the database", remove_first=stale)
    log.info(
        "restored %s to the snapshot of %s (schema version %d)",
        database,
        snapshot.taken_at,
        snapshot.schema,
    )
    return aside


def remove_snapshot(snapshot: Snapshot | Path) -> bool:
    """Remove a snapshot (or whatever is left at a snapshot's path: a stale one no
    transaction refers to), the files SQLite may have left beside it and the temporary
    files of a take cut off; return whether there was a snapshot."""
    path = snapshot.path if isinstance(snapshot, Snapshot) else snapshot
    existed = path.exists()
    try:
        for leftover in (path, *companions(path), path.with_name(path.name + "-journal")):
            leftover.unlink(missing_ok=True)
        _remove_temporaries(path)
    except OSError as exc:
        raise PicohubError(f"cannot remove the snapshot {path}: {exc.strerror}") from exc
    return existed


def _read_live(database: Path) -> tuple[bytes, int]:
    """A consistent copy of the live database's bytes, and its schema version."""
    with open_read_only(database) as live, closing(sqlite3.connect(":memory:")) as copy:
        live.backup(copy)
        schema = user_version(copy)
        data = copy.serialize()
    return _without_wal_mark(data), schema


def _read_snapshot(snapshot: Snapshot, database: Path) -> bytes:
    """The snapshot's bytes, once SQLite found them whole and of the schema recorded."""
    try:
        data = snapshot.path.read_bytes()
    except OSError as exc:
        raise PicohubError(f"cannot read the snapshot {snapshot.path}: {exc.strerror}") from exc
    refused = f"the snapshot {snapshot.path} cannot be restored, {database} was left as it was"
    if not data.startswith(_HEADER):
        raise PicohubError(f"{refused}: it is not an SQLite database")
    with closing(sqlite3.connect(":memory:")) as copy:
        try:
            copy.deserialize(_without_wal_mark(data))
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            schema = user_version(copy)
        except sqlite3.Error as exc:
            raise PicohubError(f"{refused}: {exc}") from exc
        if problems != ["ok"]:
            found = [
                line
                for problem in problems
                for line in str(problem).splitlines()
                if line and not line.startswith("***")  # "*** in database main ***"
            ]
            more = "; ..." if len(found) > 3 else ""
            raise PicohubError(
                f"{refused}: SQLite's integrity check failed ({'; '.join(found[:3])}{more})"
            )
        if schema != snapshot.schema:
            raise PicohubError(
                f"{refused}: it has schema version {schema}, its record says {snapshot.schema}"
            )
        checked: bytes = copy.serialize()
    return checked


def _without_wal_mark(data: bytes) -> bytes:
    """The bytes marked for a rollback journal rather than WAL, as SQLite's own switch
    (``PRAGMA journal_mode = DELETE``) does. A copy has no ``-wal``: so marked, SQLite
    opens it without one, in memory too. The app turns WAL on again when it starts."""
    if data[18:20] == _WAL_MARK:
        return data[:18] + _ROLLBACK_MARK + data[20:]
    return data


def _replace(
    path: Path,
    data: bytes,
    *,
    mode: int,
    owner: tuple[int, int] | None,
    what: str,
    remove_first: Sequence[Path] = (),
) -> None:
    """Write ``data`` to ``path`` atomically (:func:`picohub.files.atomic_file`), with
    ``remove_first`` removed just before the new file takes its place."""
    try:
        with atomic_file(path, mode=mode, owner=owner) as stream:
            stream.write(data)
            for stale in remove_first:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        raise PicohubError(f"cannot write {what} {path}: {exc.strerror}") from exc


def _remove_temporaries(path: Path) -> None:
    """Remove the temporary files :func:`_replace` may have left for ``path``."""
    for leftover in path.parent.glob(f".{path.name}.*"):
        leftover.unlink(missing_ok=True)


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``... when a restore in the same second took it."""
    candidate, number = path, 0
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


def _parse_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, _TIME)
    except ValueError:
        raise ValueError(f"a time is written as 2026-12-02T10:15:00Z, not {text!r}") from None
