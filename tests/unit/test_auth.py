"""The administrator's session: log in, cookie attributes, CSRF on state-changing requests,
read-only pages open, and wrong passwords slowed down across the app's processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picohub import admin
from picohub.errors import PicohubError
from picohub.settings import Settings
from picohub.web import create_app, lockout
from picohub.web.auth import CLOCK, admin_required, client_address

OWNER = (os.getuid(), os.getgid())
START = 1_700_000_000.0


class Clock:
    """Unix time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _protected() -> Blueprint:
    """A stand-in for the update actions other blueprints guard."""
    blueprint = Blueprint("protected", __name__)

    @blueprint.route("/api/test/protected", methods=["GET", "POST", "PUT", "DELETE"])
    @admin_required
    def protected() -> object:
        return jsonify(done=True)

    return blueprint


def _app(settings: Settings, clock: Clock) -> Flask:
    app = create_app(settings)
    app.config[CLOCK] = clock
    app.register_blueprint(_protected())
    return app


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    """The unit tests' settings with the root-only password file in the test's folder."""
    return replace(settings, admin_password_file=tmp_path / "etc" / "admin-password")


@pytest.fixture
def password(hub: Settings) -> str:
    admin.init(hub, OWNER)
    return admin.show(hub)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(hub: Settings, password: str, clock: Clock) -> Flask:
    return _app(hub, clock)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()  # the fixture app stays referenced (Flask 2.2)


# How gunicorn describes a request that came over the Unix socket nginx proxies to.
THROUGH_NGINX = {"REMOTE_ADDR": ""}


def _log_in(client: FlaskClient, password: str, **headers: str) -> TestResponse:
    """A login; one that carries X-Forwarded-For comes through nginx's Unix socket."""
    environ = THROUGH_NGINX if "X-Forwarded-For" in headers else {}
    return client.post(
        "/api/session", json={"password": password}, headers=headers, environ_base=environ
    )


def _cookies(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def test_the_right_password_opens_a_session(client: FlaskClient, password: str) -> None:
    assert client.get("/api/session").get_json() == {"admin": False, "csrf_token": None}
    answer = _log_in(client, password)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["admin"] is True and len(body["csrf_token"]) >= 32
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/api/session").get_json() == body


def test_a_wrong_password_opens_nothing(client: FlaskClient, password: str) -> None:
    answer = _log_in(client, password + "x")
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "wrong_password", "message": "wrong password"}
    assert _cookies(answer) == []
    assert client.get("/api/session").get_json()["admin"] is False
    assert client.get("/api/test/protected").status_code == 401


@pytest.mark.parametrize(
    "body", [{}, {"password": 5}, {"password": "x", "user": "admin"}, ["x"], "x"]
)
def test_a_malformed_login_is_refused_and_not_counted(
    client: FlaskClient, hub: Settings, body: object
) -> None:
    for _ in range(lockout.FREE_ATTEMPTS + 1):
        assert client.post("/api/session", json=body).status_code == 400
    assert client.post("/api/session", data="password=x").status_code == 415


def test_the_cookie_is_http_only_strict_and_lasts_twelve_hours(
    client: FlaskClient, password: str
) -> None:
    [cookie] = _cookies(_log_in(client, password))
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("picohub_session=")
    assert "HttpOnly" in attributes
    assert "SameSite=Strict" in attributes
    assert "Path=/" in attributes
    assert "Secure" not in attributes  # plain HTTP on the LAN
    assert any(part.startswith("Expires=") for part in attributes)
    # Set once at the login, not again on every request.
    assert _cookies(client.get("/api/session")) == []


def test_read_only_pages_stay_open(client: FlaskClient) -> None:
    for path in ("/api/system", "/api/devices", "/api/session", "/healthz"):
        assert client.get(path).status_code == 200, path


def test_a_protected_action_needs_a_session_and_the_csrf_token(
    client: FlaskClient, password: str
) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        answer = client.open("/api/test/protected", method=method)
        assert answer.status_code == 401, method
        assert answer.get_json()["error"] == "login_required"
    token = _log_in(client, password).get_json()["csrf_token"]

    assert client.get("/api/test/protected").get_json() == {"done": True}  # reading: no token
    for method in ("POST", "PUT", "DELETE"):
        missing = client.open("/api/test/protected", method=method)
        assert missing.status_code == 403, method
        assert missing.get_json()["error"] == "csrf_token_invalid"
        wrong = client.open(
            "/api/test/protected", method=method, headers={"X-CSRF-Token": token[:-1] + "x"}
        )
        assert wrong.status_code == 403, method
        right = client.open("/api/test/protected", method=method, headers={"X-CSRF-Token": token})
        assert right.status_code == 200, method


def test_each_login_gets_its_own_token(app: Flask, password: str) -> None:
    first, second = app.test_client(), app.test_client()
    token = _log_in(first, password).get_json()["csrf_token"]
    other = _log_in(second, password).get_json()["csrf_token"]
    assert token != other
    headers = {"X-CSRF-Token": token}
    assert second.post("/api/test/protected", headers=headers).status_code == 403


def test_log_out_needs_the_token_and_ends_the_session(client: FlaskClient, password: str) -> None:
    token = _log_in(client, password).get_json()["csrf_token"]
    assert client.delete("/api/session").status_code == 403
    assert client.get("/api/session").get_json()["admin"] is True
    answer = client.delete("/api/session", headers={"X-CSRF-Token": token})
    assert answer.status_code == 200
    assert answer.get_json() == {"admin": False, "csrf_token": None}
    assert client.get("/api/test/protected").status_code == 401
    # Logging out without a session is harmless, and allowed.
    assert client.delete("/api/session").status_code == 200


def test_a_copy_of_the_cookie_is_useless_after_the_logout(app: Flask, password: str) -> None:
    # The LAN is plain HTTP: someone may have copied the cookie on its way.
    owner = app.test_client()
    login = _log_in(owner, password)
    token = login.get_json()["csrf_token"]
    copied = {"Cookie": _cookies(login)[0].split(";", 1)[0], "X-CSRF-Token": token}
    thief = app.test_client(use_cookies=False)
    assert thief.post("/api/test/protected", headers=copied).status_code == 200
    assert owner.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 200
    assert thief.get("/api/test/protected", headers=copied).status_code == 401
    assert thief.post("/api/test/protected", headers=copied).status_code == 401


def test_logging_out_ends_only_that_session(app: Flask, password: str) -> None:
    first, second = app.test_client(), app.test_client()
    token = _log_in(first, password).get_json()["csrf_token"]
    _log_in(second, password)
    assert first.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 200
    assert second.get("/api/test/protected").status_code == 200


def test_the_session_ends_after_twelve_hours(
    client: FlaskClient, password: str, clock: Clock
) -> None:
    _log_in(client, password)
    clock.now += 12 * 3600 - 1
    assert client.get("/api/test/protected").status_code == 200
    clock.now += 1
    assert client.get("/api/test/protected").status_code == 401
    assert client.get("/api/session").get_json() == {"admin": False, "csrf_token": None}


def test_a_reset_ends_every_session_of_the_old_password(
    client: FlaskClient, hub: Settings, password: str
) -> None:
    token = _log_in(client, password).get_json()["csrf_token"]
    new_password = admin.reset(hub, OWNER)
    headers = {"X-CSRF-Token": token}
    assert client.post("/api/test/protected", headers=headers).status_code == 401
    assert client.get("/api/session").get_json()["admin"] is False
    assert _log_in(client, password).status_code == 401
    assert _log_in(client, new_password).status_code == 200


def test_a_credential_made_again_from_scratch_does_not_revive_sessions(
    client: FlaskClient, hub: Settings, password: str
) -> None:
    _log_in(client, password)
    hub.admin_credential.unlink()
    admin.init(hub, OWNER)  # the same password, hashed again
    assert client.get("/api/test/protected").status_code == 401
    assert _log_in(client, password).status_code == 200


def test_without_a_password_nobody_logs_in(hub: Settings, clock: Clock) -> None:
    app = _app(hub, clock)  # no admin.init: the password was never made
    client = app.test_client()
    answer = _log_in(client, "anything")
    assert answer.status_code == 503
    assert "sudo picohub admin-password init" in answer.get_json()["message"]
    assert client.get("/api/test/protected").status_code == 401


def test_the_session_key_is_made_once_and_kept(hub: Settings, password: str, clock: Clock) -> None:
    first = _app(hub, clock)
    key = hub.secret_key_file.read_bytes()
    assert len(key.strip()) == 64
    assert hub.secret_key_file.stat().st_mode & 0o777 == 0o600
    second = _app(hub, clock)
    assert hub.secret_key_file.read_bytes() == key
    assert first.secret_key == second.secret_key
    # A session opened by one process is good in the other (gunicorn's workers).
    cookie = _cookies(_log_in(first.test_client(), password))[0].split(";", 1)[0]
    other = second.test_client(use_cookies=False)  # sends the Cookie header it is given
    assert other.get("/api/session", headers={"Cookie": cookie}).get_json()["admin"] is True


def test_a_damaged_session_key_stops_the_start(hub: Settings) -> None:
    hub.secret_key_file.write_text("short\n")
    with pytest.raises(PicohubError, match="too short"):
        create_app(hub)


# Wrong passwords, slowed down.


def _fail(client: FlaskClient, times: int, **headers: str) -> list[int]:
    return [_log_in(client, "wrong", **headers).status_code for _ in range(times)]


def test_after_five_failures_the_next_attempt_waits(
    client: FlaskClient, password: str, clock: Clock
) -> None:
    assert _fail(client, 5) == [401] * 5
    locked = _log_in(client, password)  # the right password is not even checked
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "1"
    assert locked.get_json()["error"] == "too_many_attempts"
    assert "try again in 1 s" in locked.get_json()["message"]
    assert _cookies(locked) == []
    clock.now += 1  # the lock expires with time
    assert _log_in(client, password).status_code == 200


def test_each_further_failure_doubles_the_wait_up_to_fifteen_minutes(
    client: FlaskClient, clock: Clock
) -> None:
    _fail(client, 5)
    waits = []
    for _ in range(12):
        locked = _log_in(client, "wrong")
        assert locked.status_code == 429
        waits.append(int(locked.headers["Retry-After"]))
        clock.now += waits[-1] - 0.5
        assert _log_in(client, "wrong").status_code == 429  # not yet
        clock.now += 0.5
        failed = _log_in(client, "wrong")
        assert failed.status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert "next attempt is possible in 900 s" in failed.get_json()["message"]


def test_a_success_clears_the_count(client: FlaskClient, password: str) -> None:
    assert _fail(client, 4) == [401] * 4
    assert _log_in(client, password).status_code == 200
    assert _fail(client, 5) == [401] * 5  # counted from zero again
    assert _log_in(client, password).status_code == 429


def test_failures_are_forgotten_after_a_quiet_day(
    client: FlaskClient, password: str, clock: Clock
) -> None:
    _fail(client, 12)
    clock.now += 24 * 3600 + 1
    assert _fail(client, 5) == [401] * 5
    assert _log_in(client, password).status_code == 429


def test_a_clock_set_back_never_lengthens_the_wait(client: FlaskClient, clock: Clock) -> None:
    _fail(client, 5)
    clock.now -= 3600  # NTP corrects a Pi that booted with a wrong time
    assert _log_in(client, "wrong").headers["Retry-After"] == "1"


def test_the_count_is_per_address_behind_nginx(
    client: FlaskClient, password: str, clock: Clock
) -> None:
    guesser = {"X-Forwarded-For": "192.168.1.66"}
    assert _fail(client, 5, **guesser) == [401] * 5
    assert _log_in(client, "wrong", **guesser).status_code == 429
    # What the client put in front of nginx's own entry, and X-Real-IP, change nothing.
    spoofed = {"X-Forwarded-For": "10.9.9.9, 192.168.1.66", "X-Real-IP": "10.9.9.9"}
    assert _log_in(client, "wrong", **spoofed).status_code == 429
    # Another address on the LAN is not locked out.
    assert _log_in(client, password, **{"X-Forwarded-For": "192.168.1.10"}).status_code == 200


def test_forwarded_addresses_count_only_through_nginxs_socket(app: Flask) -> None:
    cases = [
        ("", {"X-Forwarded-For": "192.168.1.66"}, "192.168.1.66"),
        ("", {"X-Forwarded-For": "1.1.1.1, 192.168.1.66"}, "192.168.1.66"),
        ("", {"X-Real-IP": "10.0.0.1"}, "unknown"),
        ("", {"X-Forwarded-For": "not an address"}, "unknown"),
        ("", {"X-Forwarded-For": "2001:db8:1:2:aaaa::1"}, "2001:db8:1:2::/64"),
        ("", {"X-Forwarded-For": "::ffff:192.168.1.5"}, "192.168.1.5"),
        # On the loopback port anyone on the hub could write the header: not read there.
        ("127.0.0.1", {"X-Forwarded-For": "192.168.1.66"}, "127.0.0.1"),
        ("::1", {"X-Forwarded-For": "2001:db8:1:2:aaaa::1"}, "::/64"),
        ("192.168.1.20", {"X-Forwarded-For": "10.0.0.1"}, "192.168.1.20"),
    ]
    for peer, headers, expected in cases:
        environ = {"REMOTE_ADDR": peer}
        with app.test_request_context(environ_base=environ, headers=headers):
            assert client_address() == expected, (peer, headers)


def test_a_local_client_on_the_loopback_port_cannot_claim_fresh_addresses(
    client: FlaskClient, password: str
) -> None:
    for host in range(lockout.FREE_ATTEMPTS):
        forged = {"X-Forwarded-For": f"10.0.0.{host}"}
        answer = client.post("/api/session", json={"password": "wrong"}, headers=forged)
        assert answer.status_code == 401
    forged = {"X-Forwarded-For": "10.0.0.99"}
    assert (
        client.post("/api/session", json={"password": password}, headers=forged).status_code == 429
    )


def test_many_addresses_together_are_slowed_down_too(
    client: FlaskClient, password: str, clock: Clock
) -> None:
    for host in range(lockout.GLOBAL_FREE_ATTEMPTS // lockout.FREE_ATTEMPTS):
        address = {"X-Forwarded-For": f"192.168.1.{100 + host}"}
        assert _fail(client, lockout.FREE_ATTEMPTS, **address) == [401] * lockout.FREE_ATTEMPTS
    fresh = _log_in(client, password, **{"X-Forwarded-For": "192.168.1.200"})
    assert fresh.status_code == 429
    assert fresh.headers["Retry-After"] == "1"
    clock.now += 1
    assert _log_in(client, password, **{"X-Forwarded-For": "192.168.1.200"}).status_code == 200


def test_the_count_is_shared_by_the_apps_on_one_database(
    hub: Settings, password: str, clock: Clock
) -> None:
    # gunicorn's two workers: two apps, one state folder.
    first, second = _app(hub, clock), _app(hub, clock)
    assert _fail(first.test_client(), 5) == [401] * 5
    assert _log_in(second.test_client(), password).status_code == 429
    clock.now += 1
    assert _log_in(second.test_client(), password).status_code == 200
    # The success cleared the count for the first one too.
    assert _fail(first.test_client(), 5) == [401] * 5
