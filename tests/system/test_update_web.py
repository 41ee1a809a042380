"""An update started from the web, as the frontend does it: log in through nginx, press
Install through the API, poll the status through the restart of the app. The app runs as
the unprivileged user picohub; the root-owned trigger socket is its only way to start an
update, and nothing else is within its reach."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from picohub.update.bundle import write_bundle
from picohub_release.build import Build
from tests.conftest import build_release, next_version
from tests.system.conftest import _repository, point_updater_at, serve_releases
from tests.system.container import Container, wait_for
from tests.system.journeys import (
    admin_password,
    apt_install,
    device_ids,
    healthy_version,
    heartbeat,
)
from tests.system.test_update_rollback import _postinst_fails

WEB = "http://127.0.0.1:8780"
TRIGGER = "/run/picohub-update/trigger.sock"


@pytest.fixture(scope="module")
def broken_release(release_b: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    version = next_version(release_b.version, 9)
    return build_release(tmp_path_factory, "broken-web", version, _postinst_fails)


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    release_b: Build,
    broken_release: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Build]:
    releases = [
        (f"v{build.version}", _repository(build, tmp_path_factory).directory)
        for build in (release_a, release_b, broken_release)
    ]
    with serve_releases(container, releases) as url:
        apt_install(container, release_a)  # all three packages
        assert healthy_version(container) == release_a.version
        assert heartbeat(container, "pico-porch", "1.0.0")[0] == 200
        point_updater_at(container, url)
        yield release_a


class Browser:
    """The frontend's side of the conversation: a session cookie and a CSRF token."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.cookie: str | None = None
        self.csrf: str | None = None

    def call(
        self, method: str, path: str, body: Any = None, csrf: bool = True, raw: bool = False
    ) -> Any:
        headers = {"Content-Type": "application/x-tar"} if raw else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        answer = self.container.request(method, f"{WEB}{path}", body, headers)
        if "set-cookie" in answer.headers:
            self.cookie = answer.headers["set-cookie"].split(";", 1)[0]
        return answer

    def log_in(self, password: str) -> Any:
        answer = self.call("POST", "/api/session", {"password": password})
        if answer.status == 200:
            self.csrf = answer.json()["csrf_token"]
        return answer

    def system(self) -> dict[str, Any] | None:
        """GET /api/system; None while the app is not answering (it is being restarted)."""
        answer = self.call("GET", "/api/system")
        return answer.json() if answer.status == 200 else None

    def wait_until_done(self, timeout: float = 300) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            system = self.system()
            if system is None or system["update"]["busy"]:
                return None
            return system

        result: dict[str, Any] = wait_for(finished, timeout=timeout, what="the update to end")
        return result


def test_update_actions_need_the_administrator_and_a_csrf_token(
    container: Container, hub: Build
) -> None:
    anyone = Browser(container)
    system = anyone.system()  # read-only: open on the LAN
    assert system is not None and system["running"] == hub.version
    assert anyone.call("POST", "/api/system/update", {}).status == 401
    assert anyone.log_in("not the password").status == 401

    admin = Browser(container)
    login = admin.log_in(admin_password(container))
    assert login.status == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    assert admin.call("POST", "/api/system/update", {}, csrf=False).status == 403
    assert admin.call("POST", "/api/system/update", {"version": "1; id"}).status == 400
    state = container.run(["systemctl", "is-active", "picohub-update.service"], check=False)
    assert state.stdout.strip() != "active"  # nothing was started


def test_install_from_the_web_ends_on_the_new_release(
    container: Container, hub: Build, release_b: Build, broken_release: Build
) -> None:
    admin = Browser(container)
    assert admin.log_in(admin_password(container)).status == 200
    check = admin.call("POST", "/api/system/update/check")
    assert check.status == 200, check.content
    assert check.json()["available"]["version"] == broken_release.version  # the newest

    started = admin.call("POST", "/api/system/update", {"version": release_b.version})
    assert started.status == 202, started.content
    again = admin.call("POST", "/api/system/update", {"version": release_b.version})
    assert again.status == 409, again.content
    assert again.json()["status"]["phase"] in ("checking", "downloading", "installing")

    system = admin.wait_until_done()
    assert system["running"] == release_b.version
    assert system["update"]["status"]["phase"] == "done"
    assert system["update"]["status"]["message"] == f"updated to {release_b.version}"
    assert device_ids(container) == ["pico-porch"]
    # The session outlived the restart of the app.
    assert admin.call("GET", "/api/session").json()["admin"] is True


def test_a_rollback_from_the_web_must_be_confirmed(
    container: Container, hub: Build, release_b: Build
) -> None:
    admin = Browser(container)
    assert admin.log_in(admin_password(container)).status == 200
    assert admin.call("POST", "/api/system/rollback", {}).status == 400
    assert healthy_version(container) == release_b.version  # nothing happened
    assert admin.call("POST", "/api/system/rollback", {"confirm": True}).status == 202
    system = admin.wait_until_done()
    assert system["update"]["status"]["phase"] == "rolled-back", system
    assert system["running"] == hub.version
    assert device_ids(container) == ["pico-porch"]


def test_a_broken_release_from_the_web_is_rolled_back_with_the_reason(
    container: Container, hub: Build, broken_release: Build
) -> None:
    admin = Browser(container)
    assert admin.log_in(admin_password(container)).status == 200
    assert admin.call("POST", "/api/system/update", {}).status == 202  # the newest: broken
    system = admin.wait_until_done()
    status = system["update"]["status"]
    assert status["phase"] == "rolled-back", status
    assert f"rolled back to {hub.version}" in status["message"]
    assert broken_release.version in status["message"]
    assert "apt-get install failed" in status["message"], status
    assert healthy_version(container) == hub.version


def test_an_uploaded_bundle_is_checked_like_a_download_then_installed(
    container: Container,
    hub: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repository = _repository(release_b, tmp_path_factory)
    keyring = repository.directory / "picohub-archive-keyring.gpg"
    folder = tmp_path_factory.mktemp("bundles")
    good = write_bundle(repository.directory, keyring, folder / "b.tar").path.read_bytes()
    # The same bundle with one byte of a package changed.
    tampered = bytearray(good)
    tampered[good.index(b"!<arch>") + 4000] ^= 0xFF
    admin = Browser(container)
    assert admin.log_in(admin_password(container)).status == 200

    upload = admin.call("POST", "/api/system/update/bundle", bytes(tampered), raw=True)
    assert upload.status == 202, upload.content
    status = admin.wait_until_done()["update"]["status"]
    assert status["phase"] == "failed" and "nothing was changed" in status["message"], status
    assert healthy_version(container) == hub.version

    upload = admin.call("POST", "/api/system/update/bundle", good, raw=True)
    assert upload.status == 202, upload.content
    system = admin.wait_until_done()
    assert system["update"]["status"]["message"] == f"updated to {release_b.version}"
    assert system["running"] == release_b.version
    # Nothing of the uploads is left where the app could reach it, nor in root's cache.
    assert container.run(["ls", "-A", "/var/lib/picohub/uploads"]).stdout == ""
    assert container.run(["ls", "-A", "/var/cache/picohub/incoming"]).stdout == ""


def _as_picohub(container: Container, *argv: str) -> Any:
    return container.run(["runuser", "-u", "picohub", "--", *argv], check=False)


def _send(user: str, request: bytes) -> list[str]:
    """A Python one-liner that sends ``request`` to the trigger as ``user``."""
    script = (
        "import socket,sys;s=socket.socket(socket.AF_UNIX);"
        f"s.connect({TRIGGER!r});s.sendall({request!r});s.shutdown(socket.SHUT_WR);"
        "sys.stdout.write(s.recv(65536).decode())"
    )
    return ["runuser", "-u", user, "--", "python3", "-c", script]


def test_the_app_user_can_start_the_update_and_nothing_else(
    container: Container, hub: Build
) -> None:
    for argv in (
        ["systemctl", "stop", "nginx.service"],
        ["systemctl", "start", "picohub-update-trigger@x.service"],
        ["systemctl", "start", "picohub-recover.service"],
        ["systemd-run", "--unit=picohub-update", "/bin/true"],
        ["systemd-run", "--unit=anything", "/bin/true"],
    ):
        refused = _as_picohub(container, *argv)
        assert refused.returncode != 0, argv
    assert container.run(["systemctl", "is-active", "nginx.service"]).stdout == "active\n"

    for request, says in (
        (b'{"action": "apply", "version": "1.0 --allow-downgrades"}\n', "not a release version"),
        (b'{"action": "run", "argv": ["id"]}\n', "unknown action 'run'"),
        (b'{"action": "apply-bundle", "bundle": "../../../etc/shadow"}\n', "not the name of"),
    ):
        answer = container.run(_send("picohub", request)).stdout
        assert '"error": "refused"' in answer and says in answer, answer
    # Users outside the group picohub cannot even connect.
    assert container.run(_send("nobody", b'{"action": "check"}\n'), check=False).returncode != 0
    state = container.run(["systemctl", "is-active", "picohub-update.service"], check=False)
    assert state.stdout.strip() in ("inactive", "failed", "unknown")
