"""The update actions of the web API: administrator only, CSRF-checked, validated, and
answered from what the root-owned trigger says (played here by a real Unix socket)."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from picohub import admin
from picohub.settings import Settings
from picohub.trigger import (
    CHECK_ANSWER_S,
    CHECK_DEADLINE_S,
    LOCK_WAIT_S,
    MAX_BUNDLE_BYTES,
    MAX_REQUEST_BYTES,
    START_ANSWER_S,
    Action,
    TriggerReply,
    TriggerRequest,
    parse_request,
    read_line,
)
from picohub.update.auto import AutomaticRun
from picohub.update.available import Available
from picohub.update.check import Change
from picohub.update.history import Entry, History
from picohub.update.holds import Holds
from picohub.update.status import Phase, Status, write_status
from picohub.web import create_app
from tests.conftest import SOURCE
from tests.unit.conftest import INSTALLED_VERSION, log_in

OWNER = (os.getuid(), os.getgid())


@dataclass
class FakeTrigger:
    """Answers each connection with ``reply``; remembers the requests it was sent."""

    path: Path
    reply: TriggerReply = field(default_factory=lambda: TriggerReply(True, "started"))
    requests: list[TriggerRequest] = field(default_factory=list)
    uploads_seen: list[bytes] = field(default_factory=list)
    upload_dir: Path | None = None

    def serve(self, server: socket.socket) -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                request = parse_request(read_line(connection, MAX_REQUEST_BYTES))
                self.requests.append(request)
                if request.bundle and self.upload_dir:
                    self.uploads_seen.append((self.upload_dir / request.bundle).read_bytes())
                connection.sendall(self.reply.encode())


@pytest.fixture
def trigger(settings: Settings) -> Iterator[FakeTrigger]:
    # Unix socket paths are short: not in pytest's deep temporary folder.
    directory = Path(f"/tmp/picohub-trigger-{os.getpid()}-{threading.get_ident()}")
    directory.mkdir(exist_ok=True)
    fake = FakeTrigger(directory / "trigger.sock", upload_dir=settings.upload_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(fake.path))
        server.listen()
        thread = threading.Thread(target=fake.serve, args=(server,), daemon=True)
        thread.start()
        yield fake
        server.shutdown(socket.SHUT_RDWR)
    fake.path.unlink(missing_ok=True)
    directory.rmdir()


@pytest.fixture
def hub(settings: Settings, tmp_path: Path, trigger: FakeTrigger) -> Settings:
    here = replace(
        settings,
        admin_password_file=tmp_path / "etc" / "admin-password",
        update_config=tmp_path / "etc" / "update.conf",
        update_state_dir=tmp_path / "update",
        update_trigger_socket=trigger.path,
    )
    admin.init(here, OWNER)
    return here


@pytest.fixture
def app(hub: Settings) -> Flask:
    return create_app(hub)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()  # the fixture app stays referenced (Flask 2.2)


@pytest.fixture
def csrf(client: FlaskClient, hub: Settings) -> dict[str, str]:
    return log_in(client, hub)


def test_actions_need_the_administrator(client: FlaskClient, trigger: FakeTrigger) -> None:
    for path in ("/api/system/update", "/api/system/update/check", "/api/system/rollback"):
        assert client.post(path, json={}).status_code == 401, path
    assert trigger.requests == []


def test_actions_need_the_csrf_token(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    answer = client.post("/api/system/update", json={})
    assert answer.status_code == 403
    assert (
        client.post("/api/system/update", json={}, headers={"X-CSRF-Token": "x"}).status_code == 403
    )
    assert trigger.requests == []


def test_nginx_may_take_an_uploads_body_only_for_the_administrator_with_the_token(
    app: Flask, hub: Settings
) -> None:
    """What nginx's auth_request asks before it accepts a bundle: a GET with the
    upload's headers, and no body."""
    permission = "/api/session/upload-permission"
    anyone = app.test_client()
    assert anyone.get(permission).status_code == 401
    admin_client = app.test_client()
    token = log_in(admin_client, hub)["X-CSRF-Token"]
    assert admin_client.get(permission).status_code == 403  # a GET, but for an upload
    assert admin_client.get(permission, headers={"X-CSRF-Token": "x"}).status_code == 403
    allowed = admin_client.get(permission, headers={"X-CSRF-Token": token})
    assert (allowed.status_code, allowed.data) == (204, b"")


def test_install_asks_the_trigger_for_the_version_shown(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    answer = client.post("/api/system/update", json={"version": "1.2.3"}, headers=csrf)
    assert answer.status_code == 202
    assert trigger.requests == [TriggerRequest(Action.APPLY, version="1.2.3")]


@pytest.mark.parametrize(
    "body", [{"version": "1.0; id"}, {"version": 3}, {"version": "1.0", "unit": "x"}, [1]]
)
def test_bad_input_is_refused_before_it_reaches_the_trigger(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger, body: object
) -> None:
    answer = client.post("/api/system/update", json=body, headers=csrf)
    assert answer.status_code == 400
    assert answer.get_json()["message"]
    assert trigger.requests == []


def test_a_second_install_while_one_runs_is_409_with_its_status(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    running = {"phase": "downloading", "message": "fetching release 1.2.3"}
    trigger.reply = TriggerReply(False, "an update is already running", "running", running)
    answer = client.post("/api/system/update", json={}, headers=csrf)
    assert answer.status_code == 409
    assert answer.get_json()["status"] == running


def test_a_rollback_must_be_confirmed(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    assert client.post("/api/system/rollback", json={}, headers=csrf).status_code == 400
    assert trigger.requests == []
    assert (
        client.post("/api/system/rollback", json={"confirm": True}, headers=csrf).status_code == 202
    )
    assert trigger.requests == [TriggerRequest(Action.ROLLBACK)]


def test_an_uploaded_bundle_reaches_the_trigger_by_name_only(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger, hub: Settings
) -> None:
    tar = b"a bundle" * 5000  # larger than the 16 KiB other requests may have
    answer = client.post(
        "/api/system/update/bundle",
        data=tar,
        headers={**csrf, "Content-Type": "application/x-tar"},
    )
    assert answer.status_code == 202, answer.get_json()
    (request,) = trigger.requests
    assert request.bundle is not None and request.bundle.startswith("bundle-")
    assert trigger.uploads_seen == [tar]
    # The trigger takes the file when it accepts it; nothing is left behind here.
    assert list(hub.upload_dir.iterdir()) == []


def test_a_bundle_too_large_to_upload_is_refused_before_it_is_read(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger, hub: Settings
) -> None:
    # Only the length is announced: the answer comes before a byte of the body is read.
    answer = client.post(
        "/api/system/update/bundle",
        input_stream=io.BytesIO(b"never read"),
        headers={**csrf, "Content-Type": "application/x-tar"},
        environ_overrides={"CONTENT_LENGTH": str(MAX_BUNDLE_BYTES + 1)},
    )
    assert answer.status_code == 413
    message = answer.get_json()["message"]
    assert f"at most 64 MiB, not {MAX_BUNDLE_BYTES + 1} bytes" in message
    assert "sudo picohub-update apply --bundle FILE" in message
    assert trigger.requests == []
    assert not hub.upload_dir.exists() or list(hub.upload_dir.iterdir()) == []


def test_nginx_takes_the_bundles_the_app_takes() -> None:
    site = (SOURCE / "packaging" / "nginx" / "picohub").read_text(encoding="utf-8")
    location = site.split("location = /api/system/update/bundle {", 1)[1].split("}", 1)[0]
    (limit,) = re.findall(r"client_max_body_size (\d+)m;", location)
    assert int(limit) << 20 == MAX_BUNDLE_BYTES


def test_nginx_takes_the_bodies_the_app_takes(settings: Settings) -> None:
    site = (SOURCE / "packaging" / "nginx" / "picohub").read_text(encoding="utf-8")
    server = site.split("location", 1)[0]  # the server's own settings, before any location
    (limit,) = re.findall(r"client_max_body_size (\d+)k;", server)
    (buffer,) = re.findall(r"client_body_buffer_size (\d+)k;", server)
    # Refused by nginx as the app would refuse it, and held in memory, never on disk.
    assert int(limit) << 10 == settings.max_request_bytes == int(buffer) << 10


def test_a_check_is_answered_before_gunicorn_gives_up_on_the_page() -> None:
    unit = (SOURCE / "debian" / "picohub.service").read_text(encoding="utf-8")
    set_timeout = re.search(r"--timeout[= ](\d+)", unit)
    worker_timeout = int(set_timeout[1]) if set_timeout else 30  # gunicorn's default
    assert LOCK_WAIT_S + CHECK_DEADLINE_S < CHECK_ANSWER_S < worker_timeout
    assert worker_timeout > START_ANSWER_S


def test_other_requests_stay_small(client: FlaskClient, csrf: dict[str, str]) -> None:
    answer = client.post(
        "/api/system/update", data=b"{" + b" " * 20000 + b"}", headers=csrf,
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 413


def test_the_system_page_shows_the_status_to_everyone(client: FlaskClient, hub: Settings) -> None:
    write_status(
        hub.update_status, Status(Phase.DOWNLOADING, "fetching release 1.2.3", 0.5, "1.0", "1.2.3")
    )
    update = client.get("/api/system").get_json()["update"]
    assert update["busy"] is True and update["ended"] is False
    assert update["status"]["progress"] == 0.5
    assert update["available"] is None
    assert update["history"] == []


def test_the_system_page_lists_the_history_newest_first(client: FlaskClient, hub: Settings) -> None:
    kept = History(hub.update_history)
    for number in range(25):
        kept.append(
            Entry(f"2026-12-02T10:00:{number:02d}Z", "page", "update", "1.0", "1.1", "done",
                  f"run {number}", 1.0, 0)
        )  # fmt: skip
    shown = client.get("/api/system").get_json()["update"]["history"]
    assert [entry["message"] for entry in shown] == [f"run {n}" for n in range(24, 4, -1)]


def test_an_unreachable_trigger_is_503_naming_it(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    trigger.path.unlink()
    answer = client.post("/api/system/update", json={}, headers=csrf)
    assert answer.status_code == 503
    assert "cannot be reached" in answer.get_json()["message"]


def _offer(hub: Settings, offered: str) -> None:
    available = {
        "version": offered,
        "update_available": True,
        "changes": [{"package": "picohub", "installed": "0.0.1", "offered": offered}],
        "notes": None,
        "message": f"release {offered} is available",
        "checked_at": "2026-11-24T12:00:00Z",
    }
    hub.update_available.parent.mkdir(parents=True, exist_ok=True)
    hub.update_available.write_text(json.dumps(available))


def test_a_release_installed_since_the_check_is_no_longer_offered(
    client: FlaskClient, hub: Settings
) -> None:
    _offer(hub, INSTALLED_VERSION)
    available = client.get("/api/system").get_json()["update"]["available"]
    assert available["update_available"] is False and available["changes"] == []
    assert available["message"].startswith("up to date")

    _offer(hub, "99.0.0")
    available = client.get("/api/system").get_json()["update"]["available"]
    assert available["update_available"] is True
    assert [c["offered"] for c in available["changes"]] == ["99.0.0"]


def test_a_checks_answer_is_one_record_for_the_shell_the_file_and_the_page() -> None:
    answer = Available(
        "1.2.0", (Change("picohub", "1.1.0", "1.2.0"),), "notes", "2026-12-02T10:00:00Z", True
    )
    assert Available.from_json(json.loads(json.dumps(answer.to_json()))) == answer
    assert answer.to_json()["message"] == "release 1.2.0 is available: picohub 1.1.0 -> 1.2.0"
    # Installed since: no longer offered, and the message says so.
    done = answer.without_installed({"picohub": "1.2.0"})
    assert not done.update_available and done.message.startswith("up to date")
    for broken in ([], {"version": "1"}, {"version": "1", "changes": [{}], "checked_at": ""}):
        with pytest.raises(ValueError):
            Available.from_json(broken)


def test_a_hold_is_asked_of_the_trigger_with_the_csrf_token(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    # Logged in, but without the CSRF token.
    assert client.post("/api/system/update/hold", json={"until": "1d"}).status_code == 403
    trigger.reply = TriggerReply(True, "automatic updates are held until 2026-12-03 12:00 UTC")
    answer = client.post("/api/system/update/hold", json={"until": "1d"}, headers=csrf)
    assert answer.status_code == 200 and "held until" in answer.get_json()["message"]
    assert client.delete("/api/system/update/hold", headers=csrf).status_code == 200
    assert trigger.requests == [
        TriggerRequest(Action.HOLD, until="1d"),
        TriggerRequest(Action.RELEASE_HOLD),
    ]


@pytest.mark.parametrize(
    ("body", "error"), [({"until": 3}, "invalid_until"), ({"for": "1d"}, "invalid_field")]
)
def test_a_bad_hold_is_refused_before_it_reaches_the_trigger(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger, body: object, error: str
) -> None:
    answer = client.post("/api/system/update/hold", json=body, headers=csrf)
    assert answer.status_code == 400 and answer.get_json()["error"] == error
    assert trigger.requests == []


def test_a_hold_the_trigger_refuses_is_400_with_its_reason(
    client: FlaskClient, csrf: dict[str, str], trigger: FakeTrigger
) -> None:
    trigger.reply = TriggerReply(False, "the hold's end '2020-01-01' has passed", "refused")
    answer = client.post("/api/system/update/hold", json={"until": "2020-01-01"}, headers=csrf)
    assert answer.status_code == 400 and "has passed" in answer.get_json()["message"]


def test_the_system_page_shows_the_rules_and_the_last_automatic_run(
    client: FlaskClient, hub: Settings
) -> None:
    automatic = client.get("/api/system").get_json()["update"]["automatic"]
    assert automatic["rules"] == {
        "mode": "install",
        "window": "any",
        "window_open": True,
        "next_window": None,
        "metered_downloads": False,
    }
    assert automatic["last_run"] is None and automatic["skipped"] is None
    hub.update_config.parent.mkdir(parents=True, exist_ok=True)
    # A window that opens in two hours, whatever the time now.
    start = datetime.now().astimezone() + timedelta(hours=2)
    window = f"{start:%H:00}-{start + timedelta(hours=1):%H:00}"
    hub.update_config.write_text(f"[update]\nwindow = {window}\n")
    hub.update_automatic.parent.mkdir(parents=True, exist_ok=True)
    hub.update_automatic.write_text(
        json.dumps(AutomaticRun("2026-12-02T03:00:00Z", "network", "notify", "ok").to_json())
    )
    automatic = client.get("/api/system").get_json()["update"]["automatic"]
    assert automatic["last_run"]["origin"] == "network"
    assert automatic["rules"]["window_open"] is False
    opening = datetime.fromisoformat(automatic["rules"]["next_window"])
    assert (opening.hour, opening.minute) == (start.hour, 0) and opening > datetime.now(UTC)


def test_every_view_has_a_banner_for_a_hold_an_offer_a_run_and_a_failure(
    client: FlaskClient, hub: Settings
) -> None:
    assert client.get("/api/system/banner").get_json() == {
        "available": None, "busy": False, "message": None, "failed": False, "hold": None,
    }  # fmt: skip
    Holds(hub.update_hold).hold(None, by="shell")
    record = Available("1.5.0", (Change("picohub", INSTALLED_VERSION, "1.5.0"),), None, "x")
    hub.update_available.write_text(json.dumps(record.to_json()))
    write_status(hub.update_status, Status(Phase.ROLLED_BACK, "rolled back to 1.4.2 because"))
    banner = client.get("/api/system/banner").get_json()
    assert banner["hold"]["description"] == "held until released"
    assert (banner["available"], banner["failed"], banner["busy"]) == ("1.5.0", True, False)
    assert banner["message"].startswith("rolled back to 1.4.2")
    assert client.get("/api/system").get_json()["update"]["banner"] == banner
    write_status(hub.update_status, Status(Phase.INSTALLING, "installing picohub 1.5.0"))
    banner = client.get("/api/system/banner").get_json()
    assert (banner["busy"], banner["failed"]) == (True, False)


def test_a_broken_update_conf_is_shown_not_a_500(client: FlaskClient, hub: Settings) -> None:
    hub.update_config.parent.mkdir(parents=True, exist_ok=True)
    hub.update_config.write_text("[update]\nautomatic = sometimes\n")
    automatic = client.get("/api/system").get_json()["update"]["automatic"]
    assert automatic["rules"] is None and "automatic must be one of" in automatic["config_error"]


def test_the_page_names_the_release_an_automatic_run_skips(
    client: FlaskClient, hub: Settings
) -> None:
    record = Available("1.5.0", (Change("picohub", INSTALLED_VERSION, "1.5.0"),), None, "x")
    hub.update_available.parent.mkdir(parents=True, exist_ok=True)
    hub.update_available.write_text(json.dumps(record.to_json()))
    History(hub.update_history).append(
        Entry("2026-12-02T03:00:00Z", "timer", "update", INSTALLED_VERSION, "1.5.0",
              "rolled-back", "rolled back to 1.4.2 because /healthz answered 503", 99.0, 10)
    )  # fmt: skip
    skipped = client.get("/api/system").get_json()["update"]["automatic"]["skipped"]
    assert skipped["version"] == "1.5.0" and "was rolled back" in skipped["reason"]


def test_the_system_view_shows_the_phase_and_this_hubs_bucket(
    client: FlaskClient, hub: Settings
) -> None:
    _offer(hub, "99.0.0")
    record = json.loads(hub.update_available.read_text())
    record["phase"] = {"percentage": 20, "bucket": 57, "machine_id_known": True}
    hub.update_available.write_text(json.dumps(record))
    available = client.get("/api/system").get_json()["update"]["available"]
    assert available["update_available"] is True  # the page's Install still installs it
    assert available["phase"]["percentage"] == 20 and available["phase"]["bucket"] == 57
    assert available["phase"]["included"] is False and available["phase"]["turn_at"] == 58
    assert "this hub's turn comes at 58%" in available["message"]


def test_a_hub_hawkbit_manages_says_so_and_leaves_check_and_install_to_the_server(
    client: FlaskClient, csrf: dict[str, str], hub: Settings, trigger: FakeTrigger
) -> None:
    assert client.get("/api/system").get_json()["update"]["automatic"]["fleet"] is None
    hub.update_config.parent.mkdir(parents=True, exist_ok=True)
    hub.update_config.write_text(
        "[fleet]\nfleet = hawkbit\nhawkbit_url = https://hawkbit.example.org\n"
    )
    automatic = client.get("/api/system").get_json()["update"]["automatic"]
    assert automatic["fleet"] == {
        "kind": "hawkbit",
        "server": "https://hawkbit.example.org",
        "tenant": "DEFAULT",
    }
    for path in ("/api/system/update", "/api/system/update/check"):
        answer = client.post(path, json={}, headers=csrf)
        assert answer.status_code == 409, path
        said = answer.get_json()
        assert said["error"] == "managed_by_fleet"
        assert "hawkBit at https://hawkbit.example.org" in said["message"]
        assert "offline bundle" in said["message"]
    assert trigger.requests == []
    # A rollback is still the administrator's.
    assert (
        client.post("/api/system/rollback", json={"confirm": True}, headers=csrf).status_code == 202
    )
