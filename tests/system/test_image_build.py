"""A system image built with picohub installed (in a container that is not booted, as
image builders do) carries no administrator password: each device makes its own on its
first boot, before the app starts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from picohub_release.build import Build
from tests.system.container import Container
from tests.system.distributions import Distribution
from tests.system.journeys import healthy_version, log_in

PASSWORD = "/etc/picohub/admin-password"
HASH = "/var/lib/picohub/admin.json"
FIRST_BOOT = "picohub-admin-password.service"


@pytest.fixture(scope="module")
def image(
    distribution: Distribution, release_a: Build, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Container, list[str]]]:
    """A root with picohub installed while it was not booted, then booted; and which of
    the password's files existed before the boot."""
    machine = Container(distribution.root(), tmp_path_factory.mktemp("image"))
    try:
        machine.mount()
        debs = [
            machine.put(release_a.deb(name), "/root/image")
            for name in ("picohub", "picohub-archive-keyring")
        ]
        machine.run_unbooted(["apt-get", "install", "--yes", "--no-install-recommends", *debs])
        before_boot = [p for p in (PASSWORD, HASH) if (machine.root / p.lstrip("/")).exists()]
        machine.boot()
        yield machine, before_boot
    finally:
        machine.stop()
        shutil.rmtree(machine.scratch, ignore_errors=True)


def test_the_image_holds_no_password(image: tuple[Container, list[str]]) -> None:
    _, before_boot = image
    assert before_boot == []


def test_the_first_boot_makes_the_password_before_the_app_starts(
    image: tuple[Container, list[str]], release_a: Build
) -> None:
    container, _ = image
    assert healthy_version(container) == release_a.version
    made = container.unit_property(FIRST_BOOT, "ExecMainExitTimestampMonotonic")
    started = container.unit_property("picohub.service", "ExecMainStartTimestampMonotonic")
    assert 0 < int(made) <= int(started), (made, started)
    mode = container.run(["stat", "--format=%a %U", PASSWORD]).stdout.split()
    assert mode == ["600", "root"]

    log_in(container, "http://127.0.0.1:8080")  # the app, before nginx is there


def test_later_boots_keep_the_password(image: tuple[Container, list[str]]) -> None:
    container, _ = image
    first = container.run(["picohub", "admin-password", "show"]).stdout.strip()
    container.run(["systemctl", "start", FIRST_BOOT])
    assert container.unit_property(FIRST_BOOT, "ConditionResult") == "no"
    assert container.run(["picohub", "admin-password", "show"]).stdout.strip() == first
