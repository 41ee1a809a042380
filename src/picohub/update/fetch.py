"""``fetch``: download a release's changed packages into the cache, verified, nothing
installed. The cache keeps the fetched release and the installed one (for rollback)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from picohub.errors import PicohubError
from picohub.installed import installed_version
from picohub.repository import INRELEASE, RepositoryError, safe_filename
from picohub.settings import PACKAGE, Settings
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.check import CheckResult
from picohub.update.download import fetch_file
from picohub.update.http import Limits

log = logging.getLogger(__name__)

# Room for dpkg to unpack beside the download, and for the filesystem not to run full.
FREE_SPACE_FACTOR = 3
FREE_SPACE_MARGIN = 64 * 1024 * 1024


def check_free_space(directory: Path, needed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    wanted = needed * FREE_SPACE_FACTOR + FREE_SPACE_MARGIN
    if free < wanted:
        raise PicohubError(
            f"not enough free space in {directory}: {free // 2**20} MiB free, "
            f"{wanted // 2**20} MiB needed to download and unpack {needed // 2**20} MiB",
            hint="free some space (apt clean, old logs) and try again; nothing was changed",
        )


def fetch(
    result: CheckResult,
    settings: Settings,
    session: requests.Session,
    packages: Sequence[str] | None = None,
    keep: Sequence[str] = (),
    max_bytes: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Fetched:
    """Download ``packages`` (default: those ``result`` says change) of the release, each
    checked against the signed index; ``progress`` hears the fraction of bytes done."""
    cache = ReleaseCache(settings)
    target = cache.release_dir(result.version)
    entries = {entry.package: entry for entry in result.packages}
    names = [change.package for change in result.changes] if packages is None else packages
    missing_names = [name for name in names if name not in entries]
    if missing_names:
        raise RepositoryError(f"release {result.version} has no package {', '.join(missing_names)}")
    wanted = [entries[name] for name in names]
    too_big = [e for e in wanted if max_bytes is not None and e.size > max_bytes]
    if too_big:
        raise RepositoryError(
            f"{too_big[0].filename} has {too_big[0].size} bytes, more than the "
            f"{max_bytes} max_download_bytes allows",
            hint="raise max_download_bytes in /etc/picohub/update.conf if that is expected",
        )
    missing = sum(e.size for e in wanted if not (target / safe_filename(e.filename)).exists())
    check_free_space(target, missing)
    for name in (INRELEASE, *result.index_files):  # the verified index goes with them
        shutil.copyfile(result.index_dir / name, target / name)
    debs = []
    downloaded = 0
    total = sum(entry.size for entry in wanted) or 1
    done = 0
    for entry in wanted:
        path = target / safe_filename(entry.filename)
        existed = path.exists()
        before = done
        on_bytes = None if progress is None else (lambda n, b=before: progress((b + n) / total))
        log.info("fetching %s %s (%d bytes)", entry.package, entry.version, entry.size)
        debs.append(
            fetch_file(
                session,
                result.base_url + entry.filename,
                path,
                size=entry.size,
                sha256=entry.sha256,
                limits=Limits(max_bytes=entry.size),
                progress=on_bytes,
            )
        )
        log.info(
            "verified %s %s: size and SHA-256 as the signed index says",
            entry.package,
            entry.version,
        )
        done += entry.size
        if progress is not None:
            progress(done / total)
        downloaded += 0 if existed else entry.size
    prune(settings, keep={result.version, *keep})
    return Fetched(result.version, target, tuple(debs), downloaded)


def prune(settings: Settings, keep: set[str]) -> None:
    """Drop cached releases other than ``keep`` and the installed one (kept for rollback)."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    ReleaseCache(settings).prune(keep | ({installed} if installed else set()))
