"""The harness: containers booted side by side (make test's lanes do) are apart. Each
container's systemd manages a cgroup tree of its own, so units of the same name in two
containers (picohub.service, picohub-update.service) never meet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.container import Container, booted
from tests.system.rootfs import ensure_root

# A test of the harness, not a journey: one pair is enough.
ON_DISTRIBUTIONS = ("bookworm",)


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A trixie beside the module's bookworm, as make test's lanes run them."""
    with booted(ensure_root("trixie"), tmp_path_factory.mktemp("second")) as machine:
        yield machine


def test_a_unit_ends_in_one_container_while_its_namesake_runs_in_the_other(
    container: Container, second: Container
) -> None:
    container.run(["systemd-run", "--unit=side-by-side", "--collect", "sleep", "600"])
    survivor = container.unit_property("side-by-side.service", "MainPID")

    # The main process leaves a child behind, which systemd kills as the unit ends, then
    # waits for the unit's cgroup to be empty. Had the containers shared that cgroup, the
    # other's sleep would keep it from ever being empty: a stop timeout, and exit code 1.
    ended = second.run(
        [
            "systemd-run", "--unit=side-by-side", "--collect", "--wait",
            "--property=TimeoutStopSec=10", "sh", "-c", "sleep 600 & exit 0",
        ],
        check=False,
    )  # fmt: skip
    assert ended.returncode == 0, ended.stderr
    assert "Finished with result: success" in ended.stderr

    state = container.run(["cat", f"/proc/{survivor}/stat"], check=False)
    assert state.returncode == 0 and state.stdout.split()[2] == "S", state
    assert container.unit_property("side-by-side.service", "ActiveState") == "active"
    container.run(["systemctl", "stop", "side-by-side.service"])


def test_each_container_runs_in_a_cgroup_named_after_it(
    container: Container, second: Container
) -> None:
    for machine in (container, second):
        assert f"/{machine.name}/payload/" in Path(f"/proc/{machine.leader}/cgroup").read_text()
