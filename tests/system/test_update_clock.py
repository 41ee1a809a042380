"""A hub whose clock is a day behind its releases, as a Raspberry Pi without a real-time
clock is before it reaches a time server (fake-hwclock's last shutdown, or 1970): every
release here is dated a day ahead of the container's clock, which apt alone would refuse
("not valid yet"), and releases A and B are past their ``Valid-Until`` too ("expired").
picohub verified each release itself and judges only the latest's expiry, so on a
booted bookworm an online update, a rollback, an offline bundle and the recovery after a
power cut all succeed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from debian.deb822 import Release

from picohub.update.bundle import write_bundle
from picohub.update.timefloor import release_date
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.system import test_update_power_cut as power_cut
from tests.system.conftest import point_updater_at, serve_releases
from tests.system.container import Container, wait_for
from tests.system.journeys import apt_install, device_ids, healthy_version, heartbeat
from tests.system.test_update_power_cut import HANG, HANGING, _power_cut_and_boot

AHEAD = timedelta(days=1)
# The release whose preinst waits while HANG exists (newer than B too).
interrupted_release = power_cut.interrupted_release


def _dated_ahead(build: Build, factory: pytest.TempPathFactory, *, expired: bool) -> Repository:
    return write_repository(
        build.debs,
        factory.mktemp("ahead") / "repo",
        local_signer(LOCAL_KEY_DIR),
        version=build.version,
        date=datetime.now(UTC) + AHEAD,
        # Valid until a day before the hub's clock: apt alone would call it expired.
        valid_for=-2 * AHEAD if expired else None,
    )


@pytest.fixture(scope="module")
def repositories(
    release_a: Build,
    release_b: Build,
    interrupted_release: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Repository]:
    return {
        build.version: _dated_ahead(build, tmp_path_factory, expired=expired)
        for build, expired in ((release_a, True), (release_b, True), (interrupted_release, False))
    }


@pytest.fixture(scope="module")
def hub(
    container: Container, release_a: Build, repositories: dict[str, Repository]
) -> Iterator[Build]:
    published = [
        (f"v{version}", repository.directory) for version, repository in repositories.items()
    ]
    with serve_releases(container, published) as url:
        apt_install(container, release_a)
        assert healthy_version(container) == release_a.version
        assert heartbeat(container, "pico-attic", "1.0.0")[0] == 200
        point_updater_at(container, url)
        yield release_a


def _apply(container: Container, *argv: str) -> str:
    done = container.run(["picohub-update", *argv, "--wait"], check=False, timeout=900)
    status = container.run(["picohub-update", "status"], check=False).stdout
    assert done.returncode == 0, done.stdout + done.stderr + status
    return done.stdout


def _release_field(repository: Repository, name: str) -> datetime | None:
    text = (repository.directory / "InRelease").read_text(encoding="utf-8")
    return release_date(Release(text).get(name))


def test_releases_are_dated_ahead_and_the_older_ones_expired(
    container: Container, hub: Build, release_b: Build, repositories: dict[str, Repository]
) -> None:
    clock = float(container.run(["date", "+%s"]).stdout)
    for repository in repositories.values():
        dated = _release_field(repository, "Date")
        assert dated is not None and dated.timestamp() - clock > AHEAD.total_seconds() - 3600
    expired = [
        version
        for version, repository in repositories.items()
        if (until := _release_field(repository, "Valid-Until")) and until.timestamp() < clock
    ]
    assert expired == [hub.version, release_b.version]


def test_an_online_update_succeeds(container: Container, hub: Build, release_b: Build) -> None:
    _apply(container, "apply", release_b.version)
    assert healthy_version(container) == release_b.version
    assert device_ids(container) == ["pico-attic"]


def test_a_rollback_succeeds(container: Container, hub: Build, release_a: Build) -> None:
    _apply(container, "rollback")
    assert healthy_version(container) == release_a.version
    assert device_ids(container) == ["pico-attic"]


def test_an_offline_bundle_succeeds(
    container: Container,
    hub: Build,
    release_b: Build,
    repositories: dict[str, Repository],
    tmp_path: Path,
) -> None:
    repository = repositories[release_b.version]
    bundle = tmp_path / "picohub-bundle.tar"
    write_bundle(repository.directory, repository.directory / KEYRING, bundle)
    container.run(["rm", "-rf", f"/var/cache/picohub/releases/{release_b.version}"])
    _apply(container, "apply", "--bundle", container.put(bundle, "/root"))
    assert healthy_version(container) == release_b.version


def test_the_recovery_after_a_power_cut_succeeds_before_time_is_synced(
    container: Container, hub: Build, interrupted_release: Build
) -> None:
    container.run(["touch", HANG])
    container.run(["picohub-update", "apply"])  # returns once the transient unit runs
    wait_for(
        lambda: container.run(["test", "-e", HANGING], check=False).returncode == 0,
        timeout=300,
        what="dpkg to reach the release's preinst",
    )
    status = _power_cut_and_boot(container, interrupted_release.version)
    assert status["target"] == interrupted_release.version
    assert device_ids(container) == ["pico-attic"]
