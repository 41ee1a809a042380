"""The bench: the booted hub reset to release 1, one measurement, one method per variant."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from picohub.errors import PicohubError
from picohub_release.build import Build
from picohub_release.versions import upstream_part
from tests.system.conftest import point_updater_at
from tests.system.container import Container, wait_for
from tests.system.journeys import APP_UNITS, healthy_version, unit_stops_and_starts
from tools.bench.agents import Agent
from tools.bench.memory import UnitWatcher
from tools.bench.releases import Releases
from tools.bench.samples import Sample, availability, first_new_answer
from tools.bench.settings import DEBS_IN_CONTAINER, LEAD_S, TAIL_S

# The automatic run, as the daily timer starts it.
AUTOMATIC_RUN = "picohub-update-auto@timer.service"
# The timer an automatic run arms for the maintenance window's opening, and its service.
WINDOW = "picohub-update-window"


@dataclass
class Bench:
    """The booted hub, the releases, the agents; one method per variant."""

    container: Container
    releases: Releases
    probe: Agent
    relay: Agent
    updater_url: str = ""  # where the updater asks for releases (the relay)
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
        c.run(["systemctl", "start", *APP_UNITS])
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
            # Each failed request: when, its status, what it said (or the socket's error).
            "failed_answers": [
                [round(s.sent - started, 4), s.status, s.error]
                for s in samples
                if s.sent >= started and not s.ok
            ],
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

    def run_automatic(self) -> dict[str, Any]:
        """An automatic install of a release downloaded ahead of the maintenance window:
        from the window's opening (what its timer starts, picohub-update-window.service)
        to the new version answering. Ahead of it, an automatic run outside the window
        checked, downloaded and verified release 2, simulated apt's plan, and armed the
        window's timer. The window then opens: the rules say any time, as they would at
        the window's time, and the bench starts what the timer starts at its time."""
        c = self.container
        clock = c.run(["date", "+%Y-%m-%dT%H:%M:%S%z"]).stdout.strip()
        opening = datetime.fromisoformat(clock) + timedelta(hours=1)
        closed = f"{opening:%H:%M}-{opening + timedelta(hours=1):%H:%M}"
        point_updater_at(c, self.updater_url, f"[update]\\nwindow = {closed}\\n")
        try:
            c.run(["systemctl", "start", AUTOMATIC_RUN], timeout=600)
        finally:
            point_updater_at(c, self.updater_url)  # the window is open
        ahead = json.loads(c.run(["cat", "/var/lib/picohub-update/automatic.json"]).stdout)
        if ahead["action"] != "wait":
            raise PicohubError(f"the run ahead of the window did not wait for it: {ahead}")
        ran: list[subprocess.CompletedProcess[str]] = []
        runner = threading.Thread(
            target=lambda: ran.append(
                c.run(["systemctl", "start", f"{WINDOW}.service"], check=False, timeout=600)
            ),
            daemon=True,
        )

        def trigger() -> float:
            started = time.monotonic()
            runner.start()
            return started

        watcher = UnitWatcher(c, "picohub-update.service")
        try:
            result = self.measure(trigger, watcher=watcher, new_version=self.new)
        finally:
            runner.join(60)
            c.run(["systemctl", "stop", f"{WINDOW}.timer"], check=False)
        if not ran or ran[0].returncode != 0:
            raise PicohubError(f"{WINDOW}.service failed: {ran[0].stderr if ran else 'hung'}")
        result["memory"] = watcher.summary(lambda p: "picohub-update" in p.command)
        # What the window's run itself fetched: nothing, it asks nothing of the network.
        result["downloads"] = self._downloads(self.relay.call("take")["exchanges"])
        result["steps"] = self._steps(result["journal_cursor"], result["trigger"])
        result["log"] = self._log(result["journal_cursor"], result["trigger"])
        return result

    def run_naive(self) -> dict[str, Any]:
        script = (
            f"systemctl stop {' '.join(APP_UNITS)}\n"
            f"dpkg-deb --fsys-tarfile {self.deb(self.releases.new, 'picohub')}"
            " | tar -x -C / --keep-directory-symlink --exclude=./etc\n"
            f"systemctl start {' '.join(APP_UNITS)}\n"
        )
        return self._in_unit("picohub-bench-naive.service", script, "sh", new_version=None)

    def run_apt(self) -> dict[str, Any]:
        script = (
            f"systemctl stop {' '.join(APP_UNITS)}\n"
            "apt-get install --yes --no-install-recommends -o Dpkg::Options::=--force-confold "
            f"{self.deb(self.releases.new, 'picohub')}\n"
        )
        return self._in_unit("picohub-bench-apt.service", script, "apt-get", new_version=self.new)

    def run_apt_live(self) -> dict[str, Any]:
        """Plain apt on the running hub, nothing stopped first: the package's postinst
        hands over to the new version by itself, as it does under the updater."""
        script = (
            "apt-get install --yes --no-install-recommends -o Dpkg::Options::=--force-confold "
            f"{self.deb(self.releases.new, 'picohub')}\n"
        )
        return self._in_unit(
            "picohub-bench-apt-live.service", script, "apt-get", new_version=self.new
        )

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
            "automatic run": "decided",
            "checking for a release": "check",
            "fetching release": "download",
            "installing": "install",
            "waiting for picohub": "health_wait",
            "updated to": "done",
        }
        found: dict[str, float] = {}
        for at, message in self._log(cursor, started):
            for prefix, step in steps.items():
                if message.startswith(prefix) and step not in found:
                    found[step] = at
        return found

    def _log(self, cursor: str, started: float) -> list[tuple[float, str]]:
        """The updater's log lines (the automatic run's and the unit's), each with its
        time from the trigger, without the level and logger."""
        return [
            (
                round(int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6 - started, 3),
                str(entry.get("MESSAGE")).partition(": ")[2],  # after "INFO logger: "
            )
            for entry in self.container.journal(cursor, SYSLOG_IDENTIFIER="picohub-update")
        ]

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
