"""Download a published repository the way a device reads it, for ``verify URL``.

``InRelease`` is fetched and verified first; after that only the files the signed index
names are fetched, each with no more bytes than the index gives for it.
"""

from __future__ import annotations

from pathlib import Path

import requests

from picohub.repository import (
    INRELEASE,
    PACKAGES,
    RepositoryError,
    check_file,
    read_packages,
    read_release,
    safe_filename,
    verify_signed_text,
)

MAX_INRELEASE_BYTES = 1 << 20
TIMEOUT = (10, 60)


def _fetch(session: requests.Session, url: str, target: Path, limit: int) -> None:
    with session.get(url, stream=True, timeout=TIMEOUT) as answer:
        if answer.status_code != 200:
            raise RepositoryError(f"GET {url} answered {answer.status_code}")
        received = 0
        with target.open("wb") as handle:
            for chunk in answer.iter_content(1 << 16):
                received += len(chunk)
                if received > limit:
                    raise RepositoryError(f"{url} sends more than the {limit} bytes expected")
                handle.write(chunk)


def download_repository(base_url: str, directory: Path, keyring: Path) -> None:
    """Fetch the repository at ``base_url`` (a release's download folder) into ``directory``."""
    base = base_url.rstrip("/") + "/"
    directory.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        session.headers["User-Agent"] = "picohub-release"
        _fetch(session, base + INRELEASE, directory / INRELEASE, MAX_INRELEASE_BYTES)
        fingerprint, text = verify_signed_text(directory / INRELEASE, keyring)
        release = read_release(text, fingerprint)
        for entry in release.files.values():
            name = safe_filename(entry.name)
            _fetch(session, base + name, directory / name, entry.size)
            check_file(directory / name, entry.size, entry.sha256)
        for package in read_packages((directory / PACKAGES).read_text(encoding="utf-8")):
            name = safe_filename(package.filename)
            _fetch(session, base + name, directory / name, package.size)
