from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from picohub.errors import PicohubError
from picohub.settings import Settings
from picohub.web import create_app
from picohub.web.database import MIGRATIONS
from tests.unit.conftest import INSTALLED_VERSION, fake_dpkg

HEARTBEAT = {"firmware_version": "1.0.0", "uptime_s": 5, "readings": {"temperature_c": 20.5}}


def _stored(settings: Settings) -> list[str]:
    with sqlite3.connect(settings.database) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM devices")]


def test_healthz_reports_the_version_dpkg_installed(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "version": INSTALLED_VERSION}


def test_healthz_version_is_null_when_dpkg_does_not_know_picohub(
    settings: Settings, tmp_path: Path
) -> None:
    other = fake_dpkg(tmp_path / "other-dpkg", nginx="1.22.1")
    settings = Settings(state_dir=settings.state_dir, dpkg_admin_dir=other)
    app = create_app(settings)  # Flask 2.2's JSON provider holds the app weakly: keep it
    answer = app.test_client().get("/healthz")
    assert answer.get_json() == {"status": "ok", "version": None}


def test_healthz_fails_when_the_database_is_unusable(
    client: FlaskClient, settings: Settings
) -> None:
    settings.database.unlink()
    settings.database.mkdir()  # sqlite cannot open a directory
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json()["status"] == "error"


def test_a_heartbeat_registers_the_device(client: FlaskClient) -> None:
    answer = client.post("/api/devices/pico-1/heartbeat", json=HEARTBEAT)
    assert answer.status_code == 200
    devices = client.get("/api/devices").get_json()["devices"]
    assert [d["id"] for d in devices] == ["pico-1"]
    device = devices[0]
    assert device["firmware_version"] == "1.0.0"
    assert device["readings"] == {"temperature_c": 20.5}
    assert device["uptime_s"] == 5
    assert datetime.fromisoformat(device["last_seen"].replace("Z", "+00:00")).tzinfo is not None


def test_a_later_heartbeat_updates_the_device(client: FlaskClient) -> None:
    client.post("/api/devices/pico-1/heartbeat", json=HEARTBEAT)
    client.post("/api/devices/pico-1/heartbeat", json={"firmware_version": "1.1.0"})
    (device,) = client.get("/api/devices").get_json()["devices"]
    assert device["firmware_version"] == "1.1.0"
    assert device["readings"] == {}
    assert device["first_seen"] <= device["last_seen"]


def test_devices_survive_a_restart_of_the_app(settings: Settings) -> None:
    create_app(settings).test_client().post("/api/devices/pico-7/heartbeat", json=HEARTBEAT)
    app = create_app(settings)
    assert [d["id"] for d in app.test_client().get("/api/devices").get_json()["devices"]] == [
        "pico-7"
    ]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "code"),
    [
        ("/api/devices/pico-1/heartbeat", {"json": {"firmware_version": 1}}, 400, "bad_request"),
        ("/api/devices/pico-1/heartbeat", {"json": {**HEARTBEAT, "x": 1}}, 400, "bad_request"),
        ("/api/devices/-bad/heartbeat", {"json": HEARTBEAT}, 400, "bad_request"),
        ("/api/devices/pico-1/heartbeat", {"data": "firmware_version=1"}, 415, None),
        (
            "/api/devices/pico-1/heartbeat",
            {
                "data": json.dumps({**HEARTBEAT, "pad": "x" * 20000}),
                "content_type": "application/json",
            },
            413,
            "payload_too_large",
        ),
        (
            "/api/devices/pico-1/heartbeat",
            {"data": "[" * 8000 + "]" * 8000, "content_type": "application/json"},
            400,
            "bad_request",
        ),
        (
            "/api/devices/pico-1/heartbeat",
            {
                "data": '{"firmware_version": "1", "uptime_s": ' + "7" * 8000 + "}",
                "content_type": "application/json",
            },
            400,
            "bad_request",
        ),
        ("/api/session", {"data": '{"password":' * 1300, "content_type": "application/json"},
         400, "invalid_json"),
        ("/api/session", {"data": '{"password": 1' + "0" * 9000 + "}",
                          "content_type": "application/json"}, 400, "invalid_json"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_json_error_and_store_nothing(
    client: FlaskClient,
    settings: Settings,
    path: str,
    kwargs: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    answer = client.post(path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status
    body = answer.get_json()
    assert body["message"]
    if code:
        assert body["error"] == code
    assert _stored(settings) == []


def test_unknown_paths_and_methods_answer_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = client.delete("/api/devices")
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_the_schema_is_created_once_and_versioned(settings: Settings) -> None:
    create_app(settings)
    create_app(settings)
    with sqlite3.connect(settings.database) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_missing_state_directory_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "absent", dpkg_admin_dir=fake_dpkg(tmp_path / "d"))
    with pytest.raises(PicohubError, match=r"state directory .*absent does not exist"):
        create_app(settings)
