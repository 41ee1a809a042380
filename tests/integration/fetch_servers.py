"""What the fetch tests serve: the fake GitHub with one release, and odd servers that
misbehave in one way each."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from picohub.update.http import (
    Limits,
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
