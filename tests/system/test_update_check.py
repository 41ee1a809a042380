"""``picohub-update check`` and ``fetch`` as installed by the picohub package, on a booted
bookworm (Debian's python3-requests 2.28 and gpgv), against a local server that answers
like GitHub, running in the container's own network namespace."""

from __future__ import annotations

import json

import pytest

from picohub.settings import RELEASE_PACKAGES
from picohub_release.build import Build
from tests.system.conftest import point_updater_at
from tests.system.container import Container
from tests.system.journeys import apt_install, healthy_version


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build, github: str) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    point_updater_at(container, github)
    return release_a


def test_check_reports_the_newer_release(
    container: Container, hub: Build, release_b: Build
) -> None:
    result = container.run(["picohub-update", "check"], check=False)
    assert result.returncode == 100, result.stderr
    assert f"release {release_b.version} is available" in result.stdout
    again = container.run(["picohub-update", "check", "--json"], check=False)
    answer = json.loads(again.stdout)
    assert answer["not_modified"] is True  # the conditional request cost nothing
    # Every package of the release moves, the keyring too (it is versioned with them).
    assert {c["package"] for c in answer["changes"]} == set(RELEASE_PACKAGES)


def test_fetch_verifies_into_the_cache_and_installs_nothing(
    container: Container, hub: Build, release_b: Build
) -> None:
    result = container.run(["picohub-update", "fetch"], check=False)
    assert result.returncode == 0, result.stderr
    cached = f"/var/cache/picohub/releases/{release_b.version}"
    listing = container.run(["ls", cached]).stdout.split()
    assert sorted(name for name in listing if name.endswith(".deb")) == sorted(
        deb.name for deb in release_b.debs
    )
    status = json.loads(container.run(["picohub-update", "status", "--json"]).stdout)
    assert (status["phase"], status["target"]) == ("downloaded", release_b.version)
    assert healthy_version(container) == hub.version  # nothing installed yet

    # What fetch verified is what apt installs (the apply step of a later release).
    container.sh(f"apt-get install --yes {cached}/*.deb")
    assert healthy_version(container) == release_b.version
