"""picohub as a hawkBit device: the DDI client (requests 2.28, nothing else).

One :class:`DdiClient` talks to one controller resource,
``{base}/{tenant}/controller/v1/{controllerId}``, authenticated with the target's security
token (``Authorization: TargetToken ...``). The token is read from a file only root can
read (:func:`read_token`); it goes only to the hawkBit server's own origin (scheme, host,
port), through :class:`TargetTokenAuth`, never to a CDN an artifact link or a redirect
points at. Control links (``deploymentBase``, ``cancelAction``, ``configData``) must stay
on that origin; artifact links may point elsewhere (hawkBit can hand out CDN links), and
there the hash from the deployment proves the bytes: its SHA-256, or its SHA-1 when the
server gives no SHA-256 (goosebit). A SHA-1 is acceptable because it only proves the
transfer; the bundle's signature against the pinned release key proves the release.

Every read is bounded as :mod:`picohub.update.http` bounds it; artifacts are fetched with
:func:`picohub.update.download.fetch_file` (a ``.part`` resumed with a Range request, the
size and hash checked before the file appears). What to do with a poll answer is
:mod:`picohub.update.hawkbit_poll`.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

from picohub import jsontext
from picohub.errors import PicohubError
from picohub.update.download import Digest, fetch_file
from picohub.update.failures import describe_transport_failure
from picohub.update.hawkbit_model import (
    Artifact,
    Cancel,
    ControllerBase,
    Deployment,
    HawkbitAnswerError,
    config_data_body,
    parse_cancel,
    parse_controller_base,
    parse_deployment,
)
from picohub.update.http import (
    ChecksumMismatch,
    Clock,
    DownloadError,
    Limits,
    Progress,
    TooLarge,
    copy_bounded,
    error_body,
    is_loopback,
    open_following,
    open_session,
    shown,
    status_error,
)

log = logging.getLogger(__name__)

HAL_JSON = "application/hal+json"
# A poll answer, a deployment or a cancel is a few KB; a deployment with many chunks more.
MAX_JSON_BYTES = 1 << 20
JSON_LIMITS = Limits(max_bytes=MAX_JSON_BYTES, read_timeout=30.0, deadline=120.0)
MAX_TOKEN_BYTES = 4096


class HawkbitError(PicohubError):
    """Talking to the hawkBit server failed; nothing was installed because of it."""


class ArtifactRefused(HawkbitError):
    """An artifact's bytes are not those the deployment describes: trying again is no use."""


def read_token(path: Path) -> str:
    """The target's security token from ``path``, a file of root's (or ours) that no one
    else can read: a token others can read lets them pose as this hub."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise HawkbitError(
            f"the hawkBit token file {path} does not exist",
            hint="write the target's security token from hawkBit into it, mode 0600",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise HawkbitError(f"the hawkBit token file {path} is not a regular file")
    if info.st_uid not in (0, os.geteuid()):
        raise HawkbitError(
            f"the hawkBit token file {path} belongs to user {info.st_uid}, not root",
            hint=f"chown root:root {path}",
        )
    if info.st_mode & 0o077:
        raise HawkbitError(
            f"refused the hawkBit token file {path}: others can read it "
            f"(mode {stat.S_IMODE(info.st_mode):04o})",
            hint=f"chmod 600 {path}; consider the token seen and set a new one in hawkBit",
        )
    data = path.read_bytes()[: MAX_TOKEN_BYTES + 1]
    token = data.decode("ascii", errors="replace").strip()
    if not token or len(data) > MAX_TOKEN_BYTES or not token.isprintable() or " " in token:
        raise HawkbitError(
            f"the hawkBit token file {path} does not hold one token",
            hint="it holds the target's security token only, on one line",
        )
    return token


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class TargetTokenAuth(requests.auth.AuthBase):
    """``Authorization: TargetToken ...`` on requests to the server's origin only."""

    def __init__(self, server_url: str, token: str) -> None:
        self._origin = origin(server_url)
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url is not None and origin(request.url) == self._origin:
            request.headers["Authorization"] = f"TargetToken {self._token}"
        else:
            request.headers.pop("Authorization", None)
        return request


@dataclass(frozen=True)
class Server:
    """Where this hub is a hawkBit target."""

    base_url: str  # e.g. https://hawkbit.example.org (a path prefix is kept)
    tenant: str
    controller_id: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise HawkbitError(f"the hawkBit URL {self.base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise HawkbitError(
                f"the hawkBit URL {shown(self.base_url)} is plain http",
                hint="use https: the token and the deployments must not travel in clear",
            )
        for name, value in (("tenant", self.tenant), ("controller id", self.controller_id)):
            if not value or "/" in value or not value.isprintable():
                raise HawkbitError(f"the hawkBit {name} {value!r} is not usable in a URL")

    @property
    def controller_url(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/{quote(self.tenant)}/controller/v1/{quote(self.controller_id)}"

    @property
    def https_only(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"


class DdiClient:
    """The DDI calls of one controller; see the module docstring."""

    def __init__(self, server: Server, token: str, session: requests.Session | None = None):
        self.server = server
        self.session = session or open_session("picohub-hawkbit")
        self.session.auth = TargetTokenAuth(server.base_url, token)

    # -- reading -------------------------------------------------------------------------

    def _control(self, link: str) -> str:
        """A control link from the server, refused unless it stays on the server."""
        if origin(link) != origin(self.server.base_url):
            raise HawkbitAnswerError(
                "poll answer",
                f"the link {shown(link)} leads away from {shown(self.server.base_url)}",
            )
        return link

    def _get_json(self, url: str) -> object:
        clock = Clock(JSON_LIMITS.deadline)
        response, final = open_following(
            self.session, url, {"Accept": HAL_JSON}, JSON_LIMITS, clock
        )
        with closing(response):
            if response.status_code != 200:
                raise self._refused(final, response)
            body = io.BytesIO()
            try:
                copy_bounded(
                    response,
                    body,
                    limit=MAX_JSON_BYTES,
                    url=final,
                    limits=JSON_LIMITS,
                    clock=clock,
                )
            except TooLarge:
                raise HawkbitError(
                    f"{shown(final)} sent more than {MAX_JSON_BYTES} bytes; refused"
                ) from None
        try:
            return jsontext.loads(body.getvalue())
        except jsontext.JsonRefused as exc:
            raise HawkbitError(f"{shown(final)} did not answer JSON: {exc}") from exc

    def _refused(self, url: str, response: requests.Response) -> PicohubError:
        if response.status_code in (401, 403):
            return HawkbitError(
                f"{shown(url)} answered {response.status_code}: the server does not accept "
                f"this hub as target {self.server.controller_id!r}",
                hint="check the token file against the target's security token in hawkBit",
            )
        return status_error(url, response.status_code, response.headers, body=error_body(response))

    def poll(self) -> ControllerBase:
        """``GET`` the controller resource: the polling time and what the server has."""
        return parse_controller_base(self._get_json(self.server.controller_url))

    def deployment(self, link: str) -> Deployment:
        return parse_deployment(self._get_json(self._control(link)))

    def cancel(self, link: str) -> Cancel:
        return parse_cancel(self._get_json(self._control(link)))

    # -- sending -------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: Mapping[str, object]) -> None:
        limits = JSON_LIMITS
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                headers={"Accept": "application/json"},
                timeout=(limits.connect_timeout, limits.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            message, hint = describe_transport_failure(url, exc)
            raise DownloadError(f"sending to {shown(url)}: {message}", hint=hint) from exc
        with closing(response):
            if not 200 <= response.status_code < 300:
                raise self._refused(url, response)

    def put_config_data(self, attributes: Mapping[str, str]) -> None:
        """``PUT configData``: this hub's attributes, merged into the target's."""
        self._send("PUT", f"{self.server.controller_url}/configData", config_data_body(attributes))

    def feedback(self, action_id: str, body: Mapping[str, object]) -> None:
        """``POST deploymentBase/{actionId}/feedback``."""
        url = f"{self.server.controller_url}/deploymentBase/{quote(action_id)}/feedback"
        self._send("POST", url, body)

    def cancel_feedback(self, action_id: str, body: Mapping[str, object]) -> None:
        """``POST cancelAction/{actionId}/feedback``."""
        url = f"{self.server.controller_url}/cancelAction/{quote(action_id)}/feedback"
        self._send("POST", url, body)

    # -- artifacts -----------------------------------------------------------------------

    def download(
        self,
        artifact: Artifact,
        directory: Path,
        *,
        max_bytes: int,
        progress: Progress | None = None,
    ) -> Path:
        """Fetch ``artifact`` into ``directory``: resumed, at most its size (and at most
        ``max_bytes``), in place only with the size and the hash the deployment gives (its
        SHA-256, else its SHA-1: see the module docstring)."""
        if artifact.size > max_bytes:
            raise HawkbitError(
                f"artifact {artifact.filename} has {artifact.size} bytes, more than the "
                f"limit of {max_bytes}",
                hint="a picohub release bundle is far smaller; check what was assigned",
            )
        directory.mkdir(parents=True, exist_ok=True)
        url = artifact.url(https_only=self.server.https_only)
        name, wanted = artifact.digest
        algorithm = Digest(name)
        log.info(
            "fetching %s (%d bytes, %s %s) from hawkBit",
            artifact.filename,
            artifact.size,
            algorithm.label,
            wanted,
        )
        try:
            return fetch_file(
                self.session,
                url,
                directory / artifact.filename,
                size=artifact.size,
                sha256=wanted,
                algorithm=algorithm,
                limits=Limits(max_bytes=artifact.size, deadline=3600.0),
                progress=progress,
            )
        except ChecksumMismatch as exc:
            raise ArtifactRefused(
                f"artifact {artifact.filename} from {shown(url)} does not match the "
                f"{algorithm.label} the deployment gives; deleted",
                hint="the download was damaged or tampered with, or the server's copy is",
            ) from exc
