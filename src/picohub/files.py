"""Replacing a file atomically: a reader sees the old content or the new, never half.

The one way picohub puts a file in place (status, credential and key files, downloads,
uploads, bundles): a temporary file in the same folder, written, given its mode and owner,
fsync'ed, renamed over the target (or linked into place where an existing file must not be
replaced), then the folder fsync'ed so the new name survives a power cut.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomically(
    path: Path, text: str, mode: int = 0o644, *, owner: tuple[int, int] | None = None
) -> None:
    """Replace ``path`` with ``text``, with ``mode`` and, when given, ``owner`` (uid, gid);
    the folder is made when it is missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, mode=mode, owner=owner) as stream:
        stream.write(text.encode("utf-8"))


@contextmanager
def atomic_file(
    path: Path,
    *,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    overwrite: bool = True,
    prefix: str | None = None,
    suffix: str = "",
    durable: bool = True,
) -> Iterator[BinaryIO]:
    """A binary stream on a temporary file beside ``path`` that becomes ``path`` when the
    ``with`` block ends normally; on an exception the temporary file is removed and
    ``path`` is left as it was.

    Mode and owner (uid, gid) are set on the open file, never through its name: root
    writes into folders another user owns (the app's state folder), where that user could
    put a symbolic link in place of the temporary name.

    ``overwrite=False``: ``path`` is never replaced; the file is hard-linked into place,
    FileExistsError when ``path`` exists (even as a dangling symbolic link). On a file
    system without hard links (a FAT USB stick) it is checked, then renamed: a file that
    appears between the two is replaced.

    The temporary name is ``prefix`` (by default ``.NAME.``), random letters, ``suffix``.
    ``durable=False`` leaves the bytes and the rename to the kernel's writeback (a scratch
    file read once and deleted): no fsync.
    """
    handle, name = tempfile.mkstemp(
        prefix=f".{path.name}." if prefix is None else prefix, suffix=suffix, dir=path.parent
    )
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            if owner is not None:
                os.fchown(stream.fileno(), *owner)
            if durable:
                os.fsync(stream.fileno())
        if overwrite:
            temporary.replace(path)
        else:
            _link_into_place(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)


def rename_into_place(source: Path, target: Path) -> None:
    """Rename the complete file ``source`` over ``target`` (in the same folder) durably:
    its bytes reach the disk before the rename, the rename before this returns."""
    with source.open("rb") as stream:
        os.fsync(stream.fileno())
    source.replace(target)
    fsync_directory(target.parent)


def _link_into_place(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links (a FAT USB stick): check, then rename
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        temporary.rename(path)
    else:
        temporary.unlink()


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` durable (best effort)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def flock_within(path: Path, wait_s: float, poll_s: float = 0.2) -> Iterator[bool]:
    """Hold an exclusive flock on ``path`` (made 0600 if missing), waiting up to
    ``wait_s`` for another holder; yields whether it was had. Released on leaving."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(poll_s)  # flock offers no wait with a deadline
        yield True
    finally:
        os.close(handle)  # releases the lock
