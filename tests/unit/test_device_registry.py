"""The registry is bounded: unauthenticated heartbeats cannot grow it past
``max_devices``; the administrator removes a board to make room."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from picohub import admin
from picohub.settings import Settings
from picohub.web import create_app
from tests.unit.conftest import log_in

BEAT = {"firmware_version": "1.0.0", "uptime_s": 5}
OWNER = (os.getuid(), os.getgid())


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    here = replace(settings, max_devices=3, admin_password_file=tmp_path / "etc" / "password")
    admin.init(here, OWNER)
    return here


@pytest.fixture
def client(hub: Settings) -> FlaskClient:
    return create_app(hub).test_client()


def _ids(client: FlaskClient) -> list[str]:
    return [device["id"] for device in client.get("/api/devices").get_json()["devices"]]


def test_a_new_board_past_the_bound_is_refused_and_nothing_stored(client: FlaskClient) -> None:
    for name in ("pico-1", "pico-2", "pico-3"):
        assert client.post(f"/api/devices/{name}/heartbeat", json=BEAT).status_code == 200
    refused = client.post("/api/devices/pico-4/heartbeat", json=BEAT)
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"] == "registry_full" and "at most 3 boards" in body["message"]
    assert _ids(client) == ["pico-1", "pico-2", "pico-3"]
    # Boards already known keep reporting.
    again = client.post("/api/devices/pico-2/heartbeat", json=BEAT | {"uptime_s": 99})
    assert again.status_code == 200


def test_the_administrator_removes_a_board_to_make_room(client: FlaskClient, hub: Settings) -> None:
    for name in ("pico-1", "pico-2", "pico-3"):
        client.post(f"/api/devices/{name}/heartbeat", json=BEAT)
    assert client.delete("/api/devices/pico-1").status_code == 401  # not logged in
    token = log_in(client, hub)
    assert client.delete("/api/devices/pico-1").status_code == 403  # no CSRF token
    removed = client.delete("/api/devices/pico-1", headers=token)
    assert removed.status_code == 200 and removed.get_json() == {"id": "pico-1", "removed": True}
    missing = client.delete("/api/devices/pico-1", headers=token)
    assert missing.status_code == 404 and "pico-1" in missing.get_json()["message"]
    assert client.delete("/api/devices/bad%20id", headers=token).status_code == 400
    assert client.post("/api/devices/pico-4/heartbeat", json=BEAT).status_code == 200
    assert _ids(client) == ["pico-2", "pico-3", "pico-4"]
