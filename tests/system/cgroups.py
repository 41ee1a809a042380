"""A cgroup of its own for each container.

``systemd-nspawn --keep-unit --register=no`` puts the container in ``payload`` under the
cgroup nspawn runs in, and the container's systemd manages everything below it. Two
containers started from the same cgroup would share that tree: stopping a unit in one
would kill the other's processes of the same unit name. So each container's nspawn is
moved first into a cgroup of its own, in each hierarchy systemd uses (the unified one and,
on a hybrid host, the named ``systemd`` one).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from picohub.errors import PicohubError


def own_cgroups(name: str) -> list[Path]:
    """New (or existing) cgroups named ``name`` beside where this process is, one per
    hierarchy systemd uses."""
    mounts = _mounts()
    made: list[Path] = []
    for line in Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines():
        _, controllers, path = line.split(":", 2)
        key = "cgroup2" if controllers == "" else controllers
        if key not in mounts:
            continue  # a v1 controller: systemd in the container does not manage it
        mount_point, mount_root = mounts[key]
        relative = os.path.relpath(path, mount_root)
        directory = (mount_point / relative / name).resolve()
        directory.mkdir(exist_ok=True)
        made.append(directory)
    if not made:
        raise PicohubError(
            "found no cgroup hierarchy for the containers in /proc/self/mountinfo",
            hint="systemd-nspawn needs cgroup2 or a name=systemd cgroup mounted",
        )
    return made


def entering(cgroups: Sequence[Path], argv: Sequence[str]) -> list[str]:
    """``argv`` as a command that first moves itself into ``cgroups`` (then execs)."""
    moves = "".join(f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))}; " for group in cgroups)
    return ["sh", "-ec", f'{moves}exec "$@"', "sh", *argv]


def remove(cgroups: Sequence[Path], timeout: float = 10) -> None:
    """Remove the cgroups and what the container's systemd left below them, deepest first,
    once the container's last process has gone (a killed container's processes die a
    moment after nspawn). What still holds a process then is killed where cgroup2 can
    (cgroup.kill: the same processes are in every hierarchy); a cgroup that cannot be
    removed is left, with a warning."""
    present = [group for group in cgroups if group.is_dir()]
    if not all(_emptied(group, timeout) for group in present):
        for kill in (group / "cgroup.kill" for group in present):
            if kill.exists():
                kill.write_text("1")
        for group in present:
            _emptied(group, timeout)
    for top in present:
        nested = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for directory in [*nested, top]:
            with contextlib.suppress(OSError):
                directory.rmdir()
        if top.exists():
            left = _processes(top)
            warnings.warn(f"cgroup {top} not removed: {left} process(es) in it", stacklevel=2)


def _processes(top: Path) -> int:
    count = 0
    for procs in top.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            count += len(procs.read_text(encoding="utf-8").split())
    return count


def _emptied(top: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _processes(top):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _mounts() -> dict[str, tuple[Path, str]]:
    """Mount point and root of the unified hierarchy ("cgroup2") and of the named systemd
    one ("name=systemd"), from /proc/self/mountinfo."""
    found: dict[str, tuple[Path, str]] = {}
    for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines():
        fields, _, rest = line.partition(" - ")
        parts, after = fields.split(), rest.split()
        if len(after) < 3:
            continue
        fstype, options = after[0], after[2].split(",")
        root, mount_point = parts[3], Path(parts[4])
        if fstype == "cgroup2":
            found.setdefault("cgroup2", (mount_point, root))
        elif fstype == "cgroup" and "name=systemd" in options:
            found.setdefault("name=systemd", (mount_point, root))
    return found
