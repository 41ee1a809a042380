"""Writing a small file atomically: a reader sees the old content or the new, never half.

The one way picohub replaces its status, credential and key files: a temporary file in the
same folder, written, given its mode and owner, fsync'ed, renamed over the target, then
the folder fsync'ed so the rename survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, text: str, mode: int = 0o644, *, owner: tuple[int, int] | None = None
) -> None:
    """Replace ``path`` with ``text``, with ``mode`` and, when given, ``owner`` (uid, gid).

    Mode and owner are set on the open file, never through its name: root writes into
    folders another user owns (the app's state folder), where that user could put a
    symbolic link in place of the temporary name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            if owner is not None:
                os.fchown(stream.fileno(), *owner)
            os.fsync(stream.fileno())
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


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


def fsync_file(path: Path) -> None:
    """Make ``path``'s bytes durable before it is renamed into place."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
