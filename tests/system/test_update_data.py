"""The hub's data across a rollback. Release 2 migrates the database in a way release 1
cannot read (it renames a column) and then fails its health check: the hub ends on
release 1, healthy, with every device registered before the update, the newer database
kept aside. The same when the power goes in the middle of release 2's postinst."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.schema import SCHEMA_VERSION
from picohub_release.build import Build, build_debs
from tests.conftest import SOURCE, next_version
from tests.system.conftest import hub_on
from tests.system.container import Container, wait_for
from tests.system.journeys import (
    device_ids,
    healthy_version,
    heartbeat,
    never_healthy,
)

DATABASE = "/var/lib/picohub/picohub.db"
# While this file exists, release 2's postinst waits once the app has migrated the data.
HANG = "/run/picohub-test-hang-postinst"
HANGING = "/run/picohub-test-hanging-postinst"
# As the app's user: a database file root opens may get a -wal the app cannot open.
SQL = (
    "runuser -u picohub -- python3 -c \"import sqlite3; c = sqlite3.connect('{path}');"
    " print(c.execute('{statement}').fetchall()); c.commit(); c.close()\""
)
SCHEMA = SQL.replace("{statement}", "PRAGMA user_version")
# This release's schema, and the one the migrating release adds a migration to reach.
OURS = SCHEMA_VERSION
THEIRS = SCHEMA_VERSION + 1


def _incompatible_and_unhealthy(tree: Path) -> None:
    schema = tree / "src" / "picohub" / "schema.py"
    text = schema.read_text()
    end = text.index("\n)\n", text.index("MIGRATIONS = ("))
    schema.write_text(
        text[:end]
        + '\n    "ALTER TABLE devices RENAME COLUMN firmware_version TO firmware",'
        + text[end:]
    )
    never_healthy(tree)
    # The postinst waits at its end (while HANG exists), the new app having migrated.
    postinst = tree / "debian" / "picohub.postinst"
    postinst.write_text(
        postinst.read_text() + f'\nif [ "$1" = configure ] && [ -e {HANG} ]; then\n'
        "    for i in $(seq 600); do\n"
        f'        [ "$({SCHEMA.format(path=DATABASE)})" = "[({THEIRS},)]" ] && break; sleep 0.1\n'
        "    done\n"
        f"    touch {HANGING}\n"
        f"    while [ -e {HANG} ]; do sleep 0.1; done\n"
        "fi\n"
    )


@pytest.fixture(scope="module")
def migrating_release(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    base = tmp_path_factory.mktemp("migrating")
    version = next_version(release_a.version, 9)
    return build_debs(
        SOURCE, base / "dist", base / "work", version=version, patch=_incompatible_and_unhealthy
    )


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    migrating_release: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Build]:
    with hub_on(
        container,
        release_a,
        [migrating_release],
        tmp_path_factory,
        "[update]\\nhealth_timeout = 15\\n",
    ) as hub:
        yield hub


def _sql(container: Container, statement: str, path: str = DATABASE) -> str:
    return container.sh(SQL.format(path=path, statement=statement)).stdout.strip()


def _schema(container: Container, path: str = DATABASE) -> int:
    return int(_sql(container, "PRAGMA user_version", path).strip("[(,)]"))


def _status(container: Container) -> dict[str, str]:
    status: dict[str, str] = json.loads(
        container.run(["picohub-update", "status", "--json"]).stdout
    )
    return status


def _journal(container: Container) -> dict[str, object]:
    journal: dict[str, object] = json.loads(
        container.run(["cat", "/var/lib/picohub-update/journal.json"]).stdout
    )
    return journal


def _kept_aside(container: Container) -> list[str]:
    listed = container.sh("ls /var/lib/picohub | grep '^picohub.db.schema' || true").stdout
    return [f"/var/lib/picohub/{name}" for name in listed.split()]


def _newer_database_kept(container: Container) -> None:
    """The database release 2 wrote is kept, once, beside the restored one, with the
    device still in it (under the renamed column)."""
    [aside] = _kept_aside(container)
    assert _schema(container, aside) == THEIRS
    assert "pico-cellar" in _sql(container, "SELECT id, firmware FROM devices", aside)
    container.run(["rm", aside])


def test_a_release_that_migrates_and_fails_ends_on_the_previous_one_with_the_data(
    container: Container, hub: Build, migrating_release: Build
) -> None:
    assert _schema(container) == OURS
    result = container.run(
        ["picohub-update", "apply", migrating_release.version, "--wait"], check=False, timeout=600
    )
    assert result.returncode != 0
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]  # registered before the update
    assert _schema(container) == OURS  # the snapshot, restored
    status = _status(container)
    assert status["phase"] == "rolled-back", status
    assert "the database was restored from before the update" in status["message"], status
    journal = _journal(container)
    assert journal["result"] == "rolled-back" and journal["step"] == "ended", journal
    assert journal["from_release"] == hub.version
    assert journal["to_release"] == migrating_release.version
    _newer_database_kept(container)
    # The app serves writes on the restored database.
    assert heartbeat(container, "pico-attic", "1.0.0")[0] == 200
    assert sorted(device_ids(container)) == ["pico-attic", "pico-cellar"]


def test_the_same_after_a_power_cut_in_release_2s_postinst(
    container: Container, hub: Build, migrating_release: Build
) -> None:
    container.run(["touch", HANG])
    container.run(["picohub-update", "apply", migrating_release.version])
    wait_for(
        lambda: container.run(["test", "-e", HANGING], check=False).returncode == 0,
        timeout=300,
        what="release 2's postinst to wait, the database migrated",
    )
    assert _schema(container) == THEIRS
    container.power_cut()
    container.boot()
    status: dict[str, str] = wait_for(
        lambda: (s := _status(container))["phase"] not in ("installing", "checking") and s,
        timeout=300,
        what="the recovery to end",
    )
    assert status["phase"] == "rolled-back", status
    assert healthy_version(container) == hub.version
    assert sorted(device_ids(container)) == ["pico-attic", "pico-cellar"]
    assert _schema(container) == OURS
    assert "the database was restored from before the update" in status["message"], status
    journal = _journal(container)
    assert journal["result"] == "rolled-back", journal
    _newer_database_kept(container)


def test_the_app_refuses_a_database_newer_than_it_knows(container: Container, hub: Build) -> None:
    _sql(container, "PRAGMA user_version = 9")
    cursor = container.journal_cursor()
    container.run(["systemctl", "restart", "picohub.service"], check=False)
    wait_for(
        lambda: any(
            "newer than this release of picohub knows" in line
            for line in container.journal_messages(cursor, _SYSTEMD_UNIT="picohub.service")
        ),
        timeout=60,
        what="the app to say why it does not start",
    )
    assert container.http("GET", "http://127.0.0.1:8080/healthz")[0] != 200
    _sql(container, f"PRAGMA user_version = {OURS}")
    container.run(["systemctl", "reset-failed", "picohub.service"], check=False)
    container.run(["systemctl", "restart", "picohub.service"])
    assert healthy_version(container) == hub.version
