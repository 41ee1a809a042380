"""A small client for hawkBit's Management API (``/rest/v1``), as the release tool needs it.

Runs on the build machine only. HTTP Basic auth with a user and password from a file or
the environment (:func:`credentials`); the password goes only to the server's own origin
(requests drops it on a redirect elsewhere), is never logged and never in a ``repr`` or an
error. Plain http is refused except to loopback: the password must not travel in clear.

The Management API has no tenant in its paths: a user belongs to a tenant (a single-tenant
hawkBit has one, ``DEFAULT``). The tenant given is the one hubs poll (``/{tenant}/controller``)
and is shown with the result. hawkBit's error answers (``{"errorCode", "message"}``) are
shown in full.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from picohub.errors import PicohubError, UsageError
from picohub.update.http import is_loopback

log = logging.getLogger(__name__)

USER_VARIABLE = "PICOHUB_HAWKBIT_USER"
PASSWORD_VARIABLE = "PICOHUB_HAWKBIT_PASSWORD"  # noqa: S105 (a variable's name)
USER_AGENT = "picohub-release"
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
UPLOAD_TIMEOUT = (10.0, 600.0)  # hawkBit hashes and stores the whole file before answering
REST = "/rest/v1"
MAX_USER_FILE = 4096
PAGE = 100


class HawkbitError(PicohubError):
    """hawkBit refused a request, or could not be reached."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def credentials(user_file: Path | None, environ: Mapping[str, str] = os.environ) -> Credentials:
    """``USER:PASSWORD`` on the first line of ``user_file``, else the two variables."""
    if user_file is not None:
        try:
            text = user_file.read_bytes()[: MAX_USER_FILE + 1].decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read the hawkBit user file {user_file}: {reason}") from exc
        user, colon, password = (text.splitlines() or [""])[0].partition(":")
        if not colon or not user or not password or len(text) > MAX_USER_FILE:
            raise UsageError(
                f"the hawkBit user file {user_file} does not hold USER:PASSWORD",
                hint="its first line is the Management API user, a colon and the password",
            )
        return Credentials(user, password)
    user = environ.get(USER_VARIABLE, "")
    password = environ.get(PASSWORD_VARIABLE, "")
    if not user or not password:
        raise UsageError(
            "no hawkBit credentials",
            hint=f"give --user-file FILE (USER:PASSWORD) or set ${USER_VARIABLE} and "
            f"${PASSWORD_VARIABLE}",
        )
    return Credentials(user, password)


def check_server_url(url: str) -> str:
    """The Management API's base URL, without a trailing slash; https unless loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"the hawkBit URL {url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError(
            f"the hawkBit URL {parts.scheme}://{parts.hostname}/... carries more than a "
            "server and a path",
            hint="give credentials with --user-file or the environment, never in the URL",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"the hawkBit URL {url} is plain http",
            hint="use https: the password and the bundle must not travel in clear",
        )
    return url.rstrip("/")


def check_tenant(tenant: str) -> str:
    if not tenant or "/" in tenant or not tenant.isprintable() or tenant != tenant.strip():
        raise UsageError(f"the hawkBit tenant {tenant!r} is not usable in a URL")
    return tenant


def _describe(response: requests.Response) -> tuple[str, str]:
    """(hawkBit's message with its errorCode, the errorCode) from an error answer."""
    try:
        payload = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:300]
        return text or response.reason or "no message", ""
    if not isinstance(payload, dict):
        return " ".join(response.text.split())[:300] or "no message", ""
    code = str(payload.get("errorCode") or "")
    message = str(payload.get("message") or payload.get("error") or response.reason or "")
    return (f"{message} [{code}]" if code else message) or "no message", code


class ManagementClient:
    """Requests to one hawkBit server's Management API as one user."""

    def __init__(
        self,
        server_url: str,
        tenant: str,
        login: Credentials,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.server_url = check_server_url(server_url)
        self.tenant = check_tenant(tenant)
        self._login = login
        self._session = session if session is not None else requests.Session()
        self._session.trust_env = False  # no ~/.netrc in place of the given user

    def __repr__(self) -> str:
        return f"ManagementClient({self.server_url!r}, {self.tenant!r}, user={self._login.user!r})"

    def url(self, path: str) -> str:
        return f"{self.server_url}{REST}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Sequence[int] = (200,),
        json_body: Any = None,
        params: Mapping[str, str | int] | None = None,
        upload: tuple[Path, Mapping[str, str]] | None = None,
    ) -> Any:
        """One request; the answer's JSON (None when empty), or a :class:`HawkbitError`.

        ``upload``: a file sent as the multipart part ``file`` with these form fields.
        """
        url = self.url(path)
        where = f"{method} {urlsplit(url).path}"
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            with upload[0].open("rb") if upload else contextlib.nullcontext() as body:
                response = self._session.request(
                    method,
                    url,
                    headers=headers,
                    json=json_body,
                    params=params,
                    files={"file": (upload[0].name, body)} if upload and body else None,
                    data=dict(upload[1]) if upload else None,
                    auth=(self._login.user, self._login.password),
                    timeout=UPLOAD_TIMEOUT if upload else TIMEOUT,
                    allow_redirects=False,
                )
        except requests.Timeout as exc:
            raise HawkbitError(
                f"hawkBit at {self.server_url} did not answer {where} in time"
            ) from exc
        except requests.RequestException as exc:
            raise HawkbitError(
                f"cannot reach hawkBit at {self.server_url} ({type(exc).__name__})",
                hint="check --server and that the server is up and reachable from here",
            ) from exc
        log.debug("%s: %d", where, response.status_code)
        if response.status_code not in expect:
            raise self._error(response, where)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise HawkbitError(
                f"hawkBit answered {where} with something other than JSON",
                hint="check that --server is the hawkBit server's base URL",
            ) from exc

    def _error(self, response: requests.Response, where: str) -> HawkbitError:
        status = response.status_code
        message, code = _describe(response)
        hint = None
        if status == 401:
            hint = (
                f"hawkBit did not accept the user {self._login.user!r} and its password; "
                f"check --user-file or ${USER_VARIABLE} / ${PASSWORD_VARIABLE}"
            )
        elif status == 403:
            hint = (
                f"the user {self._login.user!r} lacks a permission this needs "
                "(CREATE_REPOSITORY, READ_REPOSITORY)"
            )
        elif 300 <= status < 400:
            hint = f"hawkBit redirected to {response.headers.get('Location', '?')}: give that URL"
        return HawkbitError(
            f"hawkBit refused {where}: HTTP {status}: {message}",
            status=status,
            code=code,
            hint=hint,
        )

    def search(self, collection: str, query: str) -> list[dict[str, Any]]:
        """Every entity of ``collection`` matching the FIQL ``query`` (pages followed)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET", collection, params={"q": query, "offset": len(found), "limit": PAGE}
            )
            content = page.get("content") if isinstance(page, dict) else None
            if not isinstance(content, list):
                raise HawkbitError(f"hawkBit's answer to GET {REST}/{collection} has no content")
            found.extend(item for item in content if isinstance(item, dict))
            total = page.get("total")
            if not content or not isinstance(total, int) or len(found) >= total:
                return found


def fiql_value(value: str) -> str:
    """A value for a FIQL comparison, quoted when it holds a reserved character."""
    if any(char in value for char in " ;,()'\"=!<>~*"):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return value


def quoted(value: str | int) -> str:
    return quote(str(value), safe="")
