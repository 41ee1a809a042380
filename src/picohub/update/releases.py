"""The GitHub Releases API, for what the release assets cannot say: which release a
pre-release channel follows, and release notes. Asset downloads are not API calls, and
GitHub counts an anonymous 304 against the rate limit of 60 requests an hour.

The routine check on the stable channel makes no API call (see :mod:`picohub.update.check`);
its notes are asked for only when there is an update. Every API request is conditional: the
answer and its ETag are kept in the cache and a 304 reuses them. GitHub counts a 304 against
the rate limit (60 requests an hour per address) unless the request is authorised, so a token
(``token_file``) makes repeated checks free; it goes as ``Authorization: Bearer`` to the API
host only, never to asset downloads, redirects to another host or a log.

Only the first page of the release list is read: 30 releases, newest first (by creation).
A release is made only from a tag equal to the package version, so versions grow with
creation and the newest version is among the newest releases; a second page would cost a
second API call on every check, for releases older still. 30 rather than fewer leaves room
for drafts (listed to an authorised caller) and for tags that are not picohub releases.
The body is capped at 4 MiB (30 releases with long notes and many assets stay well below).

Versions compare as Debian versions, and a tag counts only if it is ``v`` + a plain version
(:data:`picohub.versions.VERSION`, which allows no ``~``). So a pre-release must sort
below its final release the Debian way without ``~``: 1.2.90 before 1.3.0, say; 1.3.0-rc1
sorts *after* 1.3.0.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import requests
from debian.debian_support import Version

from picohub import jsontext
from picohub.errors import PicohubError
from picohub.files import write_atomically
from picohub.settings import Settings
from picohub.update.cache import ReleaseCache
from picohub.update.check import CheckResult, check, remembered
from picohub.update.config import Channel, UpdateConfig
from picohub.update.failures import looks_like_a_web_page, web_page_instead
from picohub.update.http import DownloadError, Limits, fetch_conditional, shown
from picohub.versions import tag_of, version_of_tag

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"  # the REST API version whose answers this module reads
PER_PAGE = 30
MAX_LIST_BYTES = 4 << 20
MAX_RELEASE_BYTES = 1 << 20  # one release: notes of up to 125,000 characters, its assets
MAX_NOTES_BYTES = 64 << 10
API_DEADLINE = 60.0  # seconds for one API answer; the API is quick or not there

# Control characters other than tab and newline: notes are printed to terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Release:
    """What the selection needs of one release in the API's list."""

    tag: str
    draft: bool = False
    prerelease: bool = False
    body: str | None = field(default=None, repr=False)  # the notes, as written (Markdown)


# -- pure: which release -----------------------------------------------------------------


def newest_release(releases: Iterable[Release], channel: Channel) -> Release | None:
    """The release of ``channel`` with the highest Debian version, None when there is none.

    Drafts never count; pre-releases only on the pre-release channel; tags that are not
    ``v`` + a plain version are ignored. Of equal versions the first listed wins.
    """
    best: tuple[Version, Release] | None = None
    for release in releases:
        if release.draft or (release.prerelease and channel is not Channel.PRERELEASE):
            continue
        version = version_of_tag(release.tag)
        if version is None:
            continue
        try:
            parsed = Version(version)
        except ValueError:
            continue
        if best is None or parsed > best[0]:
            best = (parsed, release)
    return None if best is None else best[1]


def parse_releases(data: object) -> tuple[Release, ...]:
    """The releases in an answer to ``GET /repos/OWNER/REPO/releases``; entries without a
    tag or the draft and prerelease flags are skipped. Not a list: ValueError."""
    if not isinstance(data, list):
        raise ValueError("not a list of releases")
    releases = []
    for item in data:
        if not isinstance(item, dict):
            continue
        tag, draft, prerelease = item.get("tag_name"), item.get("draft"), item.get("prerelease")
        if not (isinstance(tag, str) and isinstance(draft, bool) and isinstance(prerelease, bool)):
            continue
        body = item.get("body")
        releases.append(Release(tag, draft, prerelease, body if isinstance(body, str) else None))
    return tuple(releases)


def clean_notes(body: str | None) -> str | None:
    """Notes fit for a terminal: no control characters but tab and newline, at most
    :data:`MAX_NOTES_BYTES` (cut at a character boundary, and said so)."""
    if body is None:
        return None
    text = _CONTROL.sub("", body.replace("\r\n", "\n")).strip()
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_NOTES_BYTES:
        return text
    kept = encoded[:MAX_NOTES_BYTES].decode("utf-8", errors="ignore").rstrip()
    return f"{kept}\n[notes cut at {MAX_NOTES_BYTES // 1024} KiB; the release page has them all]"


# -- the API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasesApi:
    """The releases of one repository through the REST API, every answer conditional."""

    api_url: str
    owner: str
    repo: str
    cache: Path  # the last answers and their ETags
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: UpdateConfig, settings: Settings) -> ReleasesApi:
        """Reads the token file now: one that cannot be read is a configuration error."""
        return cls(
            config.api_url.rstrip("/"),
            config.owner,
            config.repo,
            ReleaseCache(settings).api_dir,
            config.token(),
        )

    def _url(self, tail: str) -> str:
        repo = f"{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"
        return f"{self.api_url}/repos/{repo}/releases{tail}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _get_json(
        self, session: requests.Session, url: str, name: str, max_bytes: int
    ) -> tuple[object, bool]:
        """The JSON at ``url`` and whether it is the remembered answer (a 304). ``name`` is
        the answer's slot in the cache: one answer per slot, its ETag sent only for the URL
        it came from."""
        self.cache.mkdir(parents=True, exist_ok=True)
        self.cache.chmod(0o700)  # an authorised list shows drafts: for root's eyes only
        target, memory = self.cache / f"{name}.json", self.cache / f"{name}.conditional.json"
        validators = remembered(memory)
        fetched = fetch_conditional(
            session,
            url,
            target,
            limits=Limits(max_bytes=max_bytes, deadline=API_DEADLINE),
            etag=validators.get("etag") if validators.get("url") == url else None,
            headers=self._headers(),
        )
        if fetched.status == "fetched":
            write_atomically(memory, json.dumps({"url": url, "etag": fetched.etag or ""}))
        try:
            return jsontext.loads(target.read_bytes()), fetched.status == "not-modified"
        except (OSError, ValueError) as exc:
            head = target.read_bytes()[:512] if target.is_file() else b""
            target.unlink(missing_ok=True)  # the next request asks afresh
            if looks_like_a_web_page(head):
                message, hint = web_page_instead(f"the GitHub API's {name}")
                raise DownloadError(message, hint=hint) from exc
            raise DownloadError(
                f"{shown(url)} answered something that is not JSON",
                hint="the API or something between us and it is misbehaving; try again later",
            ) from exc

    def list_releases(self, session: requests.Session) -> tuple[Release, ...]:
        """The first page of releases, newest first. A rate limit raises RateLimited,
        which names when to try again."""
        url = self._url(f"?per_page={PER_PAGE}")
        data, not_modified = self._get_json(session, url, "releases", MAX_LIST_BYTES)
        log.debug("release list: %s", "unchanged (304)" if not_modified else "fetched")
        try:
            return parse_releases(data)
        except ValueError as exc:
            (self.cache / "releases.json").unlink(missing_ok=True)
            raise DownloadError(f"{shown(url)} answered {exc}") from exc

    def notes(self, session: requests.Session, tag: str) -> str | None:
        """The notes of the release ``tag``; None, and a warning saying why, when they
        cannot be had: notes are never worth failing a check for."""
        if version_of_tag(tag) is None:
            log.warning("no release notes: %r is not a release tag", tag)
            return None
        url = self._url(f"/tags/{quote(tag, safe='')}")
        try:
            data, _not_modified = self._get_json(session, url, "release", MAX_RELEASE_BYTES)
        except PicohubError as exc:  # RateLimited says when to retry
            log.warning("the release notes of %s are not available: %s", tag, exc)
            return None
        body = data.get("body") if isinstance(data, dict) else None
        if body is not None and not isinstance(body, str):
            log.warning("the release notes of %s are not available: not text", tag)
            return None
        return clean_notes(body)


# -- the check of a channel ----------------------------------------------------------------


def channel_release(
    api: ReleasesApi, session: requests.Session, channel: Channel
) -> Release | None:
    """The release ``channel`` follows: None for stable (the latest release's assets say
    which, without an API call); for pre-releases the newest in the API's list."""
    if channel is Channel.STABLE:
        return None
    release = newest_release(api.list_releases(session), channel)
    if release is None:
        raise PicohubError(
            f"none of the newest {PER_PAGE} releases of {api.owner}/{api.repo} "
            "is a published release tagged v<version>",
            hint="publish a release, or set channel = stable in /etc/picohub/update.conf",
        )
    return release


def channel_tag(config: UpdateConfig, settings: Settings, session: requests.Session) -> str | None:
    """The tag to check for the configured channel (None: the latest release)."""
    api = ReleasesApi.from_config(config, settings)
    release = channel_release(api, session, config.channel)
    return None if release is None else release.tag


def check_channel(
    config: UpdateConfig, settings: Settings, session: requests.Session
) -> CheckResult:
    """``picohub-update check``: the newest release of the configured channel, checked
    (signed index, packages that would change), with its notes when it is an update."""
    api = ReleasesApi.from_config(config, settings)
    release = channel_release(api, session, config.channel)
    result = check(config, settings, session, tag=None if release is None else release.tag)
    if not result.update_available:
        return result
    if release is not None:  # the list has the notes already: no second API call
        return replace(result, notes=clean_notes(release.body))
    return replace(result, notes=api.notes(session, tag_of(result.version)))
