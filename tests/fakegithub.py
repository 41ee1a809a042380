"""A fake GitHub for tests: the REST API for releases and their assets, uploads and downloads.

It answers in the shapes of the real REST API (api.github.com, API version 2022-11-28) and of
github.com's download URLs, on one local port:

- ``/api/...``      the REST API (``api_url``), e.g. ``/api/repos/OWNER/REPO/releases``
- ``/uploads/...``  the upload host (``upload_base``), named by each release's ``upload_url``
- ``/OWNER/REPO/releases/download/TAG/NAME`` and ``/OWNER/REPO/releases/latest/download/NAME``
  the asset downloads (``download_base``), which are not API calls and have no rate limit

As on GitHub: drafts are listed only to an authorised caller and never found by tag; the API
answers carry ``ETag`` and rate-limit headers, a matching ``If-None-Match`` gives 304, which is
free of quota only for an authorised caller; downloads carry ``ETag`` (the quoted sha256),
``Last-Modified`` and honour conditional and range requests. Asset names are renamed roughly as
GitHub does (characters other than ``A-Za-z0-9._-`` become ``.``).

Test knobs: :meth:`FakeGitHub.set_rate_limit`, :meth:`FakeGitHub.fail_uploads_after`,
:meth:`FakeGitHub.stall_downloads`, :meth:`FakeGitHub.endless_download`, :meth:`FakeGitHub.advance`
(moves the fake's clock, e.g. from an injected ``sleep``), ``redirect_downloads`` (answer a
download with a 302 to an object URL, as github.com does) and ``on_upload`` (called with the
release and the new asset, under the state lock). State can be seeded with :meth:`add_release`.

Run it as a process (e.g. inside another network namespace)::

    python -m tests.fakegithub --host 127.0.0.1 --port 8000 [--token T | --no-token]

It prints its base URL on stdout once listening and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

JSONType = dict[str, Any]

UNAUTHORIZED_LIMIT = 60
AUTHORIZED_LIMIT = 5000
WINDOW = 3600.0  # GitHub's primary rate limit is per hour
DOCS = "https://docs.github.com/rest"


@dataclass
class AssetRecord:
    id: int
    name: str
    label: str | None
    content_type: str
    data: bytes
    created_at: float
    updated_at: float
    download_count: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass
class ReleaseRecord:
    id: int
    tag_name: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    created_at: float
    published_at: float | None
    target_commitish: str = "main"
    assets: list[AssetRecord] = field(default_factory=list)

    def asset(self, name: str) -> AssetRecord | None:
        return next((asset for asset in self.assets if asset.name == name), None)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # without the query string
    query: str
    status: int
    authorized: bool
    kind: str  # "api", "upload" or "download"


@dataclass
class _Budget:
    limit: int
    remaining: int
    reset: float
    retry_after: int | None = None
    status: int = 403

    def refresh(self, now: float) -> None:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + WINDOW
            self.retry_after = None
            self.status = 403


def github_asset_name(name: str) -> str:
    """The name GitHub gives an uploaded file (it renames special characters)."""
    renamed = re.sub(r"[^A-Za-z0-9._-]", ".", name).strip(".")
    return renamed or "default"


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == wanted:
            return True
    return False


class FakeGitHub:
    """A fake GitHub serving one repository; see the module docstring."""

    def __init__(
        self,
        owner: str = "picohub",
        repo: str = "picohub",
        token: str | None = "test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        self.owner = owner
        self.repo = repo
        self.token = token  # None: no authentication, every request counts as authorised
        self.host = host
        self.port = port
        self._public_url = public_url
        self.releases: list[ReleaseRecord] = []
        self.requests_log: list[LoggedRequest] = []
        self.redirect_downloads = False
        self.on_upload: Callable[[ReleaseRecord, AssetRecord], None] | None = None
        self.lock = threading.RLock()
        self._ids = iter(range(1001, 10**9))
        self._offset = 0.0
        self._budgets = {
            False: _Budget(UNAUTHORIZED_LIMIT, UNAUTHORIZED_LIMIT, self.now() + WINDOW),
            True: _Budget(AUTHORIZED_LIMIT, AUTHORIZED_LIMIT, self.now() + WINDOW),
        }
        self._fail_after: int | None = None
        self._stall = 0.0
        self._endless: set[str] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fakegithub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends stalled and endless downloads
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def download_base(self) -> str:
        if self._public_url is not None:
            return self._public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.download_base}/api"

    @property
    def upload_base(self) -> str:
        return f"{self.download_base}/uploads"

    # -- knobs -----------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (rate-limit windows end without real waiting)."""
        with self.lock:
            self._offset += seconds

    def set_rate_limit(
        self,
        *,
        remaining: int,
        reset_in: float = WINDOW,
        retry_after: int | None = None,
        status: int = 403,
        authorized: bool | None = None,
    ) -> None:
        """Set what is left of the budget (both, or only the (un)authorised one) until
        ``reset_in`` seconds from now. When it is used up, API calls answer ``status`` with
        ``x-ratelimit-remaining: 0`` (and ``Retry-After`` when given) until the reset."""
        with self.lock:
            for key in (False, True) if authorized is None else (authorized,):
                budget = self._budgets[key]
                budget.remaining = remaining
                budget.reset = self.now() + reset_in
                budget.retry_after = retry_after
                budget.status = status

    def rate_limit_remaining(self, *, authorized: bool) -> int:
        with self.lock:
            budget = self._budgets[authorized]
            budget.refresh(self.now())
            return budget.remaining

    def fail_uploads_after(self, count: int) -> None:
        """The upload after the next ``count`` successful ones answers 500 and stores
        nothing (once)."""
        with self.lock:
            self._fail_after = count

    def stall_downloads(self, seconds: float) -> None:
        """Downloads send their headers, then wait ``seconds`` before the body (0: off)."""
        self._stall = seconds

    def endless_download(self, name: str) -> None:
        """Downloads of the asset ``name`` stream without end and without Content-Length."""
        self._endless.add(name)

    # -- state -----------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_release(
        self,
        tag: str,
        assets: Mapping[str, bytes] | None = None,
        *,
        draft: bool = False,
        prerelease: bool = False,
        name: str | None = None,
        body: str = "",
    ) -> ReleaseRecord:
        """Seed a release directly (no request, no quota)."""
        with self.lock:
            now = self.now()
            release = ReleaseRecord(
                id=self.next_id(),
                tag_name=tag,
                name=name if name is not None else tag,
                body=body,
                draft=draft,
                prerelease=prerelease,
                created_at=now,
                published_at=None if draft else now,
            )
            for asset_name, data in (assets or {}).items():
                release.assets.append(self.new_asset(asset_name, data))
            self.releases.append(release)
            return release

    def new_asset(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> AssetRecord:
        now = self.now()
        return AssetRecord(self.next_id(), name, None, content_type, data, now, now)

    def release_by_tag(self, tag: str) -> ReleaseRecord | None:
        return next((rel for rel in self.releases if rel.tag_name == tag), None)

    def newest_first(self, *, drafts: bool) -> list[ReleaseRecord]:
        visible = [rel for rel in self.releases if drafts or not rel.draft]
        return sorted(visible, key=lambda rel: (rel.created_at, rel.id), reverse=True)

    def latest(self) -> ReleaseRecord | None:
        candidates = [rel for rel in self.newest_first(drafts=False) if not rel.prerelease]
        return candidates[0] if candidates else None

    # -- JSON ------------------------------------------------------------------------------

    def _repo_api(self) -> str:
        return f"{self.api_url}/repos/{self.owner}/{self.repo}"

    def asset_json(self, release: ReleaseRecord, asset: AssetRecord) -> JSONType:
        download = (
            f"{self.download_base}/{self.owner}/{self.repo}/releases/download/"
            f"{quote(release.tag_name)}/{quote(asset.name)}"
        )
        return {
            "url": f"{self._repo_api()}/releases/assets/{asset.id}",
            "browser_download_url": download,
            "id": asset.id,
            "node_id": f"RA_{asset.id}",
            "name": asset.name,
            "label": asset.label,
            "state": "uploaded",
            "content_type": asset.content_type,
            "size": asset.size,
            "digest": asset.digest,
            "download_count": asset.download_count,
            "created_at": _iso(asset.created_at),
            "updated_at": _iso(asset.updated_at),
            "uploader": {"login": "picohub-bot", "id": 1, "type": "User"},
        }

    def release_json(self, release: ReleaseRecord) -> JSONType:
        api = self._repo_api()
        uploads = f"{self.upload_base}/repos/{self.owner}/{self.repo}/releases/{release.id}"
        return {
            "url": f"{api}/releases/{release.id}",
            "assets_url": f"{api}/releases/{release.id}/assets",
            "upload_url": f"{uploads}/assets{{?name,label}}",
            "html_url": (
                f"{self.download_base}/{self.owner}/{self.repo}/releases/tag/"
                f"{quote(release.tag_name)}"
            ),
            "id": release.id,
            "node_id": f"RE_{release.id}",
            "author": {"login": "picohub-bot", "id": 1, "type": "User"},
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "created_at": _iso(release.created_at),
            "published_at": _iso(release.published_at),
            "tarball_url": f"{api}/tarball/{quote(release.tag_name)}",
            "zipball_url": f"{api}/zipball/{quote(release.tag_name)}",
            "assets": [self.asset_json(release, asset) for asset in release.assets],
        }

    # -- used by the handler ---------------------------------------------------------------

    def budget(self, authorized: bool) -> _Budget:
        budget = self._budgets[authorized]
        budget.refresh(self.now())
        return budget

    def take_upload_failure(self) -> bool:
        """Whether this upload is the one to fail; counts a success otherwise."""
        if self._fail_after is None:
            return False
        if self._fail_after == 0:
            self._fail_after = None
            return True
        return False

    def count_upload(self) -> None:
        if self._fail_after is not None:
            self._fail_after -= 1

    def stopping(self) -> threading.Event:
        return self._stopping

    def stall_seconds(self) -> float:
        return self._stall

    def is_endless(self, name: str) -> bool:
        return name in self._endless


def _validation_failed(resource: str, code: str, field_name: str) -> JSONType:
    return {
        "message": "Validation Failed",
        "errors": [{"resource": resource, "code": code, "field": field_name}],
        "documentation_url": DOCS,
    }


def _json_object(raw: bytes) -> JSONType | None:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _message(text: str) -> JSONType:
    return {"message": text, "documentation_url": DOCS}


NOT_FOUND = _message("Not Found")


@dataclass
class _Answer:
    status: int
    payload: Any = None  # JSON, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub"
    timeout = 30  # a client that stops sending mid-request does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs cost 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def fake(self) -> FakeGitHub:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        return fake

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests_log is the record; stderr stays quiet

    # -- dispatch --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        # "./" segments removed, as web servers normalise them (RFC 3986): apt asks a flat
        # repository "deb URL ./" for URL/./InRelease.
        path = re.sub(r"/(?:\./)+", "/", unquote(parts.path))
        self._query = parts.query
        self._logged_path = parts.path
        if path.startswith("/api/"):
            self._api(method, path.removeprefix("/api"))
        elif path.startswith("/uploads/") and method == "POST":
            self._upload(path.removeprefix("/uploads"))
        elif method == "GET":
            self._download(path)
        else:
            self._drain()
            self._respond("api", False, _Answer(404, NOT_FOUND))

    def _auth(self) -> bool | None:
        """True: authorised; False: anonymous; None: a token that is not valid."""
        if self.fake.token is None:
            return True
        header = self.headers.get("Authorization")
        if header is None:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip() == self.fake.token:
            return True
        return None

    def _query_value(self, name: str) -> str | None:
        values = parse_qs(self._query).get(name)
        return values[0] if values else None

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- responses -------------------------------------------------------------------------

    def _respond(self, kind: str, authorized: bool, answer: _Answer, body: bytes = b"") -> None:
        if answer.payload is not None:
            body = json.dumps(answer.payload, indent=1).encode()
            answer.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._log(kind, authorized, answer.status)  # before the client can see the answer
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and answer.status not in (204, 304):
            self.wfile.write(body)

    def _log(self, kind: str, authorized: bool, status: int) -> None:
        entry = LoggedRequest(
            self.command, self._logged_path, self._query, status, authorized, kind
        )
        with self.fake.lock:
            self.fake.requests_log.append(entry)

    def _rate_headers(self, budget: _Budget) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(budget.limit),
            "X-RateLimit-Remaining": str(max(budget.remaining, 0)),
            "X-RateLimit-Used": str(budget.limit - max(budget.remaining, 0)),
            "X-RateLimit-Reset": str(int(budget.reset)),
            "X-RateLimit-Resource": "core",
        }

    def _rate_limited(self, budget: _Budget, authorized: bool) -> _Answer:
        who = "user ID 1" if authorized else self.client_address[0]
        answer = _Answer(budget.status, _message(f"API rate limit exceeded for {who}."))
        answer.headers.update(self._rate_headers(budget))
        if budget.retry_after is not None:
            answer.headers["Retry-After"] = str(budget.retry_after)
        return answer

    # -- the REST API ----------------------------------------------------------------------

    def _api(self, method: str, path: str) -> None:
        raw = self._drain()
        auth = self._auth()
        with self.fake.lock:
            answer = self._api_answer(method, path, raw, auth)
        self._respond("api", bool(auth), answer)

    def _api_answer(self, method: str, path: str, raw: bytes, auth: bool | None) -> _Answer:
        budget = self.fake.budget(bool(auth))
        if auth is None:
            answer = _Answer(401, _message("Bad credentials"))
        elif budget.remaining <= 0:
            return self._rate_limited(budget, auth)
        elif method != "GET" and not auth:
            answer = _Answer(401, _message("Requires authentication"))
        else:
            answer = self._route(method, path, raw, auth)
        if answer.payload is not None:
            body = json.dumps(answer.payload, indent=1).encode()
            etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
            answer.headers["ETag"] = etag
            answer.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
            answer.headers["Vary"] = "Accept, Authorization"
            if (
                method == "GET"
                and answer.status == 200
                and _etag_matches(self.headers.get("If-None-Match"), etag)
            ):
                answer = _Answer(304, None, {"ETag": etag})
        # GitHub: a 304 is free only for an authorised request.
        if not (auth and answer.status == 304):
            budget.remaining -= 1
        answer.headers.update(self._rate_headers(budget))
        return answer

    def _route(self, method: str, path: str, raw: bytes, authorized: bool) -> _Answer:
        fake = self.fake
        prefix = f"/repos/{fake.owner}/{fake.repo}/releases"
        if path != prefix and not path.startswith(prefix + "/"):
            return _Answer(404, NOT_FOUND)
        rest = path.removeprefix(prefix).strip("/")
        segments = rest.split("/") if rest else []
        data = _json_object(raw)
        answer = _Answer(404, NOT_FOUND)
        match method, segments:
            case _, _ if data is None:
                answer = _Answer(400, _message("Problems parsing JSON"))
            case "GET", []:
                answer = self._list_releases(authorized)
            case "POST", []:
                answer = self._create_release(data)
            case "GET", ["latest"]:
                answer = self._found(fake.latest())
            case "GET", ["tags", tag]:
                found = fake.release_by_tag(tag)  # GitHub finds published releases only
                answer = self._found(found if found is not None and not found.draft else None)
            case "GET" | "DELETE", ["assets", asset_id]:
                answer = self._asset(method, asset_id, authorized)
            case _, [release_id, *tail] if release_id.isdigit():
                answer = self._release(method, int(release_id), tail, data, authorized)
        return answer

    def _found(self, release: ReleaseRecord | None) -> _Answer:
        if release is None:
            return _Answer(404, NOT_FOUND)
        return _Answer(200, self.fake.release_json(release))

    def _page(self, items: list[JSONType], url: str) -> _Answer:
        per_page = min(int(self._query_value("per_page") or 30), 100)
        page = max(int(self._query_value("page") or 1), 1)
        answer = _Answer(200, items[(page - 1) * per_page : page * per_page])
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        if page < last:
            links.append(f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{url}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{url}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{url}?per_page={per_page}&page={page - 1}>; rel="prev"')
        if links:
            answer.headers["Link"] = ", ".join(links)
        return answer

    def _list_releases(self, authorized: bool) -> _Answer:
        fake = self.fake
        items = [fake.release_json(rel) for rel in fake.newest_first(drafts=authorized)]
        return self._page(items, f"{fake.api_url}/repos/{fake.owner}/{fake.repo}/releases")

    def _create_release(self, data: JSONType) -> _Answer:
        fake = self.fake
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            return _Answer(422, _validation_failed("Release", "missing_field", "tag_name"))
        if fake.release_by_tag(tag) is not None:
            return _Answer(422, _validation_failed("Release", "already_exists", "tag_name"))
        draft = bool(data.get("draft", False))
        now = fake.now()
        release = ReleaseRecord(
            id=fake.next_id(),
            tag_name=tag,
            name=data.get("name"),
            body=data.get("body"),
            draft=draft,
            prerelease=bool(data.get("prerelease", False)),
            created_at=now,
            published_at=None if draft else now,
            target_commitish=str(data.get("target_commitish") or "main"),
        )
        fake.releases.append(release)
        answer = _Answer(201, fake.release_json(release))
        answer.headers["Location"] = answer.payload["url"]
        return answer

    def _release(
        self, method: str, release_id: int, tail: list[str], data: JSONType, authorized: bool
    ) -> _Answer:
        fake = self.fake
        release = next((rel for rel in fake.releases if rel.id == release_id), None)
        if release is None or (release.draft and not authorized):
            return _Answer(404, NOT_FOUND)
        match method, tail:
            case "GET", []:
                return _Answer(200, fake.release_json(release))
            case "PATCH", []:
                return self._update_release(release, data)
            case "DELETE", []:
                fake.releases.remove(release)
                return _Answer(204)
            case "GET", ["assets"]:
                items = [fake.asset_json(release, asset) for asset in release.assets]
                return self._page(items, f"{fake.release_json(release)['url']}/assets")
        return _Answer(404, NOT_FOUND)

    def _update_release(self, release: ReleaseRecord, data: JSONType) -> _Answer:
        fake = self.fake
        tag = data.get("tag_name")
        if isinstance(tag, str) and tag != release.tag_name:
            if fake.release_by_tag(tag) is not None:
                return _Answer(422, _validation_failed("Release", "already_exists", "tag_name"))
            release.tag_name = tag
        for key in ("name", "body", "target_commitish"):
            if key in data:
                setattr(release, key, data[key])
        if "prerelease" in data:
            release.prerelease = bool(data["prerelease"])
        if "draft" in data:
            release.draft = bool(data["draft"])
            if release.draft:
                release.published_at = None
            elif release.published_at is None:
                release.published_at = fake.now()
        return _Answer(200, fake.release_json(release))

    def _asset(self, method: str, asset_id: str, authorized: bool) -> _Answer:
        fake = self.fake
        for release in fake.releases:
            for asset in release.assets:
                if str(asset.id) != asset_id or (release.draft and not authorized):
                    continue
                if method == "DELETE":
                    release.assets.remove(asset)
                    return _Answer(204)
                return _Answer(200, fake.asset_json(release, asset))
        return _Answer(404, NOT_FOUND)

    # -- uploads ---------------------------------------------------------------------------

    def _upload(self, path: str) -> None:
        fake = self.fake
        auth = self._auth()
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_header is None:
            self.close_connection = True
            self._respond("upload", bool(auth), _Answer(400, _message("Content-Length required")))
            return
        length = int(length_header)
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            self.close_connection = True
        with fake.lock:
            budget = fake.budget(bool(auth))
            if auth is None:
                answer = _Answer(401, _message("Bad credentials"))
            elif not auth:
                answer = _Answer(401, _message("Requires authentication"))
            elif budget.remaining <= 0:
                answer = self._rate_limited(budget, auth)
            else:
                answer = self._store_upload(path, data, length)
                budget.remaining -= 1
                answer.headers.update(self._rate_headers(budget))
        self._respond("upload", bool(auth), answer)

    def _store_upload(self, path: str, data: bytes, length: int) -> _Answer:
        fake = self.fake
        if len(data) != length:
            return _Answer(400, _message("Bad Content-Length: the body is shorter"))
        found = re.fullmatch(rf"/repos/{fake.owner}/{fake.repo}/releases/(\d+)/assets", path)
        release = None
        if found:
            release = next((rel for rel in fake.releases if rel.id == int(found[1])), None)
        if release is None:
            return _Answer(404, NOT_FOUND)
        name = self._query_value("name")
        if not name:
            return _Answer(422, _validation_failed("ReleaseAsset", "missing_field", "name"))
        name = github_asset_name(name)
        if release.asset(name) is not None:
            return _Answer(422, _validation_failed("ReleaseAsset", "already_exists", "name"))
        if fake.take_upload_failure():
            return _Answer(500, _message("Server Error"))
        content_type = self.headers.get("Content-Type") or "application/octet-stream"
        asset = fake.new_asset(name, data, content_type)
        asset.label = self._query_value("label")
        release.assets.append(asset)
        fake.count_upload()
        if fake.on_upload is not None:
            fake.on_upload(release, asset)
        return _Answer(201, fake.asset_json(release, asset))

    # -- downloads -------------------------------------------------------------------------

    def _find_download(self, path: str, authorized: bool) -> AssetRecord | None:
        fake = self.fake
        base = f"/{fake.owner}/{fake.repo}/releases/"
        release: ReleaseRecord | None = None
        name = ""
        if path.startswith(base + "latest/download/"):
            release, name = fake.latest(), path.removeprefix(base + "latest/download/")
        elif path.startswith(base + "download/"):
            tag, _, name = path.removeprefix(base + "download/").partition("/")
            release = fake.release_by_tag(tag)
            if release is not None and release.draft and not authorized:
                release = None
        elif path.startswith("/_objects/"):  # where redirect_downloads points
            wanted = path.removeprefix("/_objects/")
            for candidate in fake.releases:
                for asset in candidate.assets:
                    if str(asset.id) == wanted:
                        return asset
        return release.asset(name) if release is not None and name else None

    def _download(self, path: str) -> None:
        fake = self.fake
        authorized = bool(self._auth())
        with fake.lock:
            asset = self._find_download(path, authorized)
        if asset is None:
            self._respond("download", authorized, _Answer(404), b"Not Found")
            return
        if fake.redirect_downloads and not path.startswith("/_objects/"):
            location = f"{fake.download_base}/_objects/{asset.id}"
            self._respond("download", authorized, _Answer(302, None, {"Location": location}))
            return
        self._serve(asset, authorized)

    def _serve(self, asset: AssetRecord, authorized: bool) -> None:
        etag = f'"{asset.sha256}"'
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(int(asset.updated_at), usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if self._not_modified(etag, asset.updated_at):
            self._respond("download", authorized, _Answer(304, None, headers))
            return
        headers["Content-Type"] = "application/octet-stream"
        if self.fake.is_endless(asset.name):
            self._stream_endless(asset, headers, authorized)
            return
        status, start, end = 200, 0, asset.size
        byte_range = self.headers.get("Range")
        if byte_range is not None:
            parsed = _parse_range(byte_range, asset.size)
            if parsed == "unsatisfiable":
                headers["Content-Range"] = f"bytes */{asset.size}"
                self._respond("download", authorized, _Answer(416, None, headers))
                return
            if parsed is not None:
                status, (start, end) = 206, parsed
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{asset.size}"
        headers["Content-Length"] = str(end - start)
        self._log("download", authorized, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        with self.fake.lock:
            asset.download_count += 1
        if self.fake.stall_seconds() > 0:
            self.wfile.flush()
            if self.fake.stopping().wait(self.fake.stall_seconds()):
                self.close_connection = True
                return
        with suppress(ConnectionError):
            self.wfile.write(asset.data[start:end])

    def _not_modified(self, etag: str, updated_at: float) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # it wins over If-Modified-Since (RFC 9110)
            return _etag_matches(if_none_match, etag)
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            when = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(updated_at) <= when

    def _stream_endless(self, asset: AssetRecord, headers: dict[str, str], auth: bool) -> None:
        self.close_connection = True
        self._log("download", auth, 200)
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in _endless_chunks(asset.data):
            if self.fake.stopping().is_set():
                return
            try:
                self.wfile.write(chunk)
            except (ConnectionError, TimeoutError):
                return


def _endless_chunks(first: bytes) -> Iterator[bytes]:
    yield first
    filler = b"\0" * 65536
    while True:
        yield filler


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) for one ``bytes=`` range, "unsatisfiable", or None to ignore the header."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if found is None or found[1] == found[2] == "":
        return None  # not a form we know (or several ranges): answer the whole file
    if found[1] == "":  # bytes=-N: the last N bytes
        suffix = int(found[2])
        return (max(size - suffix, 0), size) if suffix > 0 and size > 0 else "unsatisfiable"
    start = int(found[1])
    end = min(int(found[2]) + 1, size) if found[2] else size
    if start >= size or end <= start:
        return "unsatisfiable"
    return start, end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegithub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--owner", default="picohub")
    parser.add_argument("--repo", default="picohub")
    parser.add_argument("--token", default="test-token", help="the one valid token")
    parser.add_argument("--no-token", action="store_true", help="every request is authorised")
    parser.add_argument("--public-url", help="base URL to put in answers (default: host:port)")
    parser.add_argument(
        "--release",
        action="append",
        default=[],
        metavar="TAG=DIR",
        help="publish a release of the files in DIR (in the order given; the last is latest)",
    )
    args = parser.parse_args(argv)
    fake = FakeGitHub(
        args.owner,
        args.repo,
        None if args.no_token else args.token,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
    )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    for spec in args.release:
        tag, _, directory = spec.partition("=")
        files = sorted(path for path in Path(directory).iterdir() if path.is_file())
        fake.add_release(tag, {path.name: path.read_bytes() for path in files})
    with fake:
        print(fake.download_base, flush=True)
        while not done.wait(1):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
