"""The distributions the system tests boot: every journey runs on each one a run selects
(``--distribution``, bookworm and trixie by default), as a parameter of the ``container``
fixture; arm64 runs in a lane of its own, on the journeys ``ARM64_JOURNEYS`` names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import need, need_tools
from tests.system.emulation import emulation_problem, host_arch
from tests.system.rootfs import ensure_root


@dataclass(frozen=True)
class Distribution:
    name: str  # in test ids: test_x[trixie]
    suite: str
    arch: str | None = None  # None: the host's
    # Emulated systems are several times slower: boot and shutdown get this many times
    # the usual time.
    slowness: int = 1

    def root(self) -> Path:
        """The cached root file system, built first if it is not there yet; the test is
        skipped (failed under CI=true) when this machine cannot run it."""
        need(os.geteuid() == 0, "system tests need root (mount, systemd-nspawn)")
        need_tools("systemd-nspawn", "debootstrap", "nsenter")
        if self.arch is not None and self.arch != host_arch():
            need_tools("update-binfmts")
            problem = emulation_problem(self.arch)
            need(problem is None, f"the {self.name} journeys need qemu-user here: {problem}")
        return ensure_root(self.suite, self.arch)


DISTRIBUTIONS = {
    d.name: d
    for d in (
        Distribution("bookworm", "bookworm"),
        Distribution("trixie", "trixie"),
        # What a Raspberry Pi runs, its programs run by qemu-user.
        Distribution("arm64", "bookworm", "arm64", slowness=5),
    )
}
DEFAULT_DISTRIBUTIONS = ("bookworm", "trixie")

# The journeys the arm64 lane runs (emulation makes everything several times slower):
# the packages, Architecture: all, installed with arm64's python3, nginx and gpgv, then
# updated, rolled back and fed a bundle from the page.
ARM64_JOURNEYS = ("tests/system/test_update_web.py",)
