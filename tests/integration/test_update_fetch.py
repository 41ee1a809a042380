"""Fetching over HTTP as the device does, against the fake GitHub and a few odd servers."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from picohub.update.download import fetch_file, part_path
from picohub.update.http import (
    ChecksumMismatch,
    DownloadError,
    Limits,
    RateLimited,
    fetch_conditional,
    open_session,
)
from tests.fakegithub import FakeGitHub

DEB = "picohub_1.0.0_all.deb"
DATA = bytes(range(256)) * 1024  # 256 KiB: several socket reads
SHA = hashlib.sha256(DATA).hexdigest()
IN_RELEASE = b"-----BEGIN PGP SIGNED MESSAGE-----\nOrigin: picohub\n" * 40
LIMITS = Limits(max_bytes=1 << 20, read_timeout=5.0, connect_timeout=5.0, deadline=30.0)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_release("v1.0.0", {DEB: DATA, "InRelease": IN_RELEASE})
        yield fake


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with open_session() as opened:
        yield opened


def download(github: FakeGitHub, name: str, tag: str = "v1.0.0") -> str:
    return f"{github.download_base}/{github.owner}/{github.repo}/releases/download/{tag}/{name}"


def latest(github: FakeGitHub, name: str) -> str:
    return f"{github.download_base}/{github.owner}/{github.repo}/releases/latest/download/{name}"


def statuses(github: FakeGitHub) -> list[int]:
    return [entry.status for entry in github.requests_log if entry.kind == "download"]


# -- odd servers -------------------------------------------------------------------------

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class OddHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append((self.path, dict(self.headers)))
        with suppress(ConnectionError):
            server.behaviour(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def odd_server(behaviour: Behaviour) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A server answering every GET with ``behaviour``; its base URL and what it saw."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), OddHandler)
    server.daemon_threads = True
    seen: list[tuple[str, dict[str, str]]] = []
    server.seen = seen  # type: ignore[attr-defined]
    server.behaviour = behaviour  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
) -> None:
    """Send ``body`` with ``Content-Length: length`` (that of the body unless given; -1: none)."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    length = len(body) if length is None else length
    if length >= 0:
        handler.send_header("Content-Length", str(length))
    else:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(body)


class Recording(requests.Session):
    """A session that records every URL it is asked to connect to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.urls.append(str(url))
        return super().request(method, url, *args, **kwargs)


# -- conditional fetch -------------------------------------------------------------------


def test_an_unchanged_index_answers_304_to_its_etag(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    first = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    assert first.status == "fetched" and first.path == target
    assert target.read_bytes() == IN_RELEASE and first.size == len(IN_RELEASE)
    assert first.etag == f'"{hashlib.sha256(IN_RELEASE).hexdigest()}"'
    before = target.stat().st_mtime_ns

    again = fetch_conditional(
        session, latest(github, "InRelease"), target, limits=LIMITS, etag=first.etag
    )
    assert again.status == "not-modified" and again.path is None and again.size == 0
    assert again.etag == first.etag
    assert target.stat().st_mtime_ns == before and target.read_bytes() == IN_RELEASE
    assert statuses(github) == [200, 304]


def test_an_unchanged_index_answers_304_to_its_date(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    first = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    assert first.last_modified is not None

    again = fetch_conditional(
        session,
        latest(github, "InRelease"),
        target,
        limits=LIMITS,
        last_modified=first.last_modified,
    )
    assert again.status == "not-modified"
    assert again.last_modified == first.last_modified
    assert statuses(github) == [200, 304]


def test_validators_are_not_sent_for_a_file_we_no_longer_have(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    etag = f'"{hashlib.sha256(IN_RELEASE).hexdigest()}"'
    fetched = fetch_conditional(
        session, latest(github, "InRelease"), tmp_path / "InRelease", limits=LIMITS, etag=etag
    )
    assert fetched.status == "fetched" and statuses(github) == [200]


def test_a_new_index_replaces_the_old_one_by_rename(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    old = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    newer = b"-----BEGIN PGP SIGNED MESSAGE-----\nVersion: 1.1.0\n" * 40
    github.add_release("v1.1.0", {"InRelease": newer})
    replaced_by: list[tuple[str, str]] = []
    real_replace = Path.replace

    def watch(self: Path, other: Any) -> Any:
        replaced_by.append((self.parent.name, self.name))
        assert Path(other).read_bytes() == IN_RELEASE  # the old file until the very rename
        return real_replace(self, other)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "replace", watch)
        fetched = fetch_conditional(
            session, latest(github, "InRelease"), target, limits=LIMITS, etag=old.etag
        )

    assert fetched.status == "fetched" and target.read_bytes() == newer
    assert fetched.etag == f'"{hashlib.sha256(newer).hexdigest()}"'
    [(directory, temporary)] = replaced_by
    assert directory == tmp_path.name and temporary.startswith(".InRelease.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["InRelease"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_a_failed_fetch_leaves_the_old_index_and_no_temporary(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    target.write_bytes(b"the previous index")
    github.stall_downloads(30)
    with pytest.raises(DownloadError, match=r"timed out: no data for 0\.5 s"):
        fetch_conditional(
            session,
            latest(github, "InRelease"),
            target,
            limits=Limits(max_bytes=1 << 20, read_timeout=0.5),
        )
    assert target.read_bytes() == b"the previous index"
    assert [path.name for path in tmp_path.iterdir()] == ["InRelease"]


def test_an_endless_index_is_cut_at_the_byte_cap(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    github.endless_download("InRelease")
    with pytest.raises(DownloadError, match="larger than the limit of 65536 bytes"):
        fetch_conditional(
            session, latest(github, "InRelease"), tmp_path / "InRelease", limits=Limits(65536)
        )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_index_names_the_url(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    url = latest(github, "Nothing")
    with pytest.raises(DownloadError, match="answered 404") as raised:
        fetch_conditional(session, url, tmp_path / "Nothing", limits=LIMITS)
    assert url in raised.value.message and not isinstance(raised.value, RateLimited)


# -- packages from the signed index ------------------------------------------------------


def fetch(session: requests.Session, url: str, target: Path, **limits: Any) -> Path:
    chosen = Limits(**{**LIMITS.__dict__, **limits})
    return fetch_file(session, url, target, size=len(DATA), sha256=SHA, limits=chosen)


def test_a_package_is_downloaded_and_checked(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    seen: list[int] = []
    target = tmp_path / DEB
    got = fetch_file(
        session,
        download(github, DEB),
        target,
        size=len(DATA),
        sha256=SHA,
        limits=LIMITS,
        progress=seen.append,
    )
    assert got == target and target.read_bytes() == DATA
    assert not part_path(target).exists()
    assert seen[-1] == len(DATA) and seen == sorted(seen)


def test_a_truncated_download_is_resumed_with_a_range(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / DEB
    part_path(target).write_bytes(DATA[: len(DATA) // 2])

    fetch(session, download(github, DEB), target)

    assert target.read_bytes() == DATA and not part_path(target).exists()
    assert statuses(github) == [206]  # the fake answers 206 only to a Range request


def test_a_server_that_ignores_the_range_is_read_from_the_start(
    session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / DEB
    part_path(target).write_bytes(DATA[: len(DATA) // 3])
    with odd_server(lambda handler: answer(handler, 200, DATA)) as (base, seen):
        fetch(session, f"{base}/{DEB}", target)
    assert target.read_bytes() == DATA
    [(_, headers)] = seen
    assert headers["Range"] == f"bytes={len(DATA) // 3}-"


def test_a_refused_range_starts_over_once(session: requests.Session, tmp_path: Path) -> None:
    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        if "Range" in handler.headers:
            answer(handler, 416, headers={"Content-Range": f"bytes */{len(DATA)}"})
        else:
            answer(handler, 200, DATA)

    target = tmp_path / DEB
    part_path(target).write_bytes(b"x" * 100)
    with odd_server(behaviour) as (base, seen):
        fetch(session, f"{base}/{DEB}", target)
    assert target.read_bytes() == DATA and len(seen) == 2


def test_a_tampered_package_is_refused_and_not_kept(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    tampered = bytearray(DATA)
    tampered[1000] ^= 0xFF
    github.add_release("v1.0.1", {DEB: bytes(tampered)})
    target = tmp_path / DEB
    with pytest.raises(ChecksumMismatch, match="does not match the SHA-256 in the signed index"):
        fetch(session, download(github, DEB, "v1.0.1"), target)
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_remainder_is_refused_after_a_resume(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    tampered = DATA[:-1] + b"\x00"
    github.add_release("v1.0.1", {DEB: tampered})
    target = tmp_path / DEB
    part_path(target).write_bytes(DATA[:1000])
    with pytest.raises(ChecksumMismatch, match="deleted"):
        fetch(session, download(github, DEB, "v1.0.1"), target)
    assert list(tmp_path.iterdir()) == []


def test_an_endless_package_is_cut_at_its_indexed_size(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    github.endless_download(DEB)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=f"more than the {len(DATA)} bytes"):
        fetch(session, download(github, DEB), tmp_path / DEB)
    assert time.monotonic() - started < 5
    assert list(tmp_path.iterdir()) == []


def test_bytes_beyond_the_content_length_are_never_read(
    session: requests.Session, tmp_path: Path
) -> None:
    says_more = odd_server(lambda handler: answer(handler, 200, DATA + b"junk" * 5000))
    with says_more as (base, _), pytest.raises(DownloadError, match="more than"):
        fetch(session, f"{base}/{DEB}", tmp_path / DEB)  # it says so: refused up front
    assert list(tmp_path.iterdir()) == []

    def sends_more(handler: BaseHTTPRequestHandler) -> None:
        answer(handler, 200, DATA + b"junk" * 5000, length=len(DATA))

    with odd_server(sends_more) as (base, _):
        got = fetch(session, f"{base}/{DEB}", tmp_path / DEB)
    assert got.read_bytes() == DATA


def test_more_bytes_without_a_content_length_are_refused(
    session: requests.Session, tmp_path: Path
) -> None:
    def no_length(handler: BaseHTTPRequestHandler) -> None:
        answer(handler, 200, DATA + b"junk", length=-1)

    refused = pytest.raises(DownloadError, match="deleted the partial download")
    with odd_server(no_length) as (base, _), refused:
        fetch(session, f"{base}/{DEB}", tmp_path / DEB)
    assert list(tmp_path.iterdir()) == []


def test_a_stalled_server_times_out_and_the_part_is_kept_for_later(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / DEB
    part_path(target).write_bytes(DATA[:5000])
    github.stall_downloads(30)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"timed out: no data for 0\.5 s"):
        fetch(session, download(github, DEB), target, read_timeout=0.5)
    assert time.monotonic() - started < 3
    assert part_path(target).read_bytes() == DATA[:5000] and not target.exists()

    github.stall_downloads(0)
    fetch(session, download(github, DEB), target)
    assert target.read_bytes() == DATA and statuses(github) == [206, 206]


def test_the_overall_deadline_stops_a_trickling_server(
    session: requests.Session, tmp_path: Path
) -> None:
    stop = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(DATA)))
        handler.end_headers()
        for byte in DATA:  # a byte every 20 ms: never a stall, never done
            if stop.wait(0.02):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    target = tmp_path / DEB
    try:
        with odd_server(trickle) as (base, _):
            started = time.monotonic()
            with pytest.raises(DownloadError, match=r"took longer than 0.6 s in all"):
                fetch(session, f"{base}/{DEB}", target, read_timeout=2.0, deadline=0.6)
            elapsed = time.monotonic() - started
            stop.set()
    finally:
        stop.set()
    assert 0.5 < elapsed < 1.5
    assert 0 < part_path(target).stat().st_size < 100  # kept for a resume


def test_redirects_between_loopback_hosts_are_followed(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    github.redirect_downloads = True
    fetch(session, download(github, DEB), tmp_path / DEB)
    assert statuses(github) == [302, 200]
    assert (tmp_path / DEB).read_bytes() == DATA


def test_a_plain_http_redirect_to_a_public_host_is_refused_before_connecting(
    tmp_path: Path,
) -> None:
    elsewhere = "http://downloads.example.org/picohub.deb"
    session = Recording()
    server = odd_server(lambda handler: answer(handler, 302, headers={"Location": elsewhere}))
    refused = pytest.raises(DownloadError, match="refused the redirect")
    with server as (base, _), refused as raised:
        fetch(session, f"{base}/{DEB}", tmp_path / DEB)
    assert elsewhere in raised.value.message
    assert session.urls == [f"{base}/{DEB}"]


def test_redirects_stop_at_the_hop_limit(session: requests.Session, tmp_path: Path) -> None:
    def loop(handler: BaseHTTPRequestHandler) -> None:
        answer(handler, 302, headers={"Location": f"/again{len(handler.path)}"})

    refused = pytest.raises(DownloadError, match="redirected more than 2 times")
    with odd_server(loop) as (base, seen), refused:
        fetch(session, f"{base}/{DEB}", tmp_path / DEB, max_redirects=2)
    assert len(seen) == 3


def test_a_rate_limit_answer_says_when_to_retry(session: requests.Session, tmp_path: Path) -> None:
    reset = int(time.time()) + 1800
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    server = odd_server(lambda handler: answer(handler, 403, b"{}", limited))
    with server as (base, _), pytest.raises(RateLimited) as raised:
        fetch(session, f"{base}/{DEB}", tmp_path / DEB)
    assert raised.value.retry_at == datetime.fromtimestamp(reset, UTC)
    assert f"{raised.value.retry_at:%Y-%m-%d %H:%M:%S} UTC" in raised.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_package_names_the_url(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    url = download(github, "picohub_9.9.9_all.deb")
    with pytest.raises(DownloadError, match="answered 404 Not Found") as raised:
        fetch(session, url, tmp_path / DEB)
    assert url in raised.value.message
    assert list(tmp_path.iterdir()) == []
