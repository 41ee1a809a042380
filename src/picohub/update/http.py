"""The device's one way to fetch over HTTP: bounded and redirect-checked.

Every read is bounded (docs/updater.md, "Trust, briefly"): a byte cap, a per-read timeout (the
socket's read timeout, set by requests) and an overall deadline for the whole transfer,
redirects included. The body is read from the ``http.client`` response under requests one
socket read at a time (``read1``): ``iter_content`` and ``raw.read`` fill a whole chunk
before they return, so a server trickling a byte a second would keep them inside one call
far past any deadline. The deadline is checked between reads; the last read's timeout is cut
to what is left of it, so it is overshot by at most one read timeout.

Redirects are followed by hand, each hop through :func:`check_redirect`, up to a hop limit.
Only requests 2.28 APIs are used (Debian bookworm's python3-requests). Package downloads,
resumed and verified against the signed index, are :mod:`picohub.update.download`.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3

from picohub.errors import PicohubError
from picohub.files import atomic_file
from picohub.repository import RepositoryError
from picohub.update.failures import (
    describe_transport_failure,
    looks_like_a_web_page,
    web_page_instead,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 16
Progress = Callable[[int], None]  # called with the bytes of the file on disk so far


class DownloadError(PicohubError):
    """A download failed or was refused; the file it was for was not replaced."""


class RateLimited(DownloadError):
    """The server limits our requests; ``retry_at`` is when it allows them again, if known."""

    def __init__(self, message: str, *, retry_at: datetime | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_at = retry_at


class ServerError(DownloadError):
    """The server failed (a 5xx): nothing is wrong here; ask again later, not at once."""


class ChecksumMismatch(DownloadError, RepositoryError):
    """Downloaded bytes that do not match the signed index; they were deleted."""


@dataclass(frozen=True)
class Limits:
    """Bounds for one transfer: bytes, seconds per read, seconds in all, redirect hops."""

    max_bytes: int
    read_timeout: float = 30.0
    connect_timeout: float = 10.0
    deadline: float = 600.0  # seconds for the whole transfer, redirects included
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.max_bytes < 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and max_redirects must not be negative")
        if min(self.read_timeout, self.connect_timeout, self.deadline) <= 0:
            raise ValueError("timeouts and the deadline must be positive")


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch_conditional` did. ``path`` is None when nothing new was fetched."""

    status: Literal["fetched", "not-modified"]
    path: Path | None
    etag: str | None
    last_modified: str | None
    size: int


def open_session(user_agent: str = "picohub-update") -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    # Bytes as the server stores them: what the index hashes, and no decompression bombs.
    session.headers["Accept-Encoding"] = "identity"
    return session


# -- policy ------------------------------------------------------------------------------


def shown(url: str) -> str:
    """A URL for messages: without credentials, query (signed object URLs) or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect(from_url: str, to_url: str) -> None:
    """Refuse a redirect hop unless it goes to https, or from loopback to loopback over http.

    The plain-http exception is for the tests' local server only: a hop from a public host
    to loopback, or from loopback to a public host over http, is refused.
    """
    source, target = urlsplit(from_url), urlsplit(to_url)
    if target.scheme == "https" and target.hostname:
        return
    if target.scheme == "http" and is_loopback(target.hostname) and is_loopback(source.hostname):
        return
    raise DownloadError(
        f"refused the redirect from {shown(from_url)} to {shown(to_url)}: "
        "only https redirects are followed",
        hint="the server or something between us and it is misconfigured or hostile",
    )


def _retry_at(fields: Mapping[str, str], now: datetime) -> datetime | None:
    retry_after = fields.get("retry-after")
    try:
        if retry_after is not None and retry_after.isdigit():
            return now + timedelta(seconds=int(retry_after))
        if retry_after is not None:  # the HTTP-date form
            when = parsedate_to_datetime(retry_after)
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        reset = fields.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return datetime.fromtimestamp(int(reset), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass  # a header we cannot read: say "later" rather than fail differently
    return None


def status_error(
    url: str,
    status: int,
    headers: Mapping[str, str],
    *,
    body: bytes = b"",
    now: datetime | None = None,
) -> DownloadError:
    """The error for an answer we cannot use, in its own words: :class:`RateLimited` for
    a rate limit (GitHub's primary one, a 429, or its secondary one: a 403 whose body
    says so while ``x-ratelimit-remaining`` is above 0), a server error, a web page."""
    fields = {name.lower(): value.strip() for name, value in headers.items()}
    moment = now if now is not None else datetime.now(UTC)
    secondary = status == 403 and b"secondary rate limit" in body.lower()
    rate_limited = fields.get("x-ratelimit-remaining") == "0" or "retry-after" in fields
    if status == 429 or secondary or (status == 403 and rate_limited):
        # Without a time to wait, GitHub asks for at least a minute.
        retry_at = _retry_at(fields, moment) or moment + timedelta(minutes=1)
        kind = "a secondary rate limit" if secondary else "rate limit reached"
        return RateLimited(
            f"{shown(url)} answered {status}: {kind}; retry after"
            f" {retry_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            retry_at=retry_at,
            hint="nothing was changed; check again after that time",
        )
    try:
        reason = f" {HTTPStatus(status).phrase}"
    except ValueError:
        reason = ""
    hint = None
    if 500 <= status < 600:
        return ServerError(
            f"{shown(url)} answered {status}{reason}",
            hint="a failure at the server, not here: nothing was changed; a later check"
            " tries again",
        )
    if status == 404:
        hint = "the release or the file does not exist there"
    elif looks_like_a_web_page(body):
        message, hint = web_page_instead("the file")
        return DownloadError(f"{shown(url)} answered {status}{reason}: {message}", hint=hint)
    return DownloadError(f"{shown(url)} answered {status}{reason}", hint=hint)


def error_body(response: requests.Response, limit: int = 4096) -> bytes:
    """The first bytes of an error answer's body (what a rate limit or a portal says)."""
    try:
        return _reader(response)(limit)
    except (OSError, DownloadError, requests.exceptions.RequestException):
        return b""


# -- bounded transfer --------------------------------------------------------------------


@dataclass(frozen=True)
class SharedDeadline:
    """The end of an operation made of several transfers, in :func:`time.monotonic` time."""

    what: str
    seconds: float
    end: float


_shared_deadline: ContextVar[SharedDeadline | None] = ContextVar(
    "picohub_shared_deadline", default=None
)


@contextmanager
def shared_deadline(what: str, seconds: float) -> Iterator[None]:
    """Every transfer inside ends within ``seconds`` of now, all of them together: for a
    check whose caller waits a bounded time (a web page behind the trigger), where each
    transfer's own deadline could add up to far more."""
    token = _shared_deadline.set(SharedDeadline(what, seconds, time.monotonic() + seconds))
    try:
        yield
    finally:
        _shared_deadline.reset(token)


class Clock:
    """The overall deadline of one transfer, and of the operation it is part of."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        shared = _shared_deadline.get()
        self._shared = shared if shared is not None and shared.end < self._end else None
        if self._shared is not None:
            self._end = self._shared.end

    def left(self) -> float:
        return self._end - time.monotonic()

    def check(self, url: str) -> None:
        if self.left() <= 0:
            raise self.expired(url)

    def expired(self, url: str) -> DownloadError:
        hint = "the network or the server is too slow; it resumes on the next try"
        if self._shared is not None:
            return DownloadError(
                f"fetching {shown(url)} timed out: {self._shared.what} may take "
                f"{self._shared.seconds:g} s in all",
                hint=hint,
            )
        return DownloadError(
            f"fetching {shown(url)} timed out: it took longer than {self.seconds:g} s in all",
            hint=hint,
        )

    def timeouts(self, limits: Limits) -> tuple[float, float]:
        left = max(self.left(), 0.001)
        return min(limits.connect_timeout, left), min(limits.read_timeout, left)


class TooLarge(Exception):
    """More bytes came than the bound allows (the callers say which bound)."""


def _get(
    session: requests.Session, url: str, headers: Mapping[str, str], limits: Limits, clock: Clock
) -> requests.Response:
    try:
        return session.get(
            url,
            headers={"Accept-Encoding": "identity", **headers},
            stream=True,
            timeout=clock.timeouts(limits),
            allow_redirects=False,
        )
    except requests.exceptions.Timeout as exc:
        if clock.left() <= 0:
            raise clock.expired(url) from exc
        raise DownloadError(f"fetching {shown(url)} timed out: the server did not answer") from exc
    except requests.exceptions.RequestException as exc:
        message, hint = describe_transport_failure(url, exc)
        raise DownloadError(f"fetching {shown(url)}: {message}", hint=hint) from exc


def open_following(
    session: requests.Session, url: str, headers: Mapping[str, str], limits: Limits, clock: Clock
) -> tuple[requests.Response, str]:
    """GET ``url``, following the redirects policy allows; the answer and its URL."""
    current = url
    for _hop in range(limits.max_redirects + 1):
        clock.check(current)
        response = _get(session, current, headers, limits, clock)
        if not response.is_redirect:
            return response, current
        following = urljoin(current, response.headers["location"])
        response.close()
        check_redirect(current, following)  # before any connection to the next hop
        if urlsplit(following).netloc != urlsplit(current).netloc:  # credentials stay home
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        log.debug("%s redirects to %s", shown(current), shown(following))
        current = following
    raise DownloadError(
        f"{shown(url)} redirected more than {limits.max_redirects} times",
        hint="the server sends us round in circles",
    )


def _reader(response: requests.Response) -> Callable[[int], bytes]:
    """A read of at most one socket read (see the module docstring)."""
    raw = response.raw
    body = getattr(raw, "_fp", None)  # urllib3 1.26 and 2.x: the http.client response
    if isinstance(body, http.client.HTTPResponse):
        return body.read1
    if raw is None:
        raise DownloadError(f"no body to read from {shown(response.url)}")
    return raw.read  # not expected; bounded by the byte cap, less tightly by time


def copy_bounded(
    response: requests.Response,
    out: BinaryIO,
    *,
    limit: int,
    url: str,
    limits: Limits,
    clock: Clock,
    progress: Progress | None = None,
) -> int:
    """Copy the body into ``out``, at most ``limit`` bytes (else TooLarge); the count."""
    read = _reader(response)
    copied = 0
    while True:
        clock.check(url)
        try:
            chunk = read(CHUNK)
        except TimeoutError as exc:
            if clock.left() <= 0:
                raise clock.expired(url) from exc
            raise DownloadError(
                f"fetching {shown(url)} timed out: no data for {limits.read_timeout:g} s",
                hint="the server stalled; the next try resumes where this one stopped",
            ) from exc
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            raise DownloadError(f"reading {shown(url)} failed ({type(exc).__name__})") from exc
        if not chunk:
            return copied
        if copied + len(chunk) > limit:
            raise TooLarge
        out.write(chunk)
        copied += len(chunk)
        if progress is not None:
            progress(copied)


def content_length(response: requests.Response) -> int | None:
    if "transfer-encoding" in response.headers:
        return None  # http.client ignores Content-Length then, and so do we
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


# -- conditional fetch -------------------------------------------------------------------


def fetch_conditional(
    session: requests.Session,
    url: str,
    target: Path,
    *,
    limits: Limits,
    etag: str | None = None,
    last_modified: str | None = None,
    headers: Mapping[str, str] | None = None,
    candidate: Path | None = None,
) -> Fetched:
    """Fetch ``url`` into ``target`` unless it is unchanged since ``etag``/``last_modified``.

    The validators are sent only while ``target`` exists: a 304 for a file we no longer
    have would leave us with nothing. A new body goes to a temporary file beside ``target``
    and replaces it by rename, so ``target`` is always either the old file or the new one.
    With ``candidate``, a new body replaces ``candidate`` instead (``Fetched.path``), and
    the caller moves it over ``target`` once it has verified it: bytes not yet verified
    (a captive portal's page) never replace bytes that were.
    ``headers`` go with the request (an ``Authorization`` header only to the first host:
    a redirect to another drops it).
    """
    clock = Clock(limits.deadline)
    conditional: dict[str, str] = {}
    if target.is_file():
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
    response, final = open_following(
        session, url, {**(headers or {}), **conditional}, limits, clock
    )
    with closing(response):
        answer = response.headers
        if response.status_code == 304 and conditional:
            return Fetched(
                "not-modified",
                None,
                answer.get("etag", etag),
                answer.get("last-modified", last_modified),
                0,
            )
        if response.status_code != 200:
            raise status_error(final, response.status_code, answer, body=error_body(response))
        written = candidate or target
        size = _replace_with_body(response, written, final, limits, clock)
        return Fetched("fetched", written, answer.get("etag"), answer.get("last-modified"), size)


def _replace_with_body(
    response: requests.Response, target: Path, url: str, limits: Limits, clock: Clock
) -> int:
    expected = content_length(response)
    too_large = DownloadError(
        f"{shown(url)} is larger than the limit of {limits.max_bytes} bytes; refused",
        hint="the server sends something other than what picohub expects",
    )
    if expected is not None and expected > limits.max_bytes:
        raise too_large
    # Mode 0644: public release data, like any file apt fetches.
    with atomic_file(target, mode=0o644, suffix=".tmp") as out:
        try:
            size = copy_bounded(
                response, out, limit=limits.max_bytes, url=url, limits=limits, clock=clock
            )
        except TooLarge:
            raise too_large from None
        if expected is not None and size != expected:
            raise DownloadError(
                f"{shown(url)} ended after {size} of {expected} bytes",
                hint="the connection broke; try again",
            )
    return size
