"""A failed update rolls back by itself: a release whose postinst fails and one whose app
never becomes healthy both end on the previous release, running, the reason recorded. (A
release that needs a package no source offers is refused before anything changes:
test_update_plan.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.settings import RELEASE_PACKAGES
from picohub_release.build import Build, build_debs
from tests.conftest import SOURCE, next_version
from tests.system.conftest import _repository, hub_on
from tests.system.container import Container
from tests.system.journeys import (
    device_ids,
    healthy_version,
    never_healthy,
)


def _postinst_fails(tree: Path) -> None:
    (tree / "debian" / "picohub.postinst").write_text(
        "#!/bin/sh\nset -e\n#DEBHELPER#\n"
        'if [ "$1" = configure ]; then echo "broken on purpose" >&2; exit 1; fi\n'
    )


@pytest.fixture(scope="module")
def broken(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    builds = {}
    for step, (name, patch) in enumerate(
        (
            ("postinst", _postinst_fails),
            ("unhealthy", never_healthy),
        ),
        start=5,
    ):
        base = tmp_path_factory.mktemp(f"broken-{name}")
        version = next_version(release_a.version, step)
        builds[name] = build_debs(
            SOURCE, base / "dist", base / "work", version=version, patch=patch
        )
    return builds


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    broken: dict[str, Build],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Build]:
    with hub_on(
        container,
        release_a,
        list(broken.values()),
        tmp_path_factory,
        "[update]\\nhealth_timeout = 15\\n",
    ) as hub:
        yield hub


def _status(container: Container) -> dict[str, str]:
    status: dict[str, str] = json.loads(
        container.run(["picohub-update", "status", "--json"]).stdout
    )
    return status


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("postinst", "apt-get install failed"),
        ("unhealthy", "did not become healthy"),
    ],
)
def test_a_failed_update_ends_on_the_previous_release(
    container: Container, hub: Build, broken: dict[str, Build], kind: str, reason: str
) -> None:
    bad = broken[kind]
    result = container.run(
        ["picohub-update", "apply", bad.version, "--wait"], check=False, timeout=600
    )
    assert result.returncode != 0
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]
    status = _status(container)
    assert status["phase"] == "rolled-back"
    message = status["message"]
    assert f"rolled back to {hub.version}" in message and bad.version in message
    assert reason in message, message
    # dpkg is consistent again: every package configured at the previous version.
    states = container.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status} ${Version}\\n",
         *RELEASE_PACKAGES]
    ).stdout.splitlines()  # fmt: skip
    assert sorted(states) == sorted(f"{name} installed {hub.version}" for name in RELEASE_PACKAGES)


def test_manual_recovery_from_the_release_assets_needs_no_updater_cache(
    container: Container, hub: Build, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The documented recovery: check SHA256SUMS, then apt install ./ of the assets.
    repository = _repository(hub, tmp_path_factory)
    container.run(["rm", "-rf", "/var/cache/picohub"])
    container.run(["dpkg", "--remove", "picohub-web", "picohub-firmware", "picohub"])
    assert container.http("GET", "http://127.0.0.1:8080/healthz")[0] == 0  # no hub left
    for asset in repository.assets:
        container.put(asset, "/root/recovery")
    container.sh("cd /root/recovery && sha256sum --check --strict --quiet SHA256SUMS")
    container.sh("cd /root/recovery && apt-get install --yes ./picohub*.deb")
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]
    status, body = container.http("GET", "http://127.0.0.1:8780/api/firmware/manifest")
    assert status == 200 and body["package_version"] == hub.version
