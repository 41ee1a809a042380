"""A package from the signed index, downloaded over HTTP: resumable, never larger than
the index says, and in place only with the right SHA-256 (or, for a hawkBit artifact whose
server gives no SHA-256, the right SHA-1: :class:`Digest`).

Bytes go to ``NAME.part`` first (:func:`part_path`); an interrupted download resumes
there with a Range request, and the file appears by rename only once it is whole and
verified. Every transfer is bounded as :mod:`picohub.update.http` bounds it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import closing
from enum import StrEnum
from pathlib import Path

import requests

from picohub.files import rename_into_place
from picohub.update.http import (
    ChecksumMismatch,
    Clock,
    DownloadError,
    Limits,
    Progress,
    TooLarge,
    content_length,
    copy_bounded,
    error_body,
    open_following,
    shown,
    status_error,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class Digest(StrEnum):
    """The hash a download is checked against (hashlib's names)."""

    SHA256 = "sha256"
    SHA1 = "sha1"

    @property
    def label(self) -> str:
        return {Digest.SHA256: "SHA-256", Digest.SHA1: "SHA-1"}[self]


def digest_of(path: Path, algorithm: Digest = Digest.SHA256) -> str:
    """The hex digest of ``path``'s bytes."""
    digest = hashlib.new(algorithm.value, usedforsecurity=algorithm is Digest.SHA256)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(target: Path) -> Path:
    """Where :func:`fetch_file` keeps the partial download of ``target``."""
    return target.with_name(target.name + ".part")


def fetch_file(
    session: requests.Session,
    url: str,
    target: Path,
    *,
    size: int,
    sha256: str,
    limits: Limits,
    progress: Progress | None = None,
    algorithm: Digest = Digest.SHA256,
) -> Path:
    """Download ``url`` to ``target``, whose size and SHA-256 come from the signed index.

    ``sha256`` is the expected hex digest: a SHA-256 unless ``algorithm`` names another
    (the keyword stays what the signed index's callers have always passed).

    Bytes go to ``target.part`` first; an earlier partial download is resumed with a Range
    request. Never more than ``size`` bytes are accepted, and ``target`` appears (by rename)
    only with the right size and hash. A timeout leaves the .part for the next try; bytes
    that do not match the index are deleted. At most one restart from zero per call.
    """
    wanted = sha256.lower()
    if (
        target.is_file()
        and target.stat().st_size == size
        and digest_of(target, algorithm) == wanted
    ):
        return target
    if size > limits.max_bytes:
        raise DownloadError(
            f"the signed index gives {target.name} as {size} bytes, "
            f"more than the limit of {limits.max_bytes}"
        )
    part = part_path(target)
    clock = Clock(limits.deadline)
    offset = _resumable(part, size, wanted, algorithm)
    if offset < size or not part.is_file():
        _download(session, url, part, offset, size, limits, clock, progress)
    _verify(part, size, wanted, url, algorithm)
    rename_into_place(part, target)
    return target


def _download(
    session: requests.Session,
    url: str,
    part: Path,
    offset: int,
    size: int,
    limits: Limits,
    clock: Clock,
    progress: Progress | None,
) -> None:
    """Fill ``part`` from ``offset``: a resume, or at most one start from zero."""
    for attempt in range(2):
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response, final = open_following(session, url, headers, limits, clock)
        with closing(response):
            start = _start_of(response, offset, size, part, final)
            if start is not None:
                _receive(response, part, start, size, final, limits, clock, progress)
                return
        if attempt or not offset:
            break
        log.info("%s cannot resume %s; starting over", shown(final), part.name)
        part.unlink(missing_ok=True)
        offset = 0
    raise DownloadError(f"{shown(url)} answered a range we did not ask for")


def _resumable(part: Path, size: int, wanted: str, algorithm: Digest) -> int:
    """How many bytes of ``part`` to keep; a .part that cannot be the file is deleted."""
    try:
        have = part.stat().st_size
    except FileNotFoundError:
        return 0
    if have > size or (have == size and digest_of(part, algorithm) != wanted):
        part.unlink()
        return 0
    return have


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """(first byte, total size or None) from a ``Content-Range`` header."""
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if found is None:
        return None
    return int(found[1]), None if found[3] == "*" else int(found[3])


def _start_of(
    response: requests.Response, offset: int, size: int, part: Path, url: str
) -> int | None:
    """Where the answer's body starts in the file; None when it cannot resume ``offset``."""
    status = response.status_code
    if status == 200:
        if offset:
            log.info("%s ignored the range request; starting over", shown(url))
        return 0
    if status == 206:
        content_range = _content_range(response.headers.get("content-range"))
        if content_range is None or content_range[0] != offset:
            return None
        total = content_range[1]
        if total is not None and total != size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{shown(url)} has {total} bytes; the signed index says {size}; "
                "deleted the partial download"
            )
        return offset
    if status == 416 and offset:
        return None
    raise status_error(url, status, response.headers, body=error_body(response))


def _receive(
    response: requests.Response,
    part: Path,
    start: int,
    size: int,
    url: str,
    limits: Limits,
    clock: Clock,
    progress: Progress | None,
) -> None:
    refused = DownloadError(
        f"{shown(url)} sends more than the {size} bytes the signed index says; "
        "deleted the partial download",
        hint="the release on the server is not the one its signed index describes",
    )
    length = content_length(response)
    if length is not None and start + length > size:
        part.unlink(missing_ok=True)
        raise refused
    counted = None if progress is None else (lambda copied: progress(start + copied))
    try:
        with part.open("ab" if start else "wb") as out:
            copy_bounded(
                response,
                out,
                limit=size - start,
                url=url,
                limits=limits,
                clock=clock,
                progress=counted,
            )
    except TooLarge:
        part.unlink(missing_ok=True)
        raise refused from None


def _verify(part: Path, size: int, wanted: str, url: str, algorithm: Digest) -> None:
    have = part.stat().st_size if part.is_file() else 0
    if have < size:
        raise DownloadError(
            f"the download of {shown(url)} ended after {have} of {size} bytes",
            hint="the connection broke; the next try resumes where this one stopped",
        )
    if digest_of(part, algorithm) != wanted:
        part.unlink()
        raise ChecksumMismatch(
            f"{shown(url)} does not match the {algorithm.label} in the signed index; deleted",
            hint="the download was damaged or tampered with; try again later",
        )
