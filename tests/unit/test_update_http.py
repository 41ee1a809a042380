"""The updater's HTTP policy without a server: redirects, rate limits, limits, no-op fetches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from picohub.repository import RepositoryError
from picohub.update.download import fetch_file, part_path
from picohub.update.http import (
    ChecksumMismatch,
    Clock,
    DownloadError,
    Limits,
    RateLimited,
    ServerError,
    check_redirect,
    is_loopback,
    open_session,
    shared_deadline,
    shown,
    status_error,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
URL = "https://github.com/picohub/picohub/releases/latest/download/InRelease"


@pytest.mark.parametrize(
    ("from_url", "to_url"),
    [
        (URL, "https://objects.githubusercontent.com/x/InRelease?sig=abc"),
        ("http://127.0.0.1:8000/a", "https://example.org/b"),
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/_objects/1"),
        ("http://127.0.0.1:8000/a", "http://127.5.6.7:9000/b"),
        ("http://localhost:8000/a", "http://[::1]:8000/b"),
        ("http://[::1]:8000/a", "http://LOCALHOST/b"),
    ],
)
def test_redirects_to_https_or_within_loopback_are_followed(from_url: str, to_url: str) -> None:
    check_redirect(from_url, to_url)


@pytest.mark.parametrize(
    ("from_url", "to_url"),
    [
        (URL, "http://objects.githubusercontent.com/x/InRelease"),  # a plain-http downgrade
        (URL, "http://127.0.0.1:8000/steal"),  # public host to loopback
        ("http://127.0.0.1:8000/a", "http://downloads.example.org/b"),  # loopback to public
        ("http://127.0.0.1:8000/a", "http://10.0.0.1/b"),
        ("http://127.0.0.1:8000/a", "ftp://127.0.0.1/b"),
        ("http://127.0.0.1:8000/a", "file:///etc/shadow"),
        (URL, "https:///no-host"),
        ("http://localhost.example.org/a", "http://127.0.0.1/b"),
    ],
)
def test_other_redirects_are_refused_naming_the_hop(from_url: str, to_url: str) -> None:
    with pytest.raises(DownloadError, match="refused the redirect") as raised:
        check_redirect(from_url, to_url)
    assert shown(to_url) in raised.value.message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("localhost", True),
        ("localhost.", True),
        ("128.0.0.1", False),
        ("::ffff:8.8.8.8", False),
        ("github.com", False),
        ("localhost.evil.example", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_urls_in_messages_carry_no_credentials_or_signatures() -> None:
    assert shown("https://user:secret@host.example/a/b?X-Amz-Signature=s#f") == (
        "https://host.example/a/b"
    )


def headers(**fields: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({name.replace("_", "-"): value for name, value in fields.items()})


def test_403_with_no_remaining_requests_is_rate_limited_until_the_reset() -> None:
    reset = NOW + timedelta(minutes=17)
    error = status_error(
        URL,
        403,
        headers(X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(reset.timestamp()))),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_at == reset
    assert "403" in error.message and "retry after 2025-03-01 12:17:00 UTC" in error.message


def test_429_with_retry_after_seconds_wins_over_the_reset() -> None:
    error = status_error(
        URL,
        429,
        headers(Retry_After="90", X_RateLimit_Remaining="0", X_RateLimit_Reset="1"),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(seconds=90)
    assert "retry after 2025-03-01 12:01:30 UTC" in str(error)


def test_retry_after_as_an_http_date() -> None:
    error = status_error(URL, 403, headers(Retry_After="Sat, 01 Mar 2025 13:00:00 GMT"), now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_at == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


def test_a_rate_limit_without_a_readable_time_waits_a_minute_as_github_asks() -> None:
    for fields in (headers(Retry_After="soon-ish"), headers()):
        error = status_error(URL, 429, fields, now=NOW)
        assert isinstance(error, RateLimited)
        assert error.retry_at == NOW + timedelta(minutes=1)
        assert "retry after 2025-03-01 12:01:00 UTC" in error.message


def test_a_secondary_rate_limit_is_a_rate_limit_though_requests_remain() -> None:
    said = b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'
    error = status_error(URL, 403, headers(X_RateLimit_Remaining="4999"), body=said, now=NOW)
    assert isinstance(error, RateLimited)
    assert "403: a secondary rate limit; retry after 2025-03-01 12:01:00 UTC" in error.message


def test_a_server_error_says_it_is_the_servers() -> None:
    error = status_error(URL, 503, {"Retry-After": "5"}, now=NOW)
    assert isinstance(error, ServerError)
    assert error.message == f"{URL} answered 503 Service Unavailable"
    assert error.hint is not None and "a failure at the server, not here" in error.hint


def test_a_web_page_in_an_error_answer_names_the_captive_portal() -> None:
    page = b"<!DOCTYPE html><html><body>Log in to Guest Wi-Fi</body></html>"
    error = status_error(URL, 403, {}, body=page, now=NOW)
    assert "answered 403 Forbidden: the network answered with a web page" in error.message
    assert "captive portal" in error.message


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (403, {"X-RateLimit-Remaining": "12"}),  # forbidden, but not for the rate
        (404, {"X-RateLimit-Remaining": "0"}),
        (418, {"Retry-After": "5"}),
    ],
)
def test_other_answers_are_plain_download_errors(status: int, fields: dict[str, str]) -> None:
    error = status_error(URL + "?token=x", status, CaseInsensitiveDict(fields), now=NOW)
    assert type(error) is DownloadError
    assert error.message.startswith(f"{URL} answered {status}")
    assert "token=x" not in str(error)


def test_404_hints_that_the_file_is_not_there() -> None:
    error = status_error(URL, 404, {}, now=NOW)
    assert error.message == f"{URL} answered 404 Not Found"
    assert error.hint is not None and "does not exist" in error.hint


def test_limits_have_bounded_defaults_and_refuse_nonsense() -> None:
    limits = Limits(max_bytes=1024)
    assert (limits.read_timeout, limits.connect_timeout, limits.deadline) == (30.0, 10.0, 600.0)
    assert limits.max_redirects == 5
    with pytest.raises(ValueError, match="positive"):
        Limits(max_bytes=1, deadline=0)
    with pytest.raises(ValueError, match="negative"):
        Limits(max_bytes=-1)


def test_the_session_asks_for_the_stored_bytes() -> None:
    session = open_session("picohub-update/1.2.3")
    assert session.headers["User-Agent"] == "picohub-update/1.2.3"
    assert session.headers["Accept-Encoding"] == "identity"


def test_a_checksum_mismatch_is_a_repository_error_too() -> None:
    assert issubclass(ChecksumMismatch, DownloadError)
    assert issubclass(ChecksumMismatch, RepositoryError)


class NoNetwork(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise AssertionError(f"unexpected request: {args}")


def test_a_file_already_complete_needs_no_request(tmp_path: Path) -> None:
    data = b"a package\n" * 100
    target = tmp_path / "picohub_1.0.0_all.deb"
    target.write_bytes(data)
    found = fetch_file(
        NoNetwork(),
        "http://127.0.0.1:9/nowhere",
        target,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest().upper(),
        limits=Limits(max_bytes=len(data)),
    )
    assert found == target and target.read_bytes() == data


def test_a_complete_and_valid_part_is_kept_without_a_request(tmp_path: Path) -> None:
    data = b"resumed earlier\n" * 64
    target = tmp_path / "picohub-web_1.0.0_all.deb"
    part_path(target).write_bytes(data)
    fetch_file(
        NoNetwork(),
        "http://127.0.0.1:9/nowhere",
        target,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        limits=Limits(max_bytes=len(data)),
    )
    assert target.read_bytes() == data and not part_path(target).exists()


def test_a_file_larger_than_the_cap_is_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="more than the limit of 10"):
        fetch_file(
            NoNetwork(),
            "http://127.0.0.1:9/nowhere",
            tmp_path / "big.deb",
            size=11,
            sha256="0" * 64,
            limits=Limits(max_bytes=10),
        )


def test_the_part_file_sits_beside_the_target(tmp_path: Path) -> None:
    assert part_path(tmp_path / "a_1.0_all.deb") == tmp_path / "a_1.0_all.deb.part"


def test_a_shared_deadline_bounds_every_transfer_inside_it_and_names_the_operation() -> None:
    with shared_deadline("a check", 5.0):
        inside = Clock(600.0)
        shorter = Clock(1.0)  # a transfer's own, shorter deadline still wins
    after = Clock(600.0)
    assert 4.0 < inside.left() <= 5.0
    assert "a check may take 5 s in all" in str(inside.expired("http://h/InRelease"))
    assert "took longer than 1 s in all" in str(shorter.expired("http://h/InRelease"))
    assert after.left() > 590.0
