"""The same journeys on Debian trixie (systemd 257, Python 3.13, Flask 3): a module that
imports this fixture boots trixie instead of bookworm."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import need, need_tools
from tests.system.container import Container, booted
from tests.system.rootfs import ensure_root


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    need(os.geteuid() == 0, "system tests need root (mount, systemd-nspawn)")
    need_tools("systemd-nspawn", "debootstrap", "nsenter")
    with booted(ensure_root("trixie"), tmp_path_factory.mktemp("trixie")) as machine:
        machine.run(["grep", "-qx", "VERSION_CODENAME=trixie", "/etc/os-release"])
        yield machine
