"""Signed repositories made by the release tool, for the integration tests."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from picohub.process import run
from picohub.settings import Settings
from picohub_release.build import Build
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import Signer, local_signer
from tests.unit.conftest import fake_dpkg

# Every GnuPG home a test made: its gpg-agent is stopped when the session ends.
GNUPG_HOMES: list[Path] = []


def make_signer(directory: Path) -> Signer:
    GNUPG_HOMES.append(directory)
    return local_signer(directory)


def stop_agents() -> None:
    for home in GNUPG_HOMES:
        run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False, timeout=30)
    GNUPG_HOMES.clear()


def make_repository(build: Build, directory: Path, signer: Signer) -> Repository:
    return write_repository(build.debs, directory, signer, version=build.version)


def copy_repository(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on loopback; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def hub_settings(
    root: Path, keyring: Path, monkeypatch: pytest.MonkeyPatch, **installed: str
) -> Settings:
    """A hub under ``root`` with these packages installed (a dpkg database dpkg-query
    reads), trusting ``keyring``; also in the environment, for the command line. As on a
    real hub, picohub comes with its keyring package at the same version."""
    if "picohub" in installed:
        installed.setdefault("picohub-archive-keyring", installed["picohub"])
    settings = Settings(
        state_dir=root / "state",
        cache_dir=root / "cache",
        dpkg_admin_dir=fake_dpkg(root / "dpkg", **installed),
        update_state_dir=root / "update",
        update_config=root / "update.conf",
        archive_keyring=keyring,
    )
    for name, value in (
        ("PICOHUB_STATE_DIR", settings.state_dir),
        ("PICOHUB_CACHE_DIR", settings.cache_dir),
        ("PICOHUB_DPKG_ADMIN_DIR", settings.dpkg_admin_dir),
        ("PICOHUB_UPDATE_STATE_DIR", settings.update_state_dir),
        ("PICOHUB_UPDATE_CONFIG", settings.update_config),
        ("PICOHUB_ARCHIVE_KEYRING", settings.archive_keyring),
    ):
        monkeypatch.setenv(name, str(value))
    return settings
