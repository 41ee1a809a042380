"""Upgrades on a booted bookworm: the old version serves until dpkg configures the new
one, the service restarts exactly once, the socket never closes, and data survives."""

from __future__ import annotations

import pytest

from picohub_release.build import Build
from tests.system.container import Container
from tests.system.journeys import (
    UNIT_STARTED,
    UNIT_STOPPED,
    apt_install,
    device_ids,
    healthy_version,
    heartbeat,
    unit_stops_and_starts,
)


@pytest.fixture(scope="module")
def installed_a(container: Container, release_a: Build) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    assert heartbeat(container, "pico-garden", "1.0.0")[0] == 200
    return release_a


# The app's two units, and a unit debhelper's part of postinst restarts on an upgrade.
APP_UNITS = ("picohub.service", "picohub-handover.service")
RESTARTED_BY_DEBHELPER = "picohub-update-trigger.socket"


def _unit_events(
    container: Container, cursor: str, units: tuple[str, ...] = APP_UNITS
) -> list[tuple[str, str]]:
    """systemd's "Started" and "Stopped" of ``units`` since the cursor, in order."""
    kinds = {UNIT_STARTED: "started", UNIT_STOPPED: "stopped"}
    return [
        (entry["UNIT"], kinds[entry["MESSAGE_ID"]])
        for entry in container.journal(cursor, _PID="1")
        if entry.get("UNIT") in units and entry.get("MESSAGE_ID") in kinds
    ]


def _main_pid(container: Container) -> str:
    return container.unit_property("picohub.service", "MainPID")


def test_unpack_keeps_the_old_version_serving_and_configure_restarts_it_once(
    container: Container, installed_a: Build, release_b: Build
) -> None:
    pid_a = _main_pid(container)
    socket_since = container.unit_property("picohub.socket", "ActiveEnterTimestampMonotonic")
    cursor = container.journal_cursor()

    deb_b = container.put(release_b.deb("picohub"), "/root/b")
    container.run(["dpkg", "--unpack", deb_b])
    # restart-after-upgrade: nothing stopped the service while dpkg replaced its files.
    assert container.run(["systemctl", "is-active", "picohub.service"]).stdout.strip() == "active"
    assert _main_pid(container) == pid_a
    assert healthy_version(container) == installed_a.version
    assert unit_stops_and_starts(container, "picohub.service", cursor) == (0, 0)

    container.run(["dpkg", "--configure", "picohub"])
    assert healthy_version(container) == release_b.version
    assert _main_pid(container) != pid_a
    assert unit_stops_and_starts(container, "picohub.service", cursor) == (1, 1)
    # The new version served from picohub-handover.service, on the same socket, from
    # before picohub.service stopped until after it had started again.
    assert _unit_events(container, cursor) == [
        ("picohub-handover.service", "started"),
        ("picohub.service", "stopped"),
        ("picohub.service", "started"),
        ("picohub-handover.service", "stopped"),
    ]
    assert container.unit_property("picohub-handover.service", "ActiveState") == "inactive"
    # The handover comes first in postinst, before debhelper's part (which restarts the
    # trigger's socket among its unit bookkeeping): the new version does not wait for it.
    assert _unit_events(container, cursor, (*APP_UNITS, RESTARTED_BY_DEBHELPER))[-2:] == [
        (RESTARTED_BY_DEBHELPER, "stopped"),
        (RESTARTED_BY_DEBHELPER, "started"),
    ]
    # The listening socket stayed open throughout: connections waited, none were refused.
    assert (
        container.unit_property("picohub.socket", "ActiveEnterTimestampMonotonic") == socket_since
    )
    assert device_ids(container) == ["pico-garden"]


def test_apt_install_of_a_newer_release_upgrades_in_place(
    container: Container, installed_a: Build, release_c: Build
) -> None:
    cursor = container.journal_cursor()
    apt_install(container, release_c)
    assert healthy_version(container) == release_c.version
    assert unit_stops_and_starts(container, "picohub.service", cursor) == (1, 1)
    assert device_ids(container) == ["pico-garden"]
    # The device registered under the first version still reports in under the new one.
    assert heartbeat(container, "pico-garden", "1.1.0")[0] == 200
