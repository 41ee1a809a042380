"""One run: the releases built, a bookworm booted with release 1, then a round per fleet
size: the server started in the container's network, the hub and the simulated controllers
polling it, the idle load measured, a rollout of two groups timed; the report written."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from picohub.errors import PicohubError
from tests.fakehawkbit import Condition, Feedback
from tests.fakehawkbit.records import Action, Rollout
from tests.picoboard.netns import ContainerNetwork
from tests.system.container import Container
from tools.bench.report import machine
from tools.bench_fleet.figures import (
    GithubTimer,
    HawkbitPolling,
    group_bound_at,
    group_times,
    load,
    median,
    parse_sleep,
    release_bytes,
)
from tools.bench_fleet.fleet import Fleet, simulated
from tools.bench_fleet.hub import Hub, Releases, build_releases
from tools.bench_fleet.report import table
from tools.bench_fleet.server import CountingHawkbit
from tools.bench_fleet.settings import (
    DEFAULT_SLEEP,
    GITHUB_CHECKS_PER_DAY,
    GITHUB_SPREAD_S,
    HUB_TIMEOUT_S,
    JITTER,
    MEASURED_SLEEP,
    README_HUBS,
    REGISTER_TIMEOUT_S,
    ROLLOUT_TIMEOUT_S,
    SIMULATED_PREFIX,
    TAIL_S,
    TENANT,
    WARMUP_S,
    WATCH_PERIOD_S,
    WINDOW_S,
    WORKERS,
)
from tools.preflight import booted_bookworm

log = logging.getLogger("bench-fleet")


def run_bench_fleet(sizes: Sequence[int], out: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="picohub-bench-fleet-") as temporary:
        work = Path(temporary)
        log.info("building release 1 from the tree and release 2 (one version later)")
        releases = build_releases(work)
        log.info(
            "release 2's bundle: %s, %d bytes", releases.bundle.name, releases.bundle.stat().st_size
        )
        with booted_bookworm(work) as container:
            hub = Hub(container, releases)
            rounds = []
            for size in sizes:
                log.info("round of %d simulated controllers and the hub", size)
                rounds.append(Round(container, hub, releases, size, work / f"sim-{size}").run())
                _write(out, {"rounds": rounds})  # kept should a later round fail
            try:
                about = machine(container)  # after apt installed the hub's packages
            except PicohubError as exc:
                about = {"error": exc.message}
            about["load_average_after"] = os.getloadavg()
        report = summarize(rounds, releases, about)
    _write(out, report)
    print(table(report))
    print(f"\nwrote {out}")
    return report


def _write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


class Round:
    """One fleet size: see the package docstring."""

    def __init__(
        self, container: Container, hub: Hub, releases: Releases, size: int, cache: Path
    ) -> None:
        self.container = container
        self.hub = hub
        self.releases = releases
        self.size = size
        self.cache = cache
        self.sleep_s = parse_sleep(MEASURED_SLEEP)
        self.hub_problem: str | None = None
        self.hub_log: list[str] = []

    def run(self) -> dict[str, Any]:
        try:
            hub_version = self.hub.install_release_1()
        except Exception as exc:  # noqa: BLE001 (the simulated part runs on)
            self.hub_problem = f"installing release 1 with apt failed: {exc}"
            log.warning("  %s", self.hub_problem)
            hub_version = None
        assert self.container.leader is not None
        network = ContainerNetwork(self.container.leader, threads=2)
        fake = network.call(lambda: CountingHawkbit(tenant=TENANT, sleep=MEASURED_SLEEP).start())
        try:
            return self._run(network, fake, hub_version)
        finally:
            self.hub.stop()
            network.call(fake.stop)
            network.close()

    def _run(
        self, network: ContainerNetwork, fake: CountingHawkbit, hub_version: str | None
    ) -> dict[str, Any]:
        new = self.releases.new
        module = fake.add_module("picohub", new.version)
        fake.add_artifact(module.id, self.releases.bundle.name, self.releases.bundle.read_bytes())
        ds = fake.add_set("picohub", new.version, [module.id])
        hub_id = self.hub.controller_id
        hub_token = fake.add_target(hub_id).token
        tokens = {
            f"{SIMULATED_PREFIX}{index:04d}": fake.add_target(
                f"{SIMULATED_PREFIX}{index:04d}"
            ).token
            for index in range(self.size)
        }
        cursor = None
        if self.hub_problem is None:
            cursor = self.hub.follow(fake.url, hub_token)
        fleet = Fleet(
            simulated(fake.url, TENANT, tokens, self.cache, self.releases.old.version, new.version),
            WORKERS,
            spread_s=self.sleep_s,
        )
        runner = threading.Thread(target=lambda: network.call(fleet.run), name="fleet")
        started = time.monotonic()
        runner.start()
        try:
            if self.hub_problem is None:
                self._await_hub(fake, hub_id)
            if self.hub_problem is not None:
                with fake.lock:
                    fake.targets.pop(hub_id, None)  # not in the rollout: it cannot take part
            window_start = max(time.monotonic(), started + WARMUP_S)
            time.sleep(window_start + WINDOW_S - time.monotonic())
            idle = load(fake.snapshot(), window_start, window_start + WINDOW_S, len(fake.targets))
            log.info(
                "  idle: %d requests in %.0f s, %.1f/s, %.0f bytes a poll",
                idle.requests,
                idle.window_s,
                idle.requests_per_s,
                idle.bytes_per_poll,
            )
            rollout = self._rollout(fake, hub_id, ds.id)
        finally:
            fleet.stop.set()
            runner.join(timeout=120)
        if cursor is not None:
            self.hub_log = self.hub.log_lines(cursor)
        after = self.hub.version() if self.hub_problem is None else None
        return self._figures(fake, fleet, idle, rollout, hub_id, hub_version, after)

    def _await_hub(self, fake: CountingHawkbit, hub_id: str) -> None:
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        while time.monotonic() < deadline:
            with fake.lock:
                if any(sender == hub_id for sender, _ in fake.config_data):
                    log.info("  the hub %s polled and sent its attributes", hub_id)
                    return
            time.sleep(0.2)
        self.hub_problem = (
            f"the hub did not poll and send its attributes within {REGISTER_TIMEOUT_S:.0f} s"
        )
        log.warning("  %s", self.hub_problem)

    def _rollout(self, fake: CountingHawkbit, hub_id: str, ds_id: int) -> dict[str, Any]:
        strict = Condition("THRESHOLD", "0")  # any failure pauses
        everyone = Condition("THRESHOLD", "100")
        rollout = fake.create_rollout(
            f"picohub {self.releases.new.version}",
            ds_id,
            "controllerId==*",
            groups=[
                ("canary", None, 50.0, everyone, strict),
                ("everyone else", None, 100.0, everyone, strict),
            ],
            error_action="PAUSE",
        )
        members = [list(group.targets) for group in rollout.groups]
        hub_in = hub_id in members[0]
        log.info(
            "  rollout: groups of %s (the hub %s group 1)",
            " and ".join(str(len(m)) for m in members),
            "in" if hub_in else "not in",
        )
        start = time.monotonic()
        fake.start_rollout(rollout.id)
        watch = self._watch(fake, rollout, hub_id if hub_in else None, start)
        watch["members"] = members
        watch["start"] = start
        return watch

    def _watch(
        self, fake: CountingHawkbit, rollout: Rollout, hub_id: str | None, start: float
    ) -> dict[str, Any]:
        started: dict[int, float] = {0: start}
        done: dict[int, float] = {}
        paused: list[float] = []
        hub_closed: tuple[str, float] | None = None
        deadline = start + ROLLOUT_TIMEOUT_S
        while time.monotonic() < deadline:
            with fake.lock:
                statuses = [group.status for group in rollout.groups]
                status = rollout.status
                action = _action_of(fake, hub_id, rollout.id) if hub_id else None
                hub_open = action is not None and action.is_open
                hub_status = action.status if action is not None else None
            now = time.monotonic()
            for index, group_status in enumerate(statuses):
                if group_status == "running":
                    started.setdefault(index, now)
                if group_status in ("finished", "error"):
                    done.setdefault(index, now)
            if action is not None and not hub_open and hub_closed is None:
                hub_closed = (str(hub_status), now)
                log.info("  the hub's action ended %s after %.1f s", hub_status, now - start)
                if hub_status != "finished":
                    self.hub_problem = f"the hub's action ended {hub_status}"
            if action is not None and hub_open and now - start > HUB_TIMEOUT_S:
                self.hub_problem = f"the hub sent no result within {HUB_TIMEOUT_S:.0f} s"
                log.warning("  %s; closing its action as failed", self.hub_problem)
                with fake.lock:
                    fake.apply_feedback(
                        Feedback(
                            action.controller_id, action.id, "deployment", "closed", "failure",
                            [f"bench: {self.hub_problem}"], {},
                        )
                    )  # fmt: skip
            if status == "paused":
                paused.append(now)
                log.warning("  the rollout paused (a failure in group 1); resuming it")
                fake.resume_rollout(rollout.id)
            if status == "finished":
                # Everyone polls once more: the attributes after the install go too.
                time.sleep(TAIL_S)
                break
            time.sleep(WATCH_PERIOD_S)
        else:
            log.warning("  the rollout did not finish within %.0f s", ROLLOUT_TIMEOUT_S)
        return {
            "status": rollout.status,
            "group_started": started,
            "group_done": done,
            "paused": paused,
            "hub_closed": hub_closed,
        }

    def _figures(
        self,
        fake: CountingHawkbit,
        fleet: Fleet,
        idle: Any,
        rollout: dict[str, Any],
        hub_id: str,
        hub_version: str | None,
        hub_after: str | None,
    ) -> dict[str, Any]:
        exchanges = fake.snapshot()
        start = rollout["start"]
        members: list[list[str]] = rollout["members"]
        groups = []
        default_s = parse_sleep(DEFAULT_SLEEP)
        for index, group in enumerate(members):
            times = group_times(
                exchanges,
                group,
                rollout["group_started"].get(index, start),
                rollout["group_done"].get(index),
            )
            groups.append(
                {
                    **asdict(times),
                    "started_s": rollout["group_started"].get(index, start) - start,
                    "done_s": None
                    if index not in rollout["group_done"]
                    else rollout["group_done"][index] - start,
                    "bound_at_default_s": None
                    if times.longest_work_s is None
                    else group_bound_at(default_s, times.longest_work_s, JITTER),
                }
            )
        everyone = [c for group in members for c in group]
        sims = [c for c in everyone if c != hub_id]
        per_sim = [release_bytes(exchanges, c, start) for c in sims]
        hub_bytes = release_bytes(exchanges, hub_id, start) if hub_id in everyone else None
        hub_polls = [e.total for e in exchanges if e.controller == hub_id and e.kind == "poll"]
        sim_polls = [
            e.total for e in exchanges if e.kind == "poll" and e.controller not in (None, hub_id)
        ]
        polling = HawkbitPolling(
            hubs=idle.controllers,
            sleep_s=default_s,
            requests_per_poll=idle.requests_per_poll,
            bytes_per_request=idle.bytes_per_request,
        )
        kinds: dict[str, int] = {}
        for e in exchanges:
            if e.at >= start:
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
        bad = sum(1 for e in exchanges if e.controller is not None and e.status >= 400)
        return {
            "simulated": self.size,
            "controllers": idle.controllers,
            "idle": {
                **asdict(idle),
                "requests_per_s": idle.requests_per_s,
                "bytes_per_s": idle.bytes_per_s,
                "bytes_per_poll": idle.bytes_per_poll,
                "per_hub_per_s": idle.per_hub_per_s,
                "mean_interval_s": idle.mean_interval_s,
                "requests_per_poll": idle.requests_per_poll,
                "bytes_per_request": idle.bytes_per_request,
            },
            "at_default_sleep": {
                "sleep_s": default_s,
                "requests_per_s": polling.requests_per_s,
                "bytes_per_s": polling.bytes_per_s,
                "requests_per_day": polling.requests_per_day,
                "bytes_per_hub_per_day": polling.bytes_per_hub_per_day,
            },
            "poll_bytes": {"hub": median(hub_polls), "simulated": median(sim_polls)},
            "release_bytes": {
                "artifact_size": self.releases.bundle.stat().st_size,
                "hub": None
                if hub_bytes is None
                else {
                    **asdict(hub_bytes),
                    "overhead": hub_bytes.overhead,
                    "total": hub_bytes.total,
                },
                "simulated_median": _median_bytes(per_sim),
                "simulated_max_total": max((b.total for b in per_sim), default=None),
            },
            "rollout": {
                "status": rollout["status"],
                "groups": groups,
                "paused_at_s": [t - start for t in rollout["paused"]],
                "total_s": groups[-1]["done_s"],
                "requests_by_kind": kinds,
            },
            "hub": {
                "controller_id": hub_id,
                "ok": self.hub_problem is None,
                "problem": self.hub_problem,
                "version_before": hub_version,
                "version_after": hub_after,
                "action": None
                if rollout["hub_closed"] is None
                else {
                    "status": rollout["hub_closed"][0],
                    "closed_s": rollout["hub_closed"][1] - start,
                },
                "log": self.hub_log if self.hub_problem is not None else self.hub_log[-40:],
            },
            "fleet": {
                "polls": fleet.polls,
                "errors": fleet.errors,
                "worst_lateness_s": fleet.late_s,
                "answers_4xx_5xx": bad,
                "failures": sorted({f for c in fleet.controllers for f in c.failures})[:20],
            },
        }


def _action_of(fake: CountingHawkbit, controller: str | None, rollout_id: int) -> Action | None:
    for action in fake.actions.values():
        if action.controller_id == controller and action.rollout_id == rollout_id:
            return action
    return None


def _median_bytes(values: list[Any]) -> dict[str, float | None]:
    return {
        key: median([getattr(v, key) for v in values])
        for key in ("artifact", "deployment", "feedback", "config_data", "overhead", "total")
    }


def summarize(
    rounds: list[dict[str, Any]], releases: Releases, about: dict[str, Any]
) -> dict[str, Any]:
    largest = max(rounds, key=lambda r: r["controllers"])
    idle = largest["idle"]
    default_s = parse_sleep(DEFAULT_SLEEP)
    hawkbit = HawkbitPolling(
        hubs=README_HUBS,
        sleep_s=default_s,
        requests_per_poll=idle["requests_per_poll"],
        bytes_per_request=idle["bytes_per_request"],
    )
    github = GithubTimer(README_HUBS, GITHUB_CHECKS_PER_DAY, GITHUB_SPREAD_S)
    return {
        "machine": about,
        "releases": {
            "old": releases.old.version,
            "new": releases.new.version,
            "bundle": releases.bundle.name,
            "bundle_bytes": releases.bundle.stat().st_size,
        },
        "settings": {
            "measured_sleep": MEASURED_SLEEP,
            "default_sleep": DEFAULT_SLEEP,
            "jitter": JITTER,
            "warmup_s": WARMUP_S,
            "window_s": WINDOW_S,
            "tail_s": TAIL_S,
            "workers": WORKERS,
            "hub_timeout_s": HUB_TIMEOUT_S,
        },
        "rounds": rounds,
        "fleet_of": {
            "hubs": README_HUBS,
            "measured_in_round_of": largest["controllers"],
            "hawkbit": {
                "sleep_s": default_s,
                "requests_per_s": hawkbit.requests_per_s,
                "requests_per_day": hawkbit.requests_per_day,
                "bytes_per_s": hawkbit.bytes_per_s,
                "bytes_per_hub_per_day": hawkbit.bytes_per_hub_per_day,
            },
            "github_timer": {
                "requests_per_day": github.requests_per_day,
                "requests_per_s": github.requests_per_s,
                "peak_requests_per_s": github.peak_requests_per_s,
                "api_calls": github.api_calls,
            },
        },
    }
