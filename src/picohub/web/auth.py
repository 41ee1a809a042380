"""The administrator's session: log in with the device's password, a CSRF token for every
state-changing request, and :func:`admin_required` for the views that need both.

Read-only pages stay open on the LAN; only the actions other blueprints decorate with
``@admin_required`` need the administrator.

The session is Flask's signed cookie ``picohub_session``: ``HttpOnly`` (page scripts
cannot read it), ``SameSite=Strict`` (no other site's page can make the browser send it),
valid for ``SESSION_LIFETIME`` from the login. It is not ``Secure``: the hub is served on
the LAN over plain HTTP, where a browser would never send a Secure cookie. The key that
signs it is random per device, made by the app on its first start (``secret_key_file``,
0600). The session names the credential it was opened with; ``picohub admin-password
reset`` replaces the credential, which ends every session at once. It also carries an id
the server records (:mod:`picohub.web.admin_sessions`): logging out ends the session on
the server, so a copy of the cookie is of no use afterwards.

Wrong passwords are slowed down by :mod:`picohub.web.lockout`. The client's address is
the peer's, or, on the Unix socket ``picohub-proxy.socket`` (which only root and nginx's
www-data may connect to), the last address of ``X-Forwarded-For``: the one nginx appended
(``$proxy_add_x_forwarded_for``); anything before it came from the client. On the
loopback port, anyone on the hub could write the header, so it is not read there.
``X-Real-IP`` is never trusted: nginx's site does not set it.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request, session

from picohub import admin
from picohub.errors import PicohubError
from picohub.files import atomic_file
from picohub.settings import Settings
from picohub.web import admin_sessions, lockout
from picohub.web.body import json_object
from picohub.web.database import get_db
from picohub.web.errors import ApiError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

SESSION_COOKIE = "picohub_session"
SESSION_LIFETIME = timedelta(hours=12)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The app config key of the clock (Unix time); tests put a fake one there.
CLOCK = "PICOHUB_CLOCK"
SECRET_KEY_BYTES = 32

blueprint = Blueprint("auth", __name__, url_prefix="/api/session")


def init_app(app: Flask) -> None:
    """Sign sessions with the device's key and give the cookie its attributes."""
    settings: Settings = app.config["PICOHUB_SETTINGS"]
    app.secret_key = load_secret_key(settings.secret_key_file)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # plain HTTP on the LAN (see the module's docstring)
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The cookie is set once, at the login, and ends SESSION_LIFETIME later.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.config.setdefault(CLOCK, time.time)


def load_secret_key(path: Path) -> bytes:
    """The device's session key; made (0600) when there is none.

    gunicorn builds the app once (``--preload``) before it forks its workers; two apps
    starting together (the tests) still agree: the key is written aside and linked into
    place, and whoever links second reads the winner's key.
    """
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = _make_secret_key(path)
    except OSError as exc:
        raise PicohubError(f"cannot read the session key {path}: {exc.strerror}") from exc
    if len(key) < 2 * SECRET_KEY_BYTES:
        raise PicohubError(
            f"the session key {path} is too short",
            hint="delete it; the app makes a new one when it starts (sessions end)",
        )
    return key


def _make_secret_key(path: Path) -> bytes:
    try:
        with atomic_file(path, mode=0o600, overwrite=False) as stream:
            stream.write((secrets.token_hex(SECRET_KEY_BYTES) + "\n").encode("ascii"))
    except FileExistsError:
        pass  # another process made it first: use that one
    else:
        log.info("made the key that signs session cookies: %s", path)
    return path.read_bytes().strip()


def _settings() -> Settings:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    return settings


def _now() -> float:
    clock: Callable[[], float] = current_app.config[CLOCK]
    return clock()


def client_address() -> str:
    """Who is asking, for counting wrong passwords (see the module's docstring).

    IPv6 addresses count by their /64: a host on a LAN can take any address in it.
    """
    peer = request.remote_addr or ""
    address = _parse(peer)
    if address is None and from_nginx():
        # No network address: the Unix socket only nginx (and root) may use.
        forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
        address = _parse(forwarded)
    if address is None:
        return peer or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def from_nginx() -> bool:
    """Whether the request came on ``picohub-proxy.socket``, the Unix socket only nginx
    (and root) may use: it has no network address."""
    return not request.remote_addr


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _credential() -> admin.Credential | None:
    try:
        return admin.read_credential(_settings().admin_credential)
    except admin.CredentialError as exc:
        log.error("%s", exc)
        return None


def is_admin() -> bool:
    """Whether this request comes with a live administrator's session."""
    opened_with = session.get("admin")
    since = session.get("since")
    if not isinstance(opened_with, str) or not isinstance(since, int | float):
        return False
    if _now() - since >= SESSION_LIFETIME.total_seconds():
        return False
    credential = _credential()
    if credential is None or not hmac.compare_digest(credential.id, opened_with):
        return False
    session_id = session.get("sid")
    return isinstance(session_id, str) and admin_sessions.is_open(get_db(), session_id)


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER, "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(sent, expected)


def refusal(*, changes_state: bool) -> ApiError | None:
    """Why this request may not act as the administrator (None: it may): no live session
    (401), or, for a request that changes state, no session CSRF token in
    ``X-CSRF-Token`` (403)."""
    if not is_admin():
        return ApiError(401, "login_required", "this needs the administrator: log in first")
    if changes_state and not _csrf_ok():
        return ApiError(
            403,
            "csrf_token_invalid",
            f"missing or wrong {CSRF_HEADER} header (GET /api/session gives the token)",
        )
    return None


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Only for a logged-in administrator (else 401); a request that is not GET, HEAD or
    OPTIONS must also carry the session's CSRF token in ``X-CSRF-Token`` (else 403)."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        refused = refusal(changes_state=request.method not in SAFE_METHODS)
        if refused is not None:
            raise refused
        return view(*args, **kwargs)

    return guarded


@blueprint.get("/upload-permission")
def upload_permission() -> tuple[str, int]:
    """nginx asks here (``auth_request``, with the upload's headers and without its body)
    before it takes a bundle's body, so only the administrator's upload, with the page's
    CSRF token, is ever written to the SD card. nginx reads the status alone."""
    refused = refusal(changes_state=True)
    if refused is not None:
        raise refused
    return "", 204


def _session_state(admin_now: bool) -> Response:
    token = session.get("csrf") if admin_now else None
    response = jsonify(admin=admin_now, csrf_token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("")
def current() -> tuple[Response, int]:
    logged_in = is_admin()
    if not logged_in and "admin" in session:
        session.clear()  # expired, or the password was reset: drop the stale cookie
    return _session_state(logged_in), 200


@blueprint.post("")
def log_in() -> tuple[Response, int]:
    body = json_object(required=True)
    if set(body) != {"password"}:
        raise ApiError(400, "invalid_json", 'send a JSON object {"password": "..."}')
    password = body["password"]
    if not isinstance(password, str):
        raise ApiError(400, "invalid_field", "password must be a string")
    credential = _credential()
    if credential is None:
        raise ApiError(
            503,
            "no_admin_password",
            "the hub has no administrator password; on the hub, run: "
            "sudo picohub admin-password init",
        )
    client = client_address()
    now = _now()
    wait = lockout.begin_attempt(get_db(), client, now)
    if wait > 0:
        return _too_many(wait)
    if not admin.verify(credential, password):
        log.warning("wrong administrator password from %s", client)
        later = lockout.next_wait(get_db(), client, now)
        message = "wrong password"
        if later > 0:
            message += f"; the next attempt is possible in {math.ceil(later)} s"
        raise ApiError(401, "wrong_password", message)
    lockout.succeeded(get_db(), client)
    log.info("administrator logged in from %s", client)
    session.clear()
    session.permanent = True
    session["admin"] = credential.id
    session["since"] = now
    session["sid"] = admin_sessions.open_session(get_db(), now, SESSION_LIFETIME.total_seconds())
    session["csrf"] = secrets.token_urlsafe(32)
    return _session_state(True), 200


def _too_many(wait: float) -> tuple[Response, int]:
    seconds = max(1, math.ceil(wait))
    response = jsonify(
        error="too_many_attempts",
        message=f"too many wrong passwords: try again in {seconds} s",
        retry_after=seconds,
    )
    response.headers["Retry-After"] = str(seconds)
    return response, 429


@blueprint.delete("")
def log_out() -> tuple[Response, int]:
    if is_admin() and not _csrf_ok():
        raise ApiError(403, "csrf_token_invalid", f"missing or wrong {CSRF_HEADER} header")
    session_id = session.get("sid")
    if isinstance(session_id, str):
        admin_sessions.close_session(get_db(), session_id)  # a copy of the cookie ends too
    session.clear()
    return _session_state(False), 200
