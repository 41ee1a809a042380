"""The cached test roots: one per suite and architecture, and rebuilding one never
deletes another."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.system import rootfs
from tests.system.emulation import _enabled, _fixed, host_arch

REAL_ENTRY = (
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
    "magic 7f454c460201010000000000000000000200b700\n"
)


def test_a_foreign_architecture_has_its_own_root() -> None:
    native, arm64 = rootfs.root_path("bookworm"), rootfs.root_path("bookworm", "arm64")
    if host_arch() == "arm64":
        assert arm64 == native
    else:
        assert arm64 != native
        assert arm64.name.startswith("bookworm-arm64-")
    assert rootfs.root_path("bookworm", host_arch()) == native
    assert rootfs.root_path("trixie") != native


def test_rebuilding_a_root_removes_its_own_old_builds_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rootfs, "CACHE", tmp_path)
    names = [
        "bookworm-0123456789ab",
        "bookworm-ba9876543210.partial",
        "bookworm-arm64-0123456789ab",
        "bookworm-arm64-0123456789ab.partial",
        "trixie-0123456789ab",
        "bookworm.lock",
    ]
    for name in names:
        (tmp_path / name).mkdir()
    assert sorted(p.name for p in rootfs._stale_roots("bookworm")) == names[:2]
    assert sorted(p.name for p in rootfs._stale_roots("bookworm-arm64")) == names[2:4]


def test_a_binfmt_entry_counts_when_enabled_with_the_f_flag(tmp_path: Path) -> None:
    entry = tmp_path / "qemu-aarch64"
    entry.write_text(REAL_ENTRY)
    assert _enabled(entry) and _fixed(entry)
    entry.write_text(REAL_ENTRY.replace("flags: PF", "flags: P"))
    assert _enabled(entry) and not _fixed(entry)
    entry.write_text(REAL_ENTRY.replace("enabled", "disabled", 1))
    assert not _enabled(entry)
