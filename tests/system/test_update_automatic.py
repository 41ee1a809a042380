"""Automatic updates on a booted bookworm with the real NetworkManager: the hub updates
itself when its connection comes up (once however the link flaps), from the daily
timer's run, within the owner's rules: a hold, a maintenance window, a metered
connection, and a release whose automatic install was rolled back is not tried again; a
release phased at 0% (halted) is neither downloaded nor installed, and is by hand."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from picohub_release.build import Build
from tests.conftest import build_release, next_version
from tests.system.conftest import _repository, point_updater_at, serve_releases
from tests.system.container import AUTOMATIC_TIMER, Container, wait_for
from tests.system.journeys import (
    UNIT_STARTED,
    apt_install,
    healthy_version,
    history,
    never_healthy,
    wait_for_entry,
)

NETWORK_RUN = "picohub-update-auto@network.service"
TIMER_RUN = "picohub-update-auto@timer.service"
# A bridge with no ports: a connection NetworkManager activates inside the container,
# with a default route (nothing answers there; the fake GitHub is on 127.0.0.1).
CONNECTION = (
    "nmcli connection add type bridge ifname br0 con-name lab bridge.stp no"
    " ipv4.method manual ipv4.addresses 10.9.0.2/24 ipv4.gateway 10.9.0.1"
    " ipv6.method disabled connection.metered no"
)
RULES = "[update]\\nhealth_timeout = 15\\n"


@pytest.fixture(scope="module")
def broken(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A newer release whose app never answers /healthz."""
    version = next_version(release_a.version, 8)
    return build_release(tmp_path_factory, "automatic-broken", version, never_healthy)


@pytest.fixture(scope="module")
def halted(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A newer release, to be published phased at 0%."""
    return build_release(tmp_path_factory, "automatic-halted", next_version(release_a.version, 9))


class Publisher:
    """The fake GitHub, restarted with the releases published so far."""

    def __init__(self, container: Container, factory: pytest.TempPathFactory) -> None:
        self.container = container
        self.factory = factory
        self.serving = ExitStack()
        self.url = ""

    def publish(
        self, builds: Sequence[Build], options: Sequence[str] = (), phase: int | None = None
    ) -> None:
        """Publish ``builds``, the last (the latest) phased at ``phase`` when given."""
        self.stop()
        last = len(builds) - 1
        releases = [
            (f"v{b.version}", _repository(b, self.factory, phase if i == last else None).directory)
            for i, b in enumerate(builds)
        ]
        self.url = self.serving.enter_context(serve_releases(self.container, releases, options))

    def stop(self) -> None:
        self.serving.close()


@pytest.fixture(scope="module")
def github(
    container: Container,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Publisher]:
    """A hub on release A with NetworkManager (from the root's cached packages) and
    picohub's timer unmasked; GitHub publishes A and B, the hub not online yet."""
    container.run(
        ["apt-get", "install", "--yes", "--no-install-recommends", "network-manager"],
        timeout=600,
    )
    container.run(["systemctl", "unmask", AUTOMATIC_TIMER])
    publisher = Publisher(container, tmp_path_factory)
    publisher.publish([release_a, release_b])
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    point_updater_at(container, publisher.url, RULES)
    try:
        yield publisher
    finally:
        publisher.stop()


def last_run(container: Container) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        container.run(["cat", "/var/lib/picohub-update/automatic.json"]).stdout
    )
    return found


def cached(container: Container, version: str) -> bool:
    return (
        container.run(
            ["test", "-d", f"/var/cache/picohub/releases/{version}"], check=False
        ).returncode
        == 0
    )


def starts(container: Container, unit: str, after: str) -> int:
    return len(container.journal(after, UNIT=unit, _PID="1", MESSAGE_ID=UNIT_STARTED))


def metered(container: Container, value: str) -> None:
    """Make the connection metered (yes) or not (no), without taking it down."""
    container.run(["nmcli", "connection", "modify", "lab", "connection.metered", value])
    container.run(["nmcli", "device", "reapply", "br0"])
    wanted = "u 1" if value == "yes" else "u 2"
    wait_for(
        lambda: container.run(
            ["busctl", "get-property", "org.freedesktop.NetworkManager",
             "/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager", "Metered"]
        ).stdout.strip() == wanted,
        timeout=30,
        what=f"NetworkManager to say metered {value}",
    )  # fmt: skip


def timer_run(container: Container) -> None:
    """What picohub-update-auto.timer does at its time: start the run, and wait for it."""
    container.run(["systemctl", "start", TIMER_RUN], timeout=600)


def test_the_daily_timer_is_enabled_spread_and_persistent(
    container: Container, github: Publisher
) -> None:
    assert container.run(["systemctl", "is-enabled", AUTOMATIC_TIMER]).stdout.strip() == "enabled"
    shown = {
        name: container.unit_property(AUTOMATIC_TIMER, name)
        for name in ("Unit", "RandomizedDelayUSec", "Persistent", "TimersCalendar")
    }
    assert shown["Unit"] == TIMER_RUN
    assert shown["RandomizedDelayUSec"] == "4h"
    assert shown["Persistent"] == "yes"
    assert "OnCalendar=*-*-* 00:00:00" in shown["TimersCalendar"]  # daily


def test_the_hub_updates_itself_when_its_connection_comes_up(
    container: Container, github: Publisher, release_a: Build, release_b: Build
) -> None:
    cursor = container.journal_cursor()
    container.sh(CONNECTION)
    entry = wait_for_entry(
        container, lambda e: e["kind"] == "update" and e["to_release"] == release_b.version
    )
    assert (entry["origin"], entry["result"], entry["from_release"]) == (
        "network",
        "done",
        release_a.version,
    )
    assert healthy_version(container) == release_b.version
    # The "up" starts a run; full connectivity may start one more, which finds the update
    # under way or done: one install either way.
    assert 1 <= starts(container, NETWORK_RUN, cursor) <= 2
    installs = [e for e in history(container) if e["kind"] == "update"]
    assert [e["to_release"] for e in installs] == [release_b.version]
    said = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert any("the network is up (br0, up): starting an automatic update run" in m for m in said)


def test_a_flapping_link_starts_no_second_run(container: Container, github: Publisher) -> None:
    cursor = container.journal_cursor()

    def covered() -> int:
        said = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
        return sum("(br0, up)" in m and "covers it" in m for m in said)

    for flap in range(1, 4):
        container.run(["nmcli", "connection", "down", "lab"])
        container.run(["nmcli", "connection", "up", "lab"])
        # Each time up again (NetworkManager would merge a down and up given at once).
        wait_for(lambda n=flap: covered() >= n, timeout=60, what=f"the link up, time {flap}")
    assert starts(container, NETWORK_RUN, cursor) == 0


def test_a_hold_downloads_the_release_but_installs_nothing(
    container: Container,
    github: Publisher,
    release_a: Build,
    release_b: Build,
    release_c: Build,
) -> None:
    github.publish([release_a, release_b, release_c])
    container.run(["picohub-update", "hold", "--until", "1d"])
    try:
        timer_run(container)
        status, banner = container.http("GET", "http://127.0.0.1:8080/api/system/banner")
        assert status == 200 and banner["available"] == release_c.version
        assert banner["hold"]["by"] == "shell" and "held until" in banner["hold"]["description"]
    finally:
        container.run(["picohub-update", "release-hold"])
    run = last_run(container)
    assert (run["origin"], run["action"], run["version"]) == (
        "timer",
        "download",
        release_c.version,
    )
    assert "updates are held until" in run["message"]
    assert cached(container, release_c.version)
    assert healthy_version(container) == release_b.version
    status, system = container.http("GET", "http://127.0.0.1:8080/api/system")
    assert status == 200
    # Released since: the page no longer shows it.
    assert system["update"]["banner"]["hold"] is None
    newest = system["update"]["history"][0]
    assert newest["message"] == run["message"] and newest["kind"] == "check"
    assert newest["downloaded_bytes"] > 0


def _window_opening_soon(container: Container) -> tuple[str, datetime]:
    """A maintenance window that opens at the next whole minute (at least 15 s away)."""
    clock = container.run(["date", "+%Y-%m-%dT%H:%M:%S%z"]).stdout.strip()
    now = datetime.fromisoformat(clock)  # the container's local time, with its offset
    opening = now.replace(second=0) + timedelta(minutes=1)
    if (opening - now).total_seconds() < 15:
        opening += timedelta(minutes=1)
    closing = opening + timedelta(hours=1)
    return f"{opening:%H:%M}-{closing:%H:%M}", opening


def test_outside_the_window_it_waits_and_installs_when_the_window_opens(
    container: Container, github: Publisher, release_b: Build, release_c: Build
) -> None:
    window, opening = _window_opening_soon(container)
    point_updater_at(container, github.url, f"{RULES}window = {window}\\n")
    timer_run(container)
    run = last_run(container)
    assert run["action"] == "wait" and f"window {window} opens" in run["message"]
    assert healthy_version(container) == release_b.version
    armed = container.unit_property("picohub-update-window.timer", "TimersCalendar")
    assert f"{opening:%Y-%m-%d %H:%M}:00" in armed
    entry = wait_for_entry(
        container,
        lambda e: e["kind"] == "update" and e["to_release"] == release_c.version,
        timeout=180,
    )
    assert (entry["origin"], entry["result"]) == ("timer", "done")
    # Downloaded ahead (the release and the rollback copy): nothing left to fetch in it.
    assert entry["downloaded_bytes"] == 0
    started = datetime.strptime(entry["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert started >= opening
    assert healthy_version(container) == release_c.version


def test_a_metered_connection_only_checks(
    container: Container,
    github: Publisher,
    release_a: Build,
    release_b: Build,
    release_c: Build,
    broken: Build,
) -> None:
    point_updater_at(container, github.url, RULES)
    github.publish([release_a, release_b, release_c, broken])
    metered(container, "yes")
    try:
        timer_run(container)
    finally:
        metered(container, "no")
    run = last_run(container)
    assert (run["action"], run["version"]) == ("notify", broken.version)
    assert "not downloaded on a metered connection" in run["message"]
    assert not cached(container, broken.version)
    assert healthy_version(container) == release_c.version


def _status(container: Container) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(container.run(["picohub-update", "status", "--json"]).stdout)
    return found


def test_the_network_going_away_mid_download_is_reported_and_the_next_run_resumes(
    container: Container,
    github: Publisher,
    release_a: Build,
    release_b: Build,
    release_c: Build,
    broken: Build,
    tmp_path: Path,
) -> None:
    stall = tmp_path / "stall"
    stall.touch()  # while it exists, the server stops each .deb halfway
    releases = [release_a, release_b, release_c, broken]
    github.publish(releases, ["--hold-debs-while", str(stall)])
    point_updater_at(container, github.url, f"{RULES}automatic = download\n")
    try:
        ran: list[subprocess.CompletedProcess[str]] = []
        runner = threading.Thread(
            target=lambda: ran.append(container.run(["systemctl", "start", TIMER_RUN], check=False))
        )
        runner.start()
        wait_for(
            lambda: (_status(container).get("progress") or 0) > 0,
            timeout=120,
            what="the download to be under way",
        )
        github.stop()  # the network goes away
        runner.join(120)
        assert ran and ran[0].returncode != 0
        assert _status(container)["phase"] == "failed"
        run = last_run(container)
        assert run["action"] == "error" and "the next try resumes" in run["message"]
        partial = container.run(
            ["find", "/var/cache/picohub/releases", "-name", "*.part", "-size", "+0"]
        ).stdout
        assert partial.strip(), "the partial download is kept for the next run"
        stall.unlink()
        github.publish(releases)
        timer_run(container)  # the next time the hub is online
        run = last_run(container)
        assert (run["action"], run["version"]) == ("download", broken.version)
        assert healthy_version(container) == release_c.version
    finally:
        point_updater_at(container, github.url, RULES)


def test_a_release_whose_automatic_install_rolled_back_is_skipped(
    container: Container, github: Publisher, release_c: Build, broken: Build
) -> None:
    timer_run(container)
    entry = wait_for_entry(
        container, lambda e: e["kind"] == "update" and e["to_release"] == broken.version
    )
    assert (entry["origin"], entry["result"]) == ("timer", "rolled-back")
    assert healthy_version(container) == release_c.version
    cursor = container.journal_cursor()
    timer_run(container)
    run = last_run(container)
    assert (run["action"], run["version"]) == ("notify", broken.version)
    assert f"release {broken.version} is skipped" in run["message"]
    assert starts(container, "picohub-update.service", cursor) == 0
    _, system = container.http("GET", "http://127.0.0.1:8080/api/system")
    skipped = system["update"]["automatic"]["skipped"]
    assert skipped["version"] == broken.version
    assert "automatic install" in skipped["reason"] and "rolled back" in skipped["reason"]


def test_a_bad_rule_fails_the_run_naming_it_and_changes_nothing(
    container: Container, github: Publisher, release_c: Build
) -> None:
    point_updater_at(container, github.url, "[update]\\nwindow = at night\\n")
    try:
        failed = container.run(["systemctl", "start", TIMER_RUN], check=False, timeout=600)
        assert failed.returncode != 0
        run = last_run(container)
        assert run["action"] == "error" and "window must be 'any' or HH:MM-HH:MM" in run["message"]
        assert container.unit_property(TIMER_RUN, "Result") == "exit-code"
        assert healthy_version(container) == release_c.version
    finally:
        point_updater_at(container, github.url, RULES)


def test_a_halted_phased_release_is_not_installed_automatically_but_is_by_hand(
    container: Container, github: Publisher, release_c: Build, halted: Build
) -> None:
    github.publish([release_c, halted], phase=0)
    before = healthy_version(container)
    cursor = container.journal_cursor()
    timer_run(container)
    run = last_run(container)
    assert (run["action"], run["version"]) == ("notify", halted.version)
    assert "the release is halted (phased at 0%)" in run["message"]
    assert not cached(container, halted.version)  # not even downloaded
    assert starts(container, "picohub-update.service", cursor) == 0
    assert healthy_version(container) == before
    checked = container.run(["picohub-update", "check"], check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "this hub's turn comes at" in checked.stdout
    _, system = container.http("GET", "http://127.0.0.1:8080/api/system")
    assert system["update"]["available"]["phase"]["percentage"] == 0
    # A person's choice is not phased.
    applied = container.run(
        ["picohub-update", "apply", halted.version, "--wait"], check=False, timeout=600
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert healthy_version(container) == halted.version
