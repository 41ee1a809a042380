"""Peak memory of a unit's processes, polled from its cgroup on the host."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from picohub.errors import PicohubError
from tests.system.container import Container, wait_for
from tools.bench.settings import UPDATE_TIMEOUT_S, WATCH_PERIOD_S


def unit_cgroup(container: Container, unit: str) -> Path:
    """The host's path of ``unit``'s cgroup (cgroup v2) inside the booted container."""
    own = Path(f"/proc/{container.leader}/cgroup").read_text(encoding="utf-8")
    line = next((x for x in own.splitlines() if x.startswith("0::")), "")
    init = PurePosixPath(line[3:])
    if init.name != "init.scope":
        raise PicohubError(f"the container's systemd is in cgroup {init}, not an init.scope")
    hybrid = Path("/sys/fs/cgroup/unified")
    mount = hybrid if (hybrid / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
    return mount / str(init.parent).lstrip("/") / "system.slice" / unit


@dataclass
class Process:
    pid: int
    name: str
    command: str
    peak_kib: int = 0


class UnitWatcher(threading.Thread):
    """Polls a unit's cgroup until it has come and gone: its processes' peak RSS."""

    def __init__(self, container: Container, unit: str) -> None:
        super().__init__(daemon=True)
        self.unit = unit
        self.procs = unit_cgroup(container, unit) / "cgroup.procs"
        self.processes: dict[int, Process] = {}
        self.appeared: float | None = None
        self.ended: float | None = None
        self.peak_total_kib = 0

    def run(self) -> None:
        deadline = time.monotonic() + UPDATE_TIMEOUT_S + 60
        while time.monotonic() < deadline:
            time.sleep(WATCH_PERIOD_S)
            try:
                pids = [int(pid) for pid in self.procs.read_text().split()]
            except OSError:
                pids = []
            now = time.monotonic()
            if not pids:
                if self.appeared is not None:
                    self.ended = now
                    return
                continue
            self.appeared = self.appeared or now
            self.peak_total_kib = max(self.peak_total_kib, sum(self._sample(p) for p in pids))

    def wait_until_ended(self) -> None:
        wait_for(lambda: self.appeared, timeout=30, what=f"{self.unit} to start")
        self.join(UPDATE_TIMEOUT_S)
        if self.is_alive():
            raise PicohubError(f"{self.unit} still runs after {UPDATE_TIMEOUT_S} s")

    def _sample(self, pid: int) -> int:
        """Record ``pid``'s peak; return its current RSS (KiB)."""
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return 0
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        peak, rss = (int(fields.get(k, "0 kB").split()[0]) for k in ("VmHWM", "VmRSS"))
        known = self.processes.setdefault(pid, Process(pid, fields["Name"].strip(), command))
        # An exiting process (a zombie) has no command line left: keep the last one seen.
        if command.strip():
            known.name, known.command = fields["Name"].strip(), command.strip()[:200]
        known.peak_kib = max(known.peak_kib, peak)
        return rss

    def summary(self, main: Callable[[Process], bool]) -> dict[str, Any]:
        ranked = sorted(self.processes.values(), key=lambda p: -p.peak_kib)
        # The first seen: a child between fork and exec briefly has its parent's name.
        mains = [p for p in self.processes.values() if main(p)]
        return {
            "main_peak_rss_kib": mains[0].peak_kib if mains else None,
            "main_command": mains[0].command if mains else None,
            "largest": asdict(ranked[0]) if ranked else None,
            "peak_kib_by_name": {p.name: p.peak_kib for p in reversed(ranked)},
            "peak_total_rss_kib": self.peak_total_kib,
            "processes_seen": len(ranked),
        }
