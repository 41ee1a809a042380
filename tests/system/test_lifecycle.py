"""Install, remove, reinstall and purge the picohub package on a booted bookworm, in
that order."""

from __future__ import annotations

from picohub_release.build import Build
from tests.system.container import AUTOMATIC_TIMER, Container, wait_for
from tests.system.journeys import APP_UNITS, apt_install, device_ids, healthy_version, heartbeat

STATE = "/var/lib/picohub"


def _is_active(container: Container, unit: str) -> str:
    return container.run(["systemctl", "is-active", unit], check=False).stdout.strip()


def _is_enabled(container: Container, unit: str) -> str:
    return container.run(["systemctl", "is-enabled", unit], check=False).stdout.strip()


def test_apt_install_on_a_clean_system(container: Container, release_a: Build) -> None:
    cursor = container.journal_cursor()
    apt_install(container, release_a, ["picohub", "picohub-archive-keyring"])

    passwd = container.run(["getent", "passwd", "picohub"]).stdout.strip().split(":")
    assert passwd[5] == STATE and passwd[6] in ("/usr/sbin/nologin", "/sbin/nologin")
    assert int(passwd[2]) < 1000, "picohub must be a system user"
    for unit in APP_UNITS:
        assert _is_active(container, unit) == "active", unit
        assert _is_enabled(container, unit) == "enabled", unit
    assert container.unit_property("picohub.service", "User") == "picohub"

    assert healthy_version(container) == release_a.version
    ready = f"INFO picohub.web: picohub {release_a.version} ready, state in {STATE}"
    # journald stores a service's output asynchronously: poll for the line.
    wait_for(
        lambda: ready in container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub"),
        timeout=10,
        what="the app's start in the journal",
    )
    # The app's process runs as picohub, not root.
    pid = container.unit_property("picohub.service", "MainPID")
    owner = container.run(["stat", "--format=%U", f"/proc/{pid}"]).stdout.strip()
    assert owner == "picohub"


def test_registry_accepts_a_heartbeat_and_refuses_bad_input(container: Container) -> None:
    assert heartbeat(container, "pico-kitchen", "1.0.0")[0] == 200
    status, body = container.http(
        "POST", "http://127.0.0.1:8080/api/devices/pico-bad/heartbeat", {"firmware_version": 7}
    )
    assert status == 400 and "firmware_version" in body["message"]
    assert device_ids(container) == ["pico-kitchen"]


def test_remove_stops_and_disables_but_keeps_data(container: Container) -> None:
    container.run(["dpkg", "--remove", "picohub"])
    for unit in APP_UNITS:
        assert _is_active(container, unit) != "active", unit
        assert _is_enabled(container, unit) != "enabled", unit
    assert container.http("GET", "http://127.0.0.1:8080/healthz")[0] == 0  # nothing listens
    container.run(["test", "-s", f"{STATE}/picohub.db"])
    container.run(["getent", "passwd", "picohub"])


def test_install_again_after_removal_finds_the_devices(
    container: Container, release_a: Build
) -> None:
    apt_install(container, release_a, ["picohub", "picohub-archive-keyring"])
    assert healthy_version(container) == release_a.version
    assert device_ids(container) == ["pico-kitchen"]


def test_purge_leaves_nothing_behind(container: Container) -> None:
    container.run(["dpkg", "--purge", "picohub", "picohub-archive-keyring"])
    assert container.run(["getent", "passwd", "picohub"], check=False).returncode == 2
    assert container.run(["getent", "group", "picohub"], check=False).returncode == 2
    # The test harness's own mask of the daily timer (container.AUTOMATIC_TIMER) is not
    # the package's: an administrator's mask stays too.
    leftovers = container.sh(
        "find / -xdev \\( -name 'picohub*' -o -path '*picohub*' \\) "
        "-not -path '/root/*' -not -path '/proc/*' -not -path '/var/log/*' "
        f"-not -path /etc/systemd/system/{AUTOMATIC_TIMER} -print"
    ).stdout.split()
    assert leftovers == []
    for package in ("picohub", "picohub-archive-keyring"):
        assert container.run(["dpkg-query", "-W", package], check=False).returncode == 1


def test_install_after_purge_starts_empty(container: Container, release_a: Build) -> None:
    apt_install(container, release_a, ["picohub", "picohub-archive-keyring"])
    assert healthy_version(container) == release_a.version
    assert device_ids(container) == []
