"""Fetching packages over HTTP as the device does: checked, resumed, bounded, against the
fake GitHub and odd servers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
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
)
from tests.fakegithub import FakeGitHub
from tests.integration import fetch_servers
from tests.integration.fetch_servers import (
    DATA,
    DEB,
    LIMITS,
    SHA,
    Recording,
    answer,
    download,
    odd_server,
    statuses,
)

github = fetch_servers.github  # the fixtures
session = fetch_servers.session

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


def test_a_connection_cut_mid_body_is_resumed_on_the_next_try(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    def cut(handler: BaseHTTPRequestHandler) -> None:
        answer(handler, 200, DATA[: len(DATA) // 3], length=len(DATA))
        handler.close_connection = True  # the rest never comes: the connection ends

    target = tmp_path / DEB
    with odd_server(cut) as (base, _), pytest.raises(DownloadError, match="ended after"):
        fetch(session, f"{base}/{DEB}", target)
    assert part_path(target).read_bytes() == DATA[: len(DATA) // 3] and not target.exists()

    fetch(session, download(github, DEB), target)
    assert target.read_bytes() == DATA and not part_path(target).exists()
    assert statuses(github) == [206]  # only the missing two thirds were asked for


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
