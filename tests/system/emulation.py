"""Running another architecture's programs on this machine: qemu-user, registered with the
kernel's binfmt_misc with the "F" flag (the emulator is opened when it is registered, so
it works inside a container's root, which has no emulator of its own)."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from picohub.errors import PicohubError
from picohub.process import run

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Debian architecture -> qemu's name for it.
QEMU_NAMES = {"arm64": "aarch64", "armhf": "arm"}


@functools.cache
def host_arch() -> str:
    return run(["dpkg", "--print-architecture"]).stdout.strip()


def emulation_problem(arch: str) -> str | None:
    """Why programs built for ``arch`` cannot run here, or None once they can (qemu is
    registered first if it is not)."""
    qemu = QEMU_NAMES.get(arch)
    if qemu is None:
        return f"no qemu-user emulator is known for {arch}"
    if shutil.which(f"qemu-{qemu}-static") is None:
        return f"needs qemu-{qemu}-static from qemu-user-static (run packaging/dev/bootstrap)"
    return _mount_binfmt() or _register(qemu)


def _mount_binfmt() -> str | None:
    if (BINFMT / "register").exists():
        return None
    mounted = run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT], check=False)
    if mounted.returncode != 0:
        return f"cannot mount binfmt_misc on {BINFMT}: {mounted.stderr.strip()}"
    return None


def _register(qemu: str) -> str | None:
    entry = BINFMT / f"qemu-{qemu}"
    if entry.exists() and not _fixed(entry):
        # Its emulator would be looked up inside the container, which has none. It is
        # the machine's (maybe not ours): left alone, and said.
        return (
            f"{entry} is registered without the F flag; re-register qemu-{qemu} with it "
            f"(binfmt-support: update-binfmts --disable qemu-{qemu}, then --enable)"
        )
    if not entry.exists() or not _enabled(entry):
        enabled = run(["update-binfmts", "--enable", f"qemu-{qemu}"], check=False)
        if enabled.returncode != 0 or not entry.exists():
            return f"cannot register qemu-{qemu} with binfmt_misc: {enabled.stderr.strip()}"
    if not (_enabled(entry) and _fixed(entry)):
        return f"{entry} is not enabled with the F flag:\n{entry.read_text()}"
    return None


def need_emulation(arch: str) -> None:
    problem = emulation_problem(arch)
    if problem is not None:
        raise PicohubError(
            f"cannot run {arch} programs here: {problem}",
            hint="a root of another architecture needs qemu-user-static and binfmt_misc",
        )


def _lines(entry: Path) -> list[str]:
    return entry.read_text(encoding="utf-8").splitlines()


def _enabled(entry: Path) -> bool:
    return bool(_lines(entry)) and _lines(entry)[0] == "enabled"


def _fixed(entry: Path) -> bool:
    flags = [line.split(":", 1)[1] for line in _lines(entry) if line.startswith("flags:")]
    return bool(flags) and "F" in flags[0]
