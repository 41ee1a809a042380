"""``picohub-update apply`` on a booted bookworm: the update runs in the transient unit
picohub-update.service, which outlives the restart of picohub.service it causes."""

from __future__ import annotations

import json

import pytest

from picohub_release.build import Build
from tests.system.conftest import point_updater_at
from tests.system.container import AUTOMATIC_TIMER, Container
from tests.system.journeys import (
    apt_install,
    device_ids,
    healthy_version,
    heartbeat,
    wait_for_entry,
)


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build, github: str) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    assert heartbeat(container, "pico-attic", "1.0.0")[0] == 200
    point_updater_at(container, github)
    return release_a


def test_a_second_update_is_refused_while_one_runs(container: Container, hub: Build) -> None:
    container.run(["systemd-run", "--unit=picohub-update", "--collect", "sleep", "300"])
    try:
        result = container.run(["picohub-update", "apply"], check=False)
        assert result.returncode == 2
        assert "error: an update is already running" in result.stderr
    finally:
        container.run(["systemctl", "stop", "picohub-update.service"])
    assert healthy_version(container) == hub.version  # nothing happened


def test_without_network_manager_the_daily_timer_alone_updates_the_hub(
    container: Container, hub: Build, release_b: Build
) -> None:
    assert healthy_version(container) == hub.version
    assert container.run(["test", "-e", "/usr/sbin/NetworkManager"], check=False).returncode
    container.run(["systemctl", "unmask", AUTOMATIC_TIMER])
    try:
        container.run(["systemctl", "start", AUTOMATIC_TIMER])
        # What the timer starts at its time, now.
        container.run(["systemctl", "start", "picohub-update-auto@timer.service"], timeout=600)
        entry = wait_for_entry(
            container,
            lambda e: e["origin"] == "timer" and e["to_release"] == release_b.version
            and e["kind"] == "update",
        )  # fmt: skip
        assert entry["result"] == "done", entry
        assert healthy_version(container) == release_b.version
        assert device_ids(container) == ["pico-attic"]
        # Rolled back on request: the timer's next run leaves it so.
        back = container.run(["picohub-update", "rollback", "--wait"], check=False, timeout=600)
        assert back.returncode == 0, back.stderr
        container.run(["systemctl", "start", "picohub-update-auto@timer.service"], timeout=600)
        last = json.loads(container.run(["cat", "/var/lib/picohub-update/automatic.json"]).stdout)
        assert last["action"] == "notify" and "rolled back on request" in last["message"]
        assert healthy_version(container) == hub.version
    finally:
        container.run(["systemctl", "stop", AUTOMATIC_TIMER])
        container.run(["systemctl", "mask", AUTOMATIC_TIMER])


def test_apply_installs_the_new_release_from_the_transient_unit(
    container: Container, hub: Build, release_b: Build
) -> None:
    cursor = container.journal_cursor()
    result = container.run(["picohub-update", "apply", "--wait"], check=False, timeout=600)
    log = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert result.returncode == 0, "\n".join(log) + result.stderr
    assert healthy_version(container) == release_b.version
    assert device_ids(container) == ["pico-attic"]

    # The unit's journal shows the whole run, before and after picohub.service restarted.
    assert any(f"updated to {release_b.version}" in line for line in log), log
    entries = container.journal(cursor)
    order = [
        "installing"
        if e.get("SYSLOG_IDENTIFIER") == "picohub-update" and "installing" in str(e.get("MESSAGE"))
        else "restarted"
        if e.get("UNIT") == "picohub.service"
        and e.get("MESSAGE_ID") == "39f53479d3a045ac8e11786248231fbf"
        else "done"
        if e.get("SYSLOG_IDENTIFIER") == "picohub-update" and "updated to" in str(e.get("MESSAGE"))
        else None
        for e in entries
    ]
    steps = [step for step in order if step]
    assert steps.index("installing") < steps.index("restarted") < steps.index("done"), steps
    status = container.run(["picohub-update", "status"]).stdout
    assert f"updated to {release_b.version}" in status
    # --wait says how the run ended, as the status does.
    assert f"done: updated to {release_b.version}" in result.stdout


def test_rollback_installs_the_previous_release_from_the_cache(
    container: Container, hub: Build, release_b: Build
) -> None:
    assert healthy_version(container) == release_b.version  # where the test above ended
    result = container.run(["picohub-update", "rollback", "--wait"], check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-attic"]
    status = container.run(["picohub-update", "status"]).stdout
    assert f"rolled back to {hub.version} on request" in status

    # Nothing older is cached now: a clear refusal, and nothing changes.
    again = container.run(["picohub-update", "rollback", "--wait"], check=False)
    assert again.returncode != 0
    log = container.run(["journalctl", "-t", "picohub-update", "-n", "5", "--no-pager"]).stdout
    assert f"no release older than {hub.version} is in the cache" in log
    # The status still tells of the rollback before; --wait says why this one refused.
    assert f"error: no release older than {hub.version} is in the cache" in again.stderr, (
        again.stderr
    )
    assert "journalctl -u picohub-update" in again.stderr
    assert healthy_version(container) == hub.version
