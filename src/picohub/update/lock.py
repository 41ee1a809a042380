"""One updater at a time on the cache: ``check``, ``fetch``, ``bundle``, ``apply``,
``rollback`` and ``recover`` each hold an exclusive lock on it while they run, so a check
from the web never rewrites an index an update is reading, nor prunes its packages."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from picohub.errors import UsageError
from picohub.settings import Settings


class CacheBusy(UsageError):
    """Another updater holds the cache's lock."""


@contextmanager
def cache_lock(settings: Settings, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the cache's lock; wait up to ``wait_s`` for another holder to finish."""
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    handle = os.open(settings.cache_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CacheBusy(
                        "another picohub-update (an update, a check or a fetch) is using "
                        f"the cache {settings.cache_dir}",
                        hint="wait for it to finish: picohub-update status",
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(handle)  # releases the lock
