"""``picohub-update apply --bundle`` on a booted bookworm with no network at all (the
container has loopback only, and the updater points at a port nothing listens on): the
release comes from a bundle file, as from a USB stick. A tampered bundle is refused
with the hub left on its release; a good one updates it, keeping its data."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from picohub.settings import RELEASE_PACKAGES
from picohub.update.bundle import write_bundle
from picohub_release.build import Build
from picohub_release.repository import KEYRING
from tests.conftest import build_release, next_version
from tests.system.conftest import _repository, point_updater_at
from tests.system.container import Container
from tests.system.journeys import (
    apt_install,
    device_ids,
    healthy_version,
    heartbeat,
    never_healthy,
)

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    assert heartbeat(container, "pico-shed", "1.0.0")[0] == 200
    point_updater_at(container, NOWHERE)
    # No way to reach a release over the network.
    offline = container.run(["picohub-update", "check"], check=False)
    assert offline.returncode == 1, offline.stdout + offline.stderr
    return release_a


@pytest.fixture(scope="module")
def bundle_b(release_b: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release B's repository (signed with the key the test builds pin) as a bundle,
    packed on this machine by the code ``picohub-update bundle`` uses."""
    repository = _repository(release_b, tmp_path_factory)
    target = tmp_path_factory.mktemp("usb") / "b.tar"
    write_bundle(repository.directory, repository.directory / KEYRING, target)
    return target


@pytest.fixture(scope="module")
def broken(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A newer release whose app never answers /healthz."""
    version = next_version(release_a.version, 5)
    return build_release(tmp_path_factory, "offline-broken", version, never_healthy)


@pytest.fixture(scope="module")
def bundle_broken(broken: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = _repository(broken, tmp_path_factory)
    target = tmp_path_factory.mktemp("usb-broken") / "broken.tar"
    write_bundle(repository.directory, repository.directory / KEYRING, target)
    return target


def _status(container: Container) -> dict[str, str]:
    status: dict[str, str] = json.loads(
        container.run(["picohub-update", "status", "--json"]).stdout
    )
    return status


def _cached(container: Container) -> list[str]:
    listing = container.run(["ls", "-A", "/var/cache/picohub/releases"], check=False)
    return listing.stdout.split()


def test_a_bundle_with_a_tampered_package_is_refused(
    container: Container,
    hub: Build,
    bundle_b: Path,
    release_b: Build,
    tmp_path: Path,
) -> None:
    tampered = tmp_path / "tampered.tar"
    deb = release_b.deb("picohub").name
    with tarfile.open(bundle_b) as source, tarfile.open(tampered, "w") as out:
        for member in source.getmembers():
            data = bytearray(source.extractfile(member).read())  # type: ignore[union-attr]
            if member.name == deb:
                data[len(data) // 2] ^= 0xFF
            out.addfile(member, io.BytesIO(bytes(data)))
    cached_before = _cached(container)
    inside = container.put(tampered, "/root")

    result = container.run(
        ["picohub-update", "apply", "--bundle", inside, "--wait"], check=False, timeout=600
    )

    assert result.returncode == 1, result.stdout + result.stderr
    status = _status(container)
    assert status["phase"] == "failed", status
    assert status["message"].startswith("nothing was changed: "), status
    assert f"{deb} does not match the SHA-256 in the signed index" in status["message"]
    assert healthy_version(container) == hub.version
    assert _cached(container) == cached_before and release_b.version not in cached_before
    leftovers = container.run(["ls", "-A", "/var/cache/picohub"], check=False).stdout.split()
    assert not [name for name in leftovers if name.startswith(".bundle-")], leftovers


def test_a_first_bundle_that_fails_rolls_back_to_a_copy_repacked_on_the_hub(
    container: Container, hub: Build, bundle_broken: Path, broken: Build
) -> None:
    """The hub was installed from the release's .debs: its cache has no copy of release
    A to go back to, and the bundle brings only the new release. The updater repacks A
    from the installed packages first, and the failed release is rolled back to it."""
    assert hub.version not in _cached(container)
    copies = container.run(["ls", "-A", "/var/cache/picohub/copies"]).stdout.split()
    assert copies == []  # made at install (tmpfiles.d), empty
    inside = container.put(bundle_broken, "/root")
    point_updater_at(container, NOWHERE, "[update]\\nhealth_timeout = 15\\n")
    cursor = container.journal_cursor()
    try:
        result = container.run(
            ["picohub-update", "apply", "--bundle", inside, "--wait"], check=False, timeout=600
        )
    finally:
        point_updater_at(container, NOWHERE)

    log = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert result.returncode == 1, "\n".join(log) + result.stderr
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-shed"]
    status = _status(container)
    assert status["phase"] == "rolled-back", status
    assert status["message"].startswith(f"rolled back to {hub.version} because"), status
    assert _versions(container) == {name: hub.version for name in RELEASE_PACKAGES}
    assert any(f"made a rollback copy of release {hub.version}" in line for line in log), log
    copy = container.run(["ls", f"/var/cache/picohub/copies/{hub.version}"]).stdout.split()
    assert sorted(copy) == sorted(
        ["Packages", "Release", *(f"{name}_{hub.version}_all.deb" for name in RELEASE_PACKAGES)]
    )
    # The repacked packages were the installed ones: dpkg finds every file as it put it,
    # but update.conf, a conffile the test changed: the copy left it out, so it stays as
    # the owner left it (dpkg keeps its shipped checksum, marked obsolete, for the next
    # upgrade to ask about rather than replace it).
    repacked = f"/var/cache/picohub/copies/{hub.version}/picohub_{hub.version}_all.deb"
    contents = container.run(["dpkg-deb", "--contents", repacked]).stdout
    assert "./usr/bin/picohub-update" in contents and "update.conf" not in contents
    verified = container.run(["dpkg", "--verify", *RELEASE_PACKAGES], check=False).stdout
    assert verified.splitlines() == ["??5?????? c /etc/picohub/update.conf"], verified


def _versions(container: Container) -> dict[str, str]:
    shown = container.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", *RELEASE_PACKAGES])
    return dict(line.split() for line in shown.stdout.splitlines() if line)


def test_a_bundle_updates_the_hub_without_network(
    container: Container, hub: Build, bundle_b: Path, release_b: Build
) -> None:
    inside = container.put(bundle_b, "/root")
    cursor = container.journal_cursor()

    result = container.run(
        ["picohub-update", "apply", "--bundle", inside, "--wait"], check=False, timeout=600
    )

    log = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert result.returncode == 0, "\n".join(log) + result.stderr
    assert healthy_version(container) == release_b.version
    assert device_ids(container) == ["pico-shed"]  # the data kept
    status = _status(container)
    assert (status["phase"], status["target"]) == ("done", release_b.version), status
    assert status["message"] == f"updated to {release_b.version}"
    versions = container.run(
        ["dpkg-query", "-W", "-f=${Package} ${Version}\\n",
         *RELEASE_PACKAGES]
    ).stdout.split("\n")  # fmt: skip
    assert sorted(filter(None, versions)) == sorted(
        f"{name} {release_b.version}" for name in RELEASE_PACKAGES
    )
    # The release is in the cache now (a later rollback can use it); the bundle stays.
    assert release_b.version in _cached(container)
    assert container.run(["test", "-f", inside], check=False).returncode == 0
    # It ran in the transient unit, from the bundle's absolute path.
    assert any(f"opening the bundle {inside}" in line for line in log), log
