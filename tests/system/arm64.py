"""The same journeys on an arm64 bookworm, what a Raspberry Pi runs, its programs run by
qemu-user (see emulation): a module that imports this fixture boots it instead of the
host's architecture. Emulation makes everything several times slower, so ``make test``
runs these modules in a lane of their own, beside the others (pytest-arm64)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import need, need_tools
from tests.system.container import Container, booted
from tests.system.emulation import emulation_problem, host_arch
from tests.system.rootfs import ensure_root

ARCH = "arm64"


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    need(os.geteuid() == 0, "system tests need root (mount, systemd-nspawn, binfmt_misc)")
    need_tools("systemd-nspawn", "debootstrap", "nsenter")
    if host_arch() != ARCH:
        need_tools("update-binfmts")
        problem = emulation_problem(ARCH)
        need(problem is None, f"the {ARCH} journeys need qemu-user here: {problem}")
    root = ensure_root("bookworm", ARCH)
    # Emulated: boot and shutdown are given five times the usual time.
    with booted(root, tmp_path_factory.mktemp(ARCH), boot_timeout=300, stop_timeout=150) as machine:
        assert machine.run(["dpkg", "--print-architecture"]).stdout.strip() == ARCH
        yield machine
