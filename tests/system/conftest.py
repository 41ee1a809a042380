"""System tests: a real Debian booted with systemd in a container, one per test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_tools
from tests.system.container import Container
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
    machine = Container(bookworm_root, tmp_path_factory.mktemp("container"))
    try:
        machine.start()
        yield machine
    finally:
        machine.stop()
        shutil.rmtree(machine.scratch, ignore_errors=True)
