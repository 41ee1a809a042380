"""Issue #7's benchmark: how picohub's update compares with two simpler ways to update the
same packages, measured on one booted bookworm container, in one run.

Run it as root: ``python -m tests.bench [--runs N] [--out bench/results.json]``. It prints
a table of medians (with min and max) and writes every figure and every raw sample to
``--out``. It is a benchmark, not a test: nothing here passes or fails on a number.

The releases. Release 1 is this tree (the version of ``debian/changelog``); release 2 is
the same tree stamped one version later, and only its ``picohub`` package is used: the
repository of release 2 holds picohub 2 beside the *same* picohub-web and picohub-firmware
.debs as release 1, so only picohub changes between the two. Both are signed with the local
key that test builds pin, and served by ``tests.fakegithub`` (``serve_releases``, release 2
the latest) in the container's network namespace. The updater reaches it through a small
relay on port 8001 that records every HTTP exchange, so "bytes downloaded" is counted on the
wire, independently of the updater's own bookkeeping.

The variants, each run ``--runs`` times, interleaved round by round (the order rotates
every round, so no variant always follows another), all from the same state: release 1
installed (``apt-get install --allow-downgrades --reinstall`` of picohub 1, which also
undoes the naive variant's file swap that dpkg knows nothing of), picohub.socket and
picohub.service active, the updater's cache empty:

- ``restart``: the baseline, ``systemctl restart picohub.service``. Its "app start" (from
  the new main process's exec, as systemd records it, to the first answer it gives) is
  the app's own start time the unavailability windows are compared with.
- ``picohub``: exactly what the frontend does: log in through nginx, POST
  /api/system/update (the newest release). The updater runs in ``picohub-update.service``.
  The cache is emptied before every run, so each run is the first update of a hub
  installed with apt: it downloads release 2's index and picohub .deb, and release 1's
  index and picohub .deb, the copy a rollback would install (a hub that updated before
  has that copy cached already). Both are listed separately.
- ``naive``: the seed design before the Debian packages: stop, replace the files, start.
  The seed ran this from a subprocess of the app; here a root shell script runs in its own
  transient unit, because a child of picohub.service would be killed by the stop it asks
  for (and the app runs unprivileged, with NoNewPrivileges=yes, so it could not run
  systemctl at all): this is the naive design's best case. It stops picohub.socket too,
  since with the socket listening the next request would start the old code again, and
  "replaces the files": the program files of picohub_2.deb are unpacked over / with tar
  (``--keep-directory-symlink``: plain ``dpkg-deb -x`` replaces merged /usr's /lib symlink
  with a folder and breaks the system; ``/etc`` left alone, as the seed never replaced its
  configuration; /etc/picohub/update.conf points the updater at the bench's server).
  dpkg's database still says release 1, and /healthz reports dpkg's version, so the new
  code answers with the old version number (``healthz_version``, a flaw of that design):
  for this variant "the new version answers" means the first answer after the new main
  process started (systemd's ExecMainStartTimestamp; the old process had stopped before
  it). The swapped .py files no longer match the bytecode py3compile wrote for release 1
  (30 modules stale), and the app cannot write ``__pycache__`` (ProtectSystem=strict), so
  it compiles them at every start; the figures include that.
- ``apt``: ``apt-get install ./picohub_2.deb`` with the service stopped before unpacking,
  as a package built with ``--no-restart-after-upgrade`` does. Stopping only the service
  would not stop it under socket activation (the next request starts the old code while
  dpkg unpacks), so the socket is stopped as well; postinst starts both again. It runs in
  a transient unit too (peak RSS is polled the same way).

naive and apt get the .deb on the container's disk beforehand: their total time has no
check, download or verification in it, picohub's has all three.

The measurements:

- A probe sends ``GET /healthz`` through nginx (port 8780) every 20 ms on a wall-clock
  schedule, each request on its own connection in its own thread (a slow answer does not
  delay the next request), timeout 2 s per socket operation. It runs in the container's
  network namespace as a separate host process (``agent_main``), so it competes with the
  bench for nothing but the CPU. Each sample: when it was due, sent, answered; status
  (0: no HTTP answer: refused, reset or timed out); the version /healthz reported.
- From the trigger until the probe stops (1 s after the new version answered and the
  update's unit ended): requests failed (anything but 200), the longest gap between two
  successful answers (from the last one before the trigger), the worst latency, and the
  total time: trigger to the first answer from the new version. systemd's timestamps of
  picohub.service split the app's own part of the window: its last stop (ActiveExit to
  InactiveEnter) and its last start (ExecMainStart to the first answer after it).
- Peak RSS: the unit's processes are read from its cgroup every 10 ms (from the host) and
  each one's VmHWM kept; the "updater" figure is the unit's main process (the Python
  ``picohub-update``; ``sh`` for naive; ``apt-get`` for apt), the largest process of the
  unit is reported beside it. A process that lives less than 10 ms can be missed.
- The no-change check: after each picohub run (release 2 installed), ``picohub-update
  check --json`` twice, timed by bash inside the container; the second is the figure,
  with its ``not_modified`` (a 304) and the requests it made.

All clocks are CLOCK_MONOTONIC: the container shares the host's (systemd-nspawn makes no
time namespace), so the probe's times, the bench's and systemd's unit timestamps compare.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub_release.build import Build, build_debs
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import changelog_version, upstream_part
from tests.conftest import SOURCE, next_version
from tests.system.conftest import PORT, point_updater_at, serve_releases
from tests.system.container import Container, wait_for
from tests.system.journeys import healthy_version, unit_stops_and_starts
from tests.system.rootfs import ensure_root

log = logging.getLogger("bench")

VARIANTS = ("restart", "picohub", "naive", "apt")
WEB_PORT = 8780
RELAY_PORT = 8001
PROBE_PERIOD_S = 0.020
PROBE_TIMEOUT_S = 2.0
LEAD_S = 1.0  # probing before the trigger
TAIL_S = 1.0  # probing after the new version answered
UPDATE_TIMEOUT_S = 300.0
WATCH_PERIOD_S = 0.010
DEBS_IN_CONTAINER = "/root/bench"
TOOLS = ("systemd-nspawn", "nsenter", "debootstrap", "dpkg-buildpackage", "git")


# -- agents: host processes in the container's network namespace ------------------------------


def agent_main(role: str) -> None:
    """Serve the bench's requests (JSON lines on stdin, one answer line each on stdout)."""
    agent: _Probe | _Relay = _Probe() if role == "probe" else _Relay(RELAY_PORT, PORT)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = agent.handle(request)
        except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


class _Probe:
    """GET /healthz through nginx every PROBE_PERIOD_S; also makes the bench's requests."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=256)
        self.samples: list[list[Any]] = []
        self.pending: list[Future[None]] = []
        self.stopping = threading.Event()
        self.scheduler: threading.Thread | None = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "start":
            self.samples, self.pending = [], []
            self.stopping.clear()
            self.scheduler = threading.Thread(target=self._schedule, daemon=True)
            self.scheduler.start()
            return {"started": time.monotonic()}
        if request["op"] == "stop":
            assert self.scheduler is not None
            self.stopping.set()
            self.scheduler.join()
            wait(self.pending)
            return {"samples": sorted(self.samples)}
        return self._request(request)

    def _schedule(self) -> None:
        start = time.monotonic()
        tick = 0
        while True:
            due = start + tick * PROBE_PERIOD_S
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            self.pending.append(self.pool.submit(self._one, due))
            tick += 1

    def _one(self, due: float) -> None:
        sent = time.monotonic()
        status, version, error = 0, None, None
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=PROBE_TIMEOUT_S)
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            body = answer.read()
            status = answer.status
            if status == 200:
                version = json.loads(body).get("version")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = type(exc).__name__
        finally:
            connection.close()
        self.samples.append([due, sent, time.monotonic(), status, version, error])

    def _request(self, spec: dict[str, Any]) -> dict[str, Any]:
        body = None if spec.get("body") is None else json.dumps(spec["body"]).encode()
        headers = dict(spec.get("headers") or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=30)
        try:
            sent = time.monotonic()
            connection.request(spec["method"], spec["path"], body=body, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
            return {
                "sent": sent,
                "done": time.monotonic(),
                "status": answer.status,
                "headers": {name.lower(): value for name, value in answer.getheaders()},
                "body": raw.decode(errors="replace"),
            }
        finally:
            connection.close()


class _Relay:
    """A TCP relay from RELAY_PORT to the fake GitHub that keeps both byte streams."""

    def __init__(self, port: int, upstream: int) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.streams: list[tuple[bytearray, bytearray]] = []
        self.server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        assert request["op"] == "take"
        with self.lock:
            streams, self.streams = self.streams, []
        return {"exchanges": [x for up, down in streams for x in _exchanges(up, down)]}

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            up, down = bytearray(), bytearray()
            with self.lock:
                self.streams.append((up, down))
            done = threading.Barrier(2, action=_closer(client, server))
            for source, target, record in ((client, server, up), (server, client, down)):
                threading.Thread(
                    target=_pump, args=(source, target, record, done), daemon=True
                ).start()


def _closer(*sockets: socket.socket) -> Callable[[], None]:
    def close() -> None:
        for each in sockets:
            each.close()

    return close


def _pump(
    source: socket.socket, target: socket.socket, record: bytearray, done: threading.Barrier
) -> None:
    try:
        while chunk := source.recv(1 << 16):
            record.extend(chunk)  # before the peer can have it: nothing delivered is unseen
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        done.wait()


def _head(data: bytes | bytearray, start: int) -> tuple[list[str], int, int] | None:
    """The header lines of the message at ``start``, where its body starts, its length."""
    end = data.find(b"\r\n\r\n", start)
    if end == -1:
        return None
    lines = data[start:end].decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return lines, end + 4, length


def _exchanges(up: bytes | bytearray, down: bytes | bytearray) -> list[dict[str, Any]]:
    """The HTTP/1.1 requests on one connection, each with its answer's status and bytes."""
    asked: list[tuple[str, str]] = []
    position = 0
    while (request := _head(up, position)) is not None:
        method, path, _ = request[0][0].split(" ", 2)
        asked.append((method, path))
        position = request[1] + request[2]
    found: list[dict[str, Any]] = []
    position = 0
    for method, path in asked:
        answer = _head(down, position)
        if answer is None:  # the connection ended before the answer did
            found.append({"method": method, "path": path, "status": None, "bytes": 0, "wire": 0})
            break
        lines, body_start, length = answer
        status = int(lines[0].split(" ", 2)[1])
        if method == "HEAD" or status in (204, 304):
            length = 0  # no body, whatever the headers say
        end = body_start + length
        found.append(
            {
                "method": method,
                "path": path,
                "status": status,
                "bytes": max(0, min(end, len(down)) - body_start),
                "wire": min(end, len(down)) - position,
            }
        )
        position = end
    return found


class Agent:
    """The bench's side of an agent process."""

    def __init__(self, container: Container, role: str) -> None:
        self.role = role
        self.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/proc/{container.leader}/ns/net",
                "--",
                sys.executable,
                "-c",
                f"from tests.bench import agent_main; agent_main({role!r})",
            ],
            cwd=SOURCE,
            env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}", "PATH": "/usr/sbin:/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise PicohubError(f"the {self.role} agent exited ({self.process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise PicohubError(f"the {self.role} agent failed: {reply['error']}")
        return reply

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=10)


# -- peak memory of a unit's processes ----------------------------------------------------------


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


# -- the probe's samples -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    due: float
    sent: float
    done: float
    status: int  # 0: no HTTP answer
    version: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def latency(self) -> float:
        return self.done - self.sent


def availability(samples: Sequence[Sample], start: float) -> dict[str, Any]:
    """Failed requests, the longest gap between successful answers, the worst latency, for
    the requests sent from ``start`` on."""
    during = [s for s in samples if s.sent >= start]
    answers = sorted(s.done for s in samples if s.ok)
    before = [t for t in answers if t < start]
    marks = before[-1:] + [t for t in answers if t >= start]
    failures = Counter(f"{s.status or s.error}" for s in during if not s.ok)
    return {
        "requests": len(during),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "failed_before_trigger": sum(1 for s in samples if s.sent < start and not s.ok),
        "longest_gap_s": max((b - a for a, b in itertools.pairwise(marks)), default=None),
        "worst_latency_s": max((s.latency for s in during), default=None),
        "median_latency_s": statistics.median(s.latency for s in during) if during else None,
        "probe_late_max_s": max((s.sent - s.due for s in samples), default=None),
    }


def first_new_answer(
    samples: Sequence[Sample], start: float, *, version: str | None, after: float | None
) -> Sample | None:
    """The first successful answer after ``start`` reporting ``version`` (when given) and
    completed after ``after`` (when given: the new main process's start)."""
    for sample in sorted(samples, key=lambda s: s.done):
        if not sample.ok or sample.done < start:
            continue
        if (version is None or sample.version == version) and (
            after is None or sample.done > after
        ):
            return sample
    return None


# -- the bench ---------------------------------------------------------------------------------


@dataclass
class Releases:
    old: Build
    new: Build  # only its picohub package is used
    old_repo: Repository
    new_repo: Repository


def build_releases(work: Path) -> Releases:
    """Release 1 from the tree; release 2 with only picohub changed (see the docstring)."""
    new_version = next_version(changelog_version(SOURCE))
    with ThreadPoolExecutor(max_workers=2) as pool:
        old_build = pool.submit(build_debs, SOURCE, work / "r1" / "dist", work / "r1" / "work")
        new_build = pool.submit(
            build_debs, SOURCE, work / "r2" / "dist", work / "r2" / "work", version=new_version
        )
        old, new = old_build.result(), new_build.result()
    signer = local_signer(LOCAL_KEY_DIR)  # the key test builds pin in picohub
    old_repo = write_repository(old.debs, work / "repo1", signer, version=old.version)
    mixed = [new.deb("picohub"), old.deb("picohub-web"), old.deb("picohub-firmware")]
    new_repo = write_repository(mixed, work / "repo2", signer, version=new.version)
    return Releases(old, new, old_repo, new_repo)


@dataclass
class Bench:
    """The booted hub, the releases, the agents; one method per variant."""

    container: Container
    releases: Releases
    probe: Agent
    relay: Agent
    clean: bool = False  # release 1 as reset() leaves it

    @property
    def old(self) -> str:
        return self.releases.old.version

    @property
    def new(self) -> str:
        return self.releases.new.version

    def deb(self, build: Build, package: str) -> str:
        return f"{DEBS_IN_CONTAINER}/{build.version}/{build.deb(package).name}"

    def install_release_1(self) -> None:
        for build in (self.releases.old, self.releases.new):
            for deb in build.debs:
                self.container.put(deb, f"{DEBS_IN_CONTAINER}/{build.version}")
        old = [
            self.deb(self.releases.old, deb.name.split("_")[0]) for deb in self.releases.old.debs
        ]
        apt = ["apt-get", "install", "--yes", "--no-install-recommends"]
        self.container.run([*apt, *old], timeout=600)
        self._settle()

    def reset(self) -> None:
        """Back to release 1, files and dpkg's database alike (--reinstall: after the naive
        variant dpkg says 1 already), both units up, the updater's cache empty."""
        apt = ["apt-get", "install", "--yes", "--no-install-recommends", "--allow-downgrades"]
        old = self.deb(self.releases.old, "picohub")
        self.container.run([*apt, "--reinstall", old], timeout=600)
        self._settle()

    def _settle(self) -> None:
        c = self.container
        c.run(["systemctl", "start", "picohub.socket", "picohub.service"])
        c.run(
            [
                "rm",
                "-rf",
                "/var/cache/picohub/releases",
                "/var/cache/picohub/index",
                "/var/cache/picohub/apt",
            ]
        )
        files = c.run(["python3", "-c", "import picohub; print(picohub.__version__)"]).stdout
        served = healthy_version(c, timeout=60)
        if served != self.old or files.strip() != upstream_part(self.old):
            raise PicohubError(f"reset: /healthz says {served}, the files say {files.strip()}")
        time.sleep(1.0)  # let the restart's aftermath (py3compile, journald) settle
        self.clean = True

    # -- one measurement --------------------------------------------------------------------

    def measure(
        self,
        trigger: Callable[[], float],
        *,
        watcher: UnitWatcher | None,
        new_version: str | None,
    ) -> dict[str, Any]:
        """Probe from LEAD_S before ``trigger`` (which returns its own time) until the
        update's unit has ended and the new code answers, and TAIL_S more."""
        c = self.container
        if watcher:
            watcher.start()
        cursor = c.journal_cursor()
        self.relay.call("take")  # forget earlier exchanges
        self.probe.call("start")
        time.sleep(LEAD_S)
        started = trigger()
        if watcher:
            watcher.wait_until_ended()
        wait_for(
            lambda: healthy_version(c) == (new_version or self.old),
            timeout=60,
            what=f"/healthz to report {new_version or self.old}",
        )
        time.sleep(TAIL_S)
        samples = [Sample(*row) for row in self.probe.call("stop")["samples"]]
        stopping, stopped, new_exec, ready = (
            int(c.unit_property("picohub.service", f"{name}TimestampMonotonic")) / 1e6
            for name in ("ActiveExit", "InactiveEnter", "ExecMainStart", "ActiveEnter")
        )
        restarted = new_exec > started
        first = first_new_answer(
            samples, started, version=new_version, after=None if new_version else new_exec
        )
        # The last start of the app: its exec to the first answer after it (apt's variant
        # starts it twice; the first new answer can come from the first start).
        after_exec = first_new_answer(samples, started, version=None, after=new_exec)
        last_start = after_exec if restarted else None
        stops, starts = unit_stops_and_starts(c, "picohub.service", cursor)
        socket_stops, _ = unit_stops_and_starts(c, "picohub.socket", cursor)
        return {
            "trigger": started,
            "total_s": None if first is None else first.done - started,
            "healthz_version": first.version if first else None,
            "unit_s": None if not watcher or not watcher.ended else watcher.ended - started,
            "app_restarted": restarted,
            "app_stop_s": stopped - stopping if stopping > started else None,
            "app_ready_s": ready - new_exec if restarted else None,
            "app_start_s": None if last_start is None else last_start.done - new_exec,
            "service_stops": stops,
            "service_starts": starts,
            "socket_stops": socket_stops,
            **availability(samples, started),
            "journal_cursor": cursor,
            "samples": [
                [round(s.sent - started, 4), round(s.latency, 4), s.status, s.version]
                for s in samples
            ],
        }

    # -- the variants -----------------------------------------------------------------------

    def run_restart(self) -> dict[str, Any]:
        def trigger() -> float:
            started = time.monotonic()
            self.container.run(["systemctl", "restart", "picohub.service"])
            return started

        return self.measure(trigger, watcher=None, new_version=None)

    def run_picohub(self) -> dict[str, Any]:
        headers = self._log_in()

        def trigger() -> float:
            answer = self.probe.call(
                "request", method="POST", path="/api/system/update", body={}, headers=headers
            )
            if answer["status"] != 202:
                raise PicohubError(f"POST /api/system/update: {answer['status']} {answer['body']}")
            return float(answer["sent"])

        watcher = UnitWatcher(self.container, "picohub-update.service")
        result = self.measure(trigger, watcher=watcher, new_version=self.new)
        result["memory"] = watcher.summary(lambda p: "picohub-update" in p.command)
        status = json.loads(self.container.run(["picohub-update", "status", "--json"]).stdout)
        result["updater_status"] = {k: status.get(k) for k in ("phase", "message")}
        result["downloads"] = self._downloads(self.relay.call("take")["exchanges"])
        result["steps"] = self._steps(result["journal_cursor"], result["trigger"])
        result["cache"] = self.container.run(
            ["find", "/var/cache/picohub/releases", "-type", "f", "-printf", "%P %s\n"]
        ).stdout.splitlines()
        result["no_change_checks"] = [self._check() for _ in range(2)]
        return result

    def run_naive(self) -> dict[str, Any]:
        script = (
            "systemctl stop picohub.socket picohub.service\n"
            f"dpkg-deb --fsys-tarfile {self.deb(self.releases.new, 'picohub')}"
            " | tar -x -C / --keep-directory-symlink --exclude=./etc\n"
            "systemctl start picohub.socket picohub.service\n"
        )
        return self._in_unit("picohub-bench-naive.service", script, "sh", new_version=None)

    def run_apt(self) -> dict[str, Any]:
        script = (
            "systemctl stop picohub.socket picohub.service\n"
            "apt-get install --yes --no-install-recommends -o Dpkg::Options::=--force-confold "
            f"{self.deb(self.releases.new, 'picohub')}\n"
        )
        return self._in_unit("picohub-bench-apt.service", script, "apt-get", new_version=self.new)

    def _in_unit(
        self, unit: str, script: str, main: str, *, new_version: str | None
    ) -> dict[str, Any]:
        """Run ``script`` as the transient ``unit`` (its main process ``main``)."""
        argv = [
            "systemd-run",
            f"--unit={unit}",
            "--collect",
            "--service-type=exec",
            "--wait",
            "--quiet",
            "/bin/sh",
            "-ec",
            script,
        ]
        ran: list[subprocess.CompletedProcess[str]] = []
        runner = threading.Thread(
            target=lambda: ran.append(self.container.run(argv, check=False)), daemon=True
        )

        def trigger() -> float:
            started = time.monotonic()
            runner.start()
            return started

        watcher = UnitWatcher(self.container, unit)
        result = self.measure(trigger, watcher=watcher, new_version=new_version)
        runner.join(60)
        if not ran or ran[0].returncode != 0:
            said = ran[0].stderr.strip() if ran else "did not end"
            raise PicohubError(f"{unit} failed: {said}")
        result["memory"] = watcher.summary(lambda p: p.name == main)
        return result

    def _log_in(self) -> dict[str, str]:
        password = self.container.run(["picohub", "admin-password", "show"]).stdout.strip()
        answer = self.probe.call(
            "request", method="POST", path="/api/session", body={"password": password}
        )
        if answer["status"] != 200:
            raise PicohubError(f"logging in failed: {answer['status']} {answer['body']}")
        cookie = answer["headers"]["set-cookie"].split(";", 1)[0]
        return {"Cookie": cookie, "X-CSRF-Token": json.loads(answer["body"])["csrf_token"]}

    def _downloads(self, exchanges: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """What came from the server, split into the target release (the latest) and the
        copy of the installed one (kept for a rollback)."""
        files = [
            {
                "release": _release_of(x["path"]),
                "name": x["path"].rsplit("/", 1)[-1],
                "status": x["status"],
                "bytes": x["bytes"],
            }
            for x in exchanges
        ]
        debs = [f["name"] for f in files if f["name"].endswith(".deb") and f["bytes"]]
        return {
            "files": files,
            "total_bytes": sum(f["bytes"] for f in files),
            "wire_bytes": sum(x["wire"] for x in exchanges),
            "target_bytes": sum(f["bytes"] for f in files if f["release"] == "latest"),
            "rollback_copy_bytes": sum(f["bytes"] for f in files if f["release"] == self.old),
            "debs": debs,
            "other_packages_downloaded": any(not d.startswith("picohub_") for d in debs),
            "api_requests": sum(1 for x in exchanges if x["path"].startswith("/api/")),
        }

    def _steps(self, cursor: str, started: float) -> dict[str, float]:
        """When the updater began each step (its own log lines), from the trigger."""
        steps = {
            "checking for a release": "check",
            "fetching release": "download",
            "installing": "install",
            "waiting for picohub": "health_wait",
            "updated to": "done",
        }
        found: dict[str, float] = {}
        for entry in self.container.journal(cursor, SYSLOG_IDENTIFIER="picohub-update"):
            message = str(entry.get("MESSAGE")).partition(": ")[2]  # after "INFO logger: "
            for prefix, step in steps.items():
                if message.startswith(prefix) and step not in found:
                    found[step] = int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6 - started
        return found

    def _check(self) -> dict[str, Any]:
        self.relay.call("take")
        ran = self.container.run(
            ["bash", "-c", "TIMEFORMAT=%R; time picohub-update check --json"], check=False
        )
        answer = json.loads(ran.stdout)
        exchanges = self.relay.call("take")["exchanges"]
        return {
            "seconds": float(ran.stderr.strip().splitlines()[-1]),
            "exit_code": ran.returncode,
            "not_modified": answer["not_modified"],
            "update_available": answer["update_available"],
            "requests": [f"{x['method']} {x['path']} {x['status']}" for x in exchanges],
        }


def _release_of(path: str) -> str:
    """The release a download URL names: "latest", or the version of its tag."""
    if "/latest/download/" in path:
        return "latest"
    return path.split("/download/v", 1)[1].split("/", 1)[0] if "/download/v" in path else "?"


# -- report ----------------------------------------------------------------------------------


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


SUMMARY_FIELDS = (
    "total_s",
    "failed",
    "longest_gap_s",
    "worst_latency_s",
    "app_stop_s",
    "app_start_s",
    "app_ready_s",
    "unit_s",
    "service_starts",
)


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant, results in runs.items():
        figures: dict[str, Any] = {n: spread([r.get(n) for r in results]) for n in SUMMARY_FIELDS}
        memory = [r["memory"]["main_peak_rss_kib"] for r in results if "memory" in r]
        figures["updater_peak_rss_kib"] = spread(memory)
        if variant == "picohub":
            figures["downloaded_bytes"] = spread([r["downloads"]["total_bytes"] for r in results])
            figures["no_change_check_s"] = spread(
                [r["no_change_checks"][-1]["seconds"] for r in results]
            )
            figures["no_change_not_modified"] = [
                r["no_change_checks"][-1]["not_modified"] for r in results
            ]
        summary[variant] = figures
    return summary


def _cell(figure: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    if figure["median"] is None:
        return "-"
    m, lo, hi = (figure[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def _median(figure: dict[str, Any], digits: int = 2) -> str:
    return "-" if figure["median"] is None else f"{figure['median']:.{digits}f}"


def table(summary: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> str:
    head = (
        "variant",
        "total s",
        "failed",
        "longest gap s",
        "worst latency s",
        "app stop s",
        "app start s",
        "starts",
        "peak RSS MiB",
    )
    rows = [head]
    for variant, f in summary.items():
        rows.append(
            (
                variant,
                _cell(f["total_s"]),
                _cell(f["failed"], digits=0),
                _cell(f["longest_gap_s"]),
                _cell(f["worst_latency_s"]),
                _cell(f["app_stop_s"]),
                _cell(f["app_start_s"]),
                _cell(f["service_starts"], digits=0),
                _cell(f["updater_peak_rss_kib"], 1 / 1024, 1),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "medians [min-max]. total: trigger to the first answer of the new version. app stop:"
        " systemd's last stop of picohub.service; app start: its last exec to the first"
        " answer; starts: of picohub.service. peak RSS: the main process (picohub-update,"
        " sh, apt-get)."
    )
    late = max(r["probe_late_max_s"] for results in runs.values() for r in results)
    sent = sum(r["requests"] for results in runs.values() for r in results)
    lines.append(f"probe: {sent} requests, the latest sent {late * 1000:.0f} ms after its time")
    if "picohub" in runs:
        lines += _picohub_lines(summary, runs["picohub"])
    return "\n".join(lines)


def _picohub_lines(summary: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    f = summary["picohub"]
    last = results[-1]["downloads"]
    again = any(r["downloads"]["other_packages_downloaded"] for r in results)
    lines = [
        f"picohub downloads: {_cell(f['downloaded_bytes'], 1, 0)} B of files per run "
        f"({last['wire_bytes']} B on the wire with HTTP headers, {last['api_requests']} API "
        f"requests); picohub-web or picohub-firmware downloaded: {'yes' if again else 'no'}"
    ]
    for release, what in (("latest", "the new release"), (None, "the installed one's")):
        files = [x for x in last["files"] if (x["release"] == "latest") == (release == "latest")]
        listed = ", ".join(f"{x['name']} {x['bytes']}" for x in files)
        lines.append(f"  {what}: {listed} = {sum(x['bytes'] for x in files)} B")
    checks = [r["no_change_checks"][-1] for r in results]
    lines.append(
        f"no-change check (the second of two): {_cell(f['no_change_check_s'], 1, 3)} s; "
        f"304: {sum(c['not_modified'] for c in checks)} of {len(checks)}; requests: "
        f"{'; '.join(checks[-1]['requests'])}"
    )
    steps = {step for r in results for step in r["steps"]}
    medians = {
        s: statistics.median(r["steps"][s] for r in results if s in r["steps"]) for s in steps
    }
    lines.append(
        "picohub's steps (median s from the trigger to the updater's log line): "
        + ", ".join(f"{s} {medians[s]:.2f}" for s in sorted(medians, key=medians.__getitem__))
    )
    if "restart" in summary:
        base = summary["restart"]
        lines.append(
            f"aim: failed requests during a picohub update: {f['failed']['max']} in the worst "
            f"run (aim 0). Its longest gap {_median(f['longest_gap_s'])} s; the app's own "
            f"start {_median(base['app_start_s'])} s, its stop {_median(base['app_stop_s'])} s, "
            f"a plain restart's gap {_median(base['longest_gap_s'])} s (medians)"
        )
    return lines


def machine(container: Container) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").split()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    inside = container.run(
        [
            "sh",
            "-c",
            "cat /etc/debian_version; python3 --version; "
            "dpkg-query -W -f '${Package} ${Version}\\n' systemd gunicorn python3-flask nginx",
        ]
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_mib": int(meminfo[meminfo.index("MemTotal:") + 1]) // 1024,
        "kernel": platform.release(),
        "load_average": os.getloadavg(),
        "container_debian": inside[0],
        "container_software": inside[1:],
    }


# -- main --------------------------------------------------------------------------------------


@contextmanager
def booted(work: Path) -> Iterator[Container]:
    container = Container(ensure_root("bookworm"), work / "container")
    try:
        container.start()
        yield container
    finally:
        container.stop()


def run_bench(runs: int, out: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="picohub-bench-") as temporary, ExitStack() as stack:
        work = Path(temporary)
        log.info("building release 1 from the tree and release 2 (only picohub changes)")
        releases = build_releases(work)
        log.info("booting bookworm; releases %s and %s", releases.old.version, releases.new.version)
        container = stack.enter_context(booted(work))
        served = [(f"v{r.version}", r.directory) for r in (releases.old_repo, releases.new_repo)]
        stack.enter_context(serve_releases(container, served))
        probe = Agent(container, "probe")
        stack.callback(probe.close)
        relay = Agent(container, "relay")
        stack.callback(relay.close)
        bench = Bench(container, releases, probe, relay)
        bench.install_release_1()
        point_updater_at(container, f"http://127.0.0.1:{RELAY_PORT}")
        results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
        about = machine(container)
        for round_ in range(runs):
            order = VARIANTS[round_ % len(VARIANTS) :] + VARIANTS[: round_ % len(VARIANTS)]
            for variant in order:
                if not bench.clean:
                    bench.reset()
                log.info("round %d of %d: %s", round_ + 1, runs, variant)
                result = getattr(bench, f"run_{variant}")()
                bench.clean = bench.clean and variant == "restart"
                result["round"] = round_ + 1
                results[variant].append(result)
                log.info("  %s", _one_line(result))
        about["load_average_after"] = os.getloadavg()
    summary = summarize(results)
    report = {
        "machine": about,
        "releases": {"old": releases.old.version, "new": releases.new.version},
        "settings": {
            "runs": runs,
            "probe_period_s": PROBE_PERIOD_S,
            "probe_timeout_s": PROBE_TIMEOUT_S,
            "lead_s": LEAD_S,
            "tail_s": TAIL_S,
        },
        "summary": summary,
        "runs": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(table(summary, results))
    print(f"\nwrote {out}")
    return report


def _one_line(result: dict[str, Any]) -> str:
    total = result["total_s"]
    return (
        f"total {'-' if total is None else f'{total:.2f}'} s, failed {result['failed']}, "
        f"longest gap {result['longest_gap_s']:.3f} s, worst latency "
        f"{result['worst_latency_s']:.3f} s, app start {result['app_start_s']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each variant (default 5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--debug", action="store_true", help="log every command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    try:
        if os.geteuid() != 0:
            raise UsageError(
                "the benchmark needs root (it mounts an overlay and boots systemd-nspawn)",
                hint="run it as root: sudo make bench",
            )
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise UsageError(f"missing {', '.join(missing)}", hint="run packaging/dev/bootstrap")
        if args.runs < 1:
            raise UsageError("--runs must be at least 1")
        run_bench(args.runs, args.out)
    except PicohubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
