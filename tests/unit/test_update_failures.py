"""What went wrong between the hub and GitHub, each way in its own words, from the
errors requests really raises here (Debian's urllib3 1.26 and PyPI's 2.x alike)."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from picohub.update.failures import describe_transport_failure, looks_like_a_web_page
from picohub.update.http import DownloadError, Limits, fetch_conditional, open_session
from tests.unit.conftest import closed_port


def _raised(url: str) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        requests.get(url, timeout=5)
    return caught.value


class _Plain(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_http() -> Iterator[int]:
    """A server that speaks plain HTTP only: TLS to it fails."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_name_that_does_not_resolve_says_so() -> None:
    message, hint = describe_transport_failure(
        "https://github.invalid/x", _raised("http://github.invalid/x")
    )
    assert message == "cannot find github.invalid: the name does not resolve"
    assert "DNS" in hint


def test_a_refused_connection_says_so() -> None:
    url = f"http://127.0.0.1:{closed_port()}/x"
    message, _hint = describe_transport_failure(url, _raised(url))
    assert message == "127.0.0.1 refused the connection"


def test_a_failed_tls_handshake_names_tls_and_the_clock(plain_http: int) -> None:
    url = f"https://127.0.0.1:{plain_http}/x"
    message, hint = describe_transport_failure(url, _raised(url))
    assert message.startswith("the secure connection to 127.0.0.1 failed (")
    assert "intercepts connections" in hint and "clock" in hint


def test_no_route_says_the_hub_is_not_online() -> None:
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    wrapped = requests.ConnectionError("Max retries exceeded")
    wrapped.__cause__ = unreachable
    message, hint = describe_transport_failure("https://github.com/x", wrapped)
    assert (message, hint) == ("no route to github.com", "the hub is not online")


def test_the_fetch_reports_the_failure_in_its_words(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/InRelease"
    with open_session() as session, pytest.raises(DownloadError) as caught:
        fetch_conditional(session, url, tmp_path / "InRelease", limits=Limits(max_bytes=1024))
    assert str(caught.value) == (
        f"fetching {url}: 127.0.0.1 refused the connection (is a proxy or firewall in the way?)"
    )
    assert not (tmp_path / "InRelease").exists()


@pytest.mark.parametrize(
    ("head", "page"),
    [
        (b"<!DOCTYPE html>\n<html>", True),
        (b"\n  <HTML><head>", True),
        (b"<?xml version='1.0'?><html", True),
        (b"-----BEGIN PGP SIGNED MESSAGE-----", False),
        (b'{"message": "Not Found"}', False),
        (b"", False),
    ],
)
def test_a_web_page_is_told_from_a_file(head: bytes, page: bool) -> None:
    assert looks_like_a_web_page(head) is page
