"""Unit-test fixtures: the app on Flask's test client, its state in a temporary folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from picohub import admin
from picohub.settings import Settings
from picohub.web import create_app

INSTALLED_VERSION = "1.4.2"


def fake_dpkg(admin_dir: Path, **versions: str) -> Path:
    """A dpkg database that real ``dpkg-query`` reads, with these packages installed."""
    admin_dir.mkdir(parents=True, exist_ok=True)
    paragraphs = [
        f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
        "Architecture: all\nMaintainer: Test <test@example.org>\nDescription: test\n"
        for name, version in versions.items()
    ]
    (admin_dir / "status").write_text("\n".join(paragraphs), encoding="utf-8")
    (admin_dir / "info").mkdir(exist_ok=True)
    return admin_dir


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    state = tmp_path / "state"
    state.mkdir()
    return Settings(
        state_dir=state,
        cache_dir=tmp_path / "cache",
        firmware_dir=tmp_path / "firmware",
        dpkg_admin_dir=fake_dpkg(tmp_path / "dpkg", picohub=INSTALLED_VERSION),
    )


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def log_in(client: FlaskClient, settings: Settings) -> dict[str, str]:
    """Log ``client`` in as the administrator; the CSRF header its changes must carry."""
    answer = client.post("/api/session", json={"password": admin.show(settings)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"X-CSRF-Token": answer.get_json()["csrf_token"]}


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
