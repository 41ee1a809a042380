"""A small client for GitHub's REST API, as the release tool needs it (releases and assets).

Runs on the build machine only. The token goes into the ``Authorization`` header through a
requests auth object, so requests drops it on a redirect to another host and ``~/.netrc``
never replaces it; it is never logged, never in a ``repr`` and never in an error message.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from picohub.errors import PicohubError

log = logging.getLogger(__name__)

JSON = dict[str, Any]

API_VERSION = "2022-11-28"
USER_AGENT = "picohub-release"
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
MAX_WAIT = 120.0  # seconds we wait, in all, for a rate limit to pass before giving up
SECONDARY_WAIT = 60.0  # GitHub: without retry-after or reset, wait at least a minute
PER_PAGE = 100
MAX_PAGES = 50


@dataclass(frozen=True)
class GitHubRepo:
    """A repository on GitHub (or on a server answering like it, such as the tests' fake)."""

    owner: str
    name: str
    api_url: str = "https://api.github.com"
    token: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"/repos/{self.owner}/{self.name}"


class GitHubError(PicohubError):
    """GitHub answered a request with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: Sequence[Mapping[str, Any]] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.errors = tuple(errors)

    def has_error(self, code: str, field_name: str) -> bool:
        """Whether GitHub's validation errors include ``code`` for ``field_name``."""
        return any(
            error.get("code") == code and error.get("field") == field_name for error in self.errors
        )


class _TokenAuth(AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(<hidden>)"


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _describe(response: requests.Response) -> tuple[str, list[Mapping[str, Any]]]:
    """GitHub's message (with its validation errors) and the errors, from an error answer."""
    try:
        payload = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:200]
        return text or response.reason or "no message", []
    if not isinstance(payload, dict):
        return "no message", []
    message = str(payload.get("message") or response.reason or "no message")[:300]
    errors: list[Mapping[str, Any]] = [
        error for error in payload.get("errors") or [] if isinstance(error, dict)
    ]
    # A "custom" error says what is wrong in its own message (an immutable release's burnt
    # tag, say): shown in full, the codes only where there is none.
    details = [
        str(error.get("message") or "")[:500]
        or " ".join(str(error[key]) for key in ("resource", "field", "code") if key in error)
        for error in errors
    ]
    if details:
        message = f"{message} ({'; '.join(details)})"
    return message, errors


class GitHubClient:
    """Requests to GitHub's REST API for one repository.

    A rate-limit answer (403 or 429 with ``x-ratelimit-remaining: 0``, or with ``retry-after``)
    is waited out and the request repeated, for at most ``max_wait`` seconds in all; beyond
    that a :class:`PicohubError` says when to retry. ``sleep`` and ``clock`` are for tests.
    """

    def __init__(
        self,
        repo: GitHubRepo,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.repo = repo
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_wait
        self._auth = _TokenAuth(repo.token) if repo.token else None

    def __repr__(self) -> str:
        return f"GitHubClient({self.repo!r})"

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return self.repo.api_url.rstrip("/") + path_or_url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        expect: Sequence[int] = (200,),
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        upload: Path | None = None,
        content_type: str | None = None,
    ) -> requests.Response:
        """Send one request (repeated after a rate limit) and return an expected answer."""
        url = self._url(path_or_url)
        where = f"{method} {urlsplit(url).path}"
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        waited = 0.0
        while True:
            response = self._send(method, url, where, headers, json_body, params, upload)
            log.debug("%s: %d", where, response.status_code)
            limit = self._rate_limit(response)
            if limit is None:
                break
            wait, resume_at = limit
            if waited + wait > self._max_wait:
                raise PicohubError(
                    f"GitHub's API rate limit is used up ({where}); it allows requests again "
                    f"at {_utc(resume_at)}",
                    hint=f"retry after {_utc(resume_at)}"
                    + ("" if self.repo.token else ", or give a token (GITHUB_TOKEN)"),
                )
            log.warning(
                "GitHub's API rate limit is used up; waiting %d s (until %s)",
                math.ceil(wait),
                _utc(resume_at),
            )
            self._sleep(wait)
            waited += wait
        if response.status_code not in expect:
            raise self._error(response, where)
        return response

    def _send(
        self,
        method: str,
        url: str,
        where: str,
        headers: Mapping[str, str],
        json_body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
        upload: Path | None,
    ) -> requests.Response:
        try:
            # An upload's file is opened again for each attempt, so a retry sends it whole.
            with upload.open("rb") if upload else contextlib.nullcontext() as body:
                return self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    json=json_body if upload is None else None,
                    data=body,
                    params=params,
                    auth=self._auth,
                    timeout=TIMEOUT,
                )
        except requests.Timeout as exc:
            raise PicohubError(f"GitHub did not answer {where} in time") from exc
        except requests.RequestException as exc:
            raise PicohubError(f"cannot reach GitHub for {where} ({type(exc).__name__})") from exc
        except OSError as exc:
            raise PicohubError(f"cannot read {upload}: {exc.strerror or exc}") from exc

    def _rate_limit(self, response: requests.Response) -> tuple[float, float] | None:
        """(seconds to wait, when requests are allowed again) for a rate-limit answer."""
        if response.status_code not in (403, 429):
            return None
        now = self._clock()
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            try:
                seconds = max(float(retry_after), 0.0)
            except ValueError:  # the HTTP-date form
                try:
                    seconds = max(parsedate_to_datetime(retry_after).timestamp() - now, 0.0)
                except (TypeError, ValueError):
                    seconds = SECONDARY_WAIT
            return seconds, now + seconds
        if response.headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(response.headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                reset = now + SECONDARY_WAIT
            # A second more than the reset, as our clock and GitHub's may differ a little.
            return max(reset - now, 0.0) + 1.0, reset
        message, _ = _describe(response)
        if "rate limit" in message.lower():  # a secondary rate limit without retry-after
            return SECONDARY_WAIT, now + SECONDARY_WAIT
        return None

    def _error(self, response: requests.Response, where: str) -> GitHubError:
        message, errors = _describe(response)
        status = response.status_code
        hint = None
        if status == 401:
            hint = "check the GitHub token: GitHub did not accept it"
        elif status in (403, 404) and not self.repo.token:
            hint = "this needs a GitHub token with write access to the repository"
        elif status in (403, 404):
            hint = f"check that the token may write to {self.repo.owner}/{self.repo.name}"
        elif status == 422 and "immutable release" in message:
            hint = (
                "the repository's releases are immutable: a published release is never "
                "changed and a deleted one's tag is never used again; release a new version"
            )
        return GitHubError(
            f"GitHub answered {status} to {where}: {message}",
            status=status,
            errors=errors,
            hint=hint,
        )

    def json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        response = self.request(method, path_or_url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            where = f"{method} {urlsplit(response.url).path}"
            raise PicohubError(f"GitHub's answer to {where} is not JSON") from exc

    def _object(self, method: str, path_or_url: str, **kwargs: Any) -> JSON:
        payload = self.json(method, path_or_url, **kwargs)
        if not isinstance(payload, dict):
            raise PicohubError(f"GitHub's answer to {method} {path_or_url} is not an object")
        return payload

    def _pages(self, path: str) -> list[JSON]:
        """Every item of a paginated list, following the ``Link: rel="next"`` header."""
        items: list[JSON] = []
        url: str | None = self._url(path)
        params: Mapping[str, str | int] | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = self.request("GET", url, params=params)
            try:
                page = response.json()
            except ValueError as exc:
                raise PicohubError(f"GitHub's answer to GET {path} is not JSON") from exc
            if not isinstance(page, list):
                raise PicohubError(f"GitHub's answer to GET {path} is not a list")
            items.extend(item for item in page if isinstance(item, dict))
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries them
            if url is not None and not url.startswith(self.repo.api_url.rstrip("/") + "/"):
                raise PicohubError(f"GitHub's next page of {path} is on another host")
        raise PicohubError(f"GET {path} has more than {MAX_PAGES} pages")

    # -- releases ------------------------------------------------------------------------

    def list_releases(self) -> list[JSON]:
        """Every release, newest first (drafts too, when the token may see them)."""
        return self._pages(f"{self.repo.path}/releases")

    def get_release(self, release_id: int) -> JSON:
        return self._object("GET", f"{self.repo.path}/releases/{release_id}")

    def create_release(
        self, *, tag: str, name: str, body: str, draft: bool, prerelease: bool
    ) -> JSON:
        fields = {
            "tag_name": tag,
            "name": name,
            "body": body,
            "draft": draft,
            "prerelease": prerelease,
        }
        return self._object("POST", f"{self.repo.path}/releases", json_body=fields, expect=(201,))

    def update_release(self, release_id: int, fields: Mapping[str, Any]) -> JSON:
        return self._object("PATCH", f"{self.repo.path}/releases/{release_id}", json_body=fields)

    def delete_release(self, release_id: int) -> None:
        self.request("DELETE", f"{self.repo.path}/releases/{release_id}", expect=(204,))

    # -- assets --------------------------------------------------------------------------

    def list_assets(self, release_id: int) -> list[JSON]:
        return self._pages(f"{self.repo.path}/releases/{release_id}/assets")

    def upload_asset(
        self,
        release: Mapping[str, Any],
        path: Path,
        *,
        name: str,
        content_type: str,
        label: str | None = None,
    ) -> JSON:
        """Upload ``path`` as asset ``name`` to the URL the release names for uploads."""
        template = str(release.get("upload_url") or "")
        if not template:
            raise PicohubError(f"GitHub gave release {release.get('id')} no upload URL")
        url = re.sub(r"\{[^}]*\}$", "", template)  # drop the URI template "{?name,label}"
        params: dict[str, str | int] = {"name": name}
        if label is not None:
            params["label"] = label
        return self._object(
            "POST",
            url,
            params=params,
            upload=path,
            content_type=content_type,
            expect=(201,),
        )

    def get_asset(self, asset_id: int) -> JSON:
        return self._object("GET", f"{self.repo.path}/releases/assets/{asset_id}")

    def delete_asset(self, asset_id: int) -> None:
        self.request("DELETE", f"{self.repo.path}/releases/assets/{asset_id}", expect=(204,))
