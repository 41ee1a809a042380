"""System tests: a real Debian booted with systemd in a container, one per test module."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from picohub_release.build import Build
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import SOURCE, need, need_tools
from tests.system.container import Container, booted
from tests.system.journeys import apt_install, healthy_version, heartbeat
from tests.system.rootfs import ensure_root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/system/" in str(item.path):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def bookworm_root() -> Path:
    need(os.geteuid() == 0, "system tests need root (mount, systemd-nspawn)")
    need_tools("systemd-nspawn", "debootstrap", "nsenter")
    return ensure_root("bookworm")


@pytest.fixture(scope="module")
def container(bookworm_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A freshly booted bookworm for this module; its changes vanish with it."""
    with booted(bookworm_root, tmp_path_factory.mktemp("container")) as machine:
        yield machine


# A local server answering like GitHub, run in the container's network namespace (so
# the hub reaches it at its own 127.0.0.1), with releases A and B (the latest).
PORT = 8000


def _repository(build: Build, factory: pytest.TempPathFactory) -> Repository:
    # Signed by the key the test builds pin in picohub (the local throwaway key).
    signer = local_signer(LOCAL_KEY_DIR)
    return write_repository(
        build.debs, factory.mktemp("repo") / "repo", signer, version=build.version
    )


@contextmanager
def serve_releases(
    container: Container, releases: Sequence[tuple[str, Path]], options: Sequence[str] = ()
) -> Iterator[str]:
    """Serve ``releases`` (tag, repository directory; the last is latest) from inside the
    container's network namespace; yields the base URL the hub uses. ``options`` go to
    ``python -m tests.fakegithub``."""
    server = subprocess.Popen(
        [
            "nsenter", f"--net=/proc/{container.leader}/ns/net", "--",
            sys.executable, "-m", "tests.fakegithub", "--port", str(PORT), "--no-token",
            *[f"--release={tag}={directory}" for tag, directory in releases],
            *options,
        ],
        cwd=SOURCE,
        env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once it listens
        assert url == f"http://127.0.0.1:{PORT}", url
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def hub_on(
    container: Container,
    first: Build,
    published: Sequence[Build],
    factory: pytest.TempPathFactory,
    extra: str = "",
) -> Iterator[Build]:
    """A hub on ``first``, installed with apt (one device registered, "pico-cellar"),
    its updater pointed at a local GitHub serving ``first`` and ``published``."""
    releases = [
        (f"v{build.version}", _repository(build, factory).directory)
        for build in (first, *published)
    ]
    with serve_releases(container, releases) as url:
        apt_install(container, first)
        assert healthy_version(container) == first.version
        assert heartbeat(container, "pico-cellar", "1.0.0")[0] == 200
        point_updater_at(container, url, extra)
        yield first


def point_updater_at(container: Container, url: str, extra: str = "") -> None:
    container.sh(
        f"printf '[github]\\ndownload_url = {url}\\napi_url = {url}/api\\n{extra}'"
        " > /etc/picohub/update.conf"
    )


@pytest.fixture(scope="module")
def github(
    container: Container,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    releases = [
        (f"v{build.version}", _repository(build, tmp_path_factory).directory)
        for build in (release_a, release_b)
    ]
    with serve_releases(container, releases) as url:
        yield url
