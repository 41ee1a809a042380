"""Unit-test fixtures: the app on Flask's test client, its state in a temporary folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

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


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
