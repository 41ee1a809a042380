"""The fake GitHub's state and its server (see the package's docstring)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from tests.fakegithub.handler import Handler
from tests.fakegithub.records import (
    AUTHORIZED_LIMIT,
    UNAUTHORIZED_LIMIT,
    WINDOW,
    AssetRecord,
    Budget,
    JSONType,
    LoggedRequest,
    ReleaseRecord,
    iso,
)
from tests.threaded_server import ThreadedServer


class FakeGitHub(ThreadedServer):
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
        # While this file exists, a .deb's download stops halfway (the fault campaign).
        self.hold_debs_while: Path | None = None
        self.on_upload: Callable[[ReleaseRecord, AssetRecord], None] | None = None
        # The repository's "immutable releases" setting: a release is locked when published,
        # and once deleted its tag is never available to a release again.
        self.immutable_releases = False
        self.burnt_tags: set[str] = set()
        # The release marked latest (make_latest); None: GitHub's legacy choice.
        self.latest_id: int | None = None
        self._digest_reads = 0
        self.lock = threading.RLock()
        self._ids = iter(range(1001, 10**9))
        self._offset = 0.0
        self._budgets = {
            False: Budget(UNAUTHORIZED_LIMIT, UNAUTHORIZED_LIMIT, self.now() + WINDOW),
            True: Budget(AUTHORIZED_LIMIT, AUTHORIZED_LIMIT, self.now() + WINDOW),
        }
        self._fail_after: int | None = None
        self._stall = 0.0
        self._endless: set[str] = set()
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self._stopping.clear()
        return self.serve(server, "fakegithub")

    def stop(self) -> None:
        self._stopping.set()  # ends stalled and endless downloads
        super().stop()

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

    def delay_digests(self, reads: int) -> None:
        """An asset uploaded from now on answers ``digest: null`` to its first ``reads``
        reads (the upload's own answer included), as GitHub may right after an upload."""
        self._digest_reads = reads

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
        """The release marked latest, else (legacy) the newest published full release."""
        candidates = [rel for rel in self.newest_first(drafts=False) if not rel.prerelease]
        marked = [rel for rel in candidates if rel.id == self.latest_id]
        return (marked or candidates or [None])[0]

    def published(self, release: ReleaseRecord, make_latest: object) -> None:
        """``release`` was just published (created or changed from a draft): mark it latest
        unless ``make_latest`` says otherwise (GitHub's default is ``"true"``), and lock it
        when releases are immutable."""
        release.published_at = self.now()
        release.immutable = self.immutable_releases
        self.mark_latest(release, "true" if make_latest is None else make_latest)

    def mark_latest(self, release: ReleaseRecord, make_latest: object) -> None:
        if release.draft or release.prerelease:
            return  # GitHub: drafts and prereleases cannot be latest
        if make_latest == "true":
            self.latest_id = release.id
        elif make_latest == "legacy":
            self.latest_id = None

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
            "digest": self._digest_read(asset),
            "download_count": asset.download_count,
            "created_at": iso(asset.created_at),
            "updated_at": iso(asset.updated_at),
            "uploader": {"login": "picohub-bot", "id": 1, "type": "User"},
        }

    def _digest_read(self, asset: AssetRecord) -> str | None:
        if asset.digest_pending > 0:
            asset.digest_pending -= 1
            return None
        return asset.digest

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
            "immutable": release.immutable,
            "created_at": iso(release.created_at),
            "published_at": iso(release.published_at),
            "tarball_url": f"{api}/tarball/{quote(release.tag_name)}",
            "zipball_url": f"{api}/zipball/{quote(release.tag_name)}",
            "assets": [self.asset_json(release, asset) for asset in release.assets],
        }

    # -- used by the handler ---------------------------------------------------------------

    def budget(self, authorized: bool) -> Budget:
        budget = self._budgets[authorized]
        budget.refresh(self.now())
        return budget

    def digest_reads(self) -> int:
        return self._digest_reads

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
