"""A hawkBit rollout in two groups with an error threshold: one real hub on a booted
system in group 1, with 20 simulated ones (21 in all). The release it is given never passes
its health check on the real hub, installed from release A's .debs: the hub rolls it back
to a copy of A repacked from its packages and reports a failure, the rollout pauses, and
group 2 never gets a deploymentBase."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from picohub.update.bundle import write_bundle
from picohub.update.hawkbit import DdiClient, Server
from picohub.update.hawkbit_model import Deployment
from picohub.update.hawkbit_poll import Device
from picohub_release.build import Build
from picohub_release.repository import KEYRING
from tests.conftest import build_release, next_version
from tests.fakehawkbit import Condition, FakeHawkbit
from tests.picoboard.netns import ContainerNetwork
from tests.system.conftest import _repository
from tests.system.container import Container, wait_for
from tests.system.journeys import apt_install, healthy_version, history, never_healthy

# The rollout is the server's; the hub's part (a failed install reported) runs on both
# distributions in test_update_hawkbit.py and test_update_rollback.py: bookworm alone
# keeps make test within its time.
ON_DISTRIBUTIONS = ("bookworm",)

SERVICE = "picohub-hawkbit.service"
SIMULATED = [f"sim-{index:02d}" for index in range(20)]  # and the real hub: 21 targets
HEALTH_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def network(container: Container) -> Iterator[ContainerNetwork]:
    assert container.leader is not None
    pool = ContainerNetwork(container.leader, threads=len(SIMULATED))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def hawkbit(network: ContainerNetwork) -> Iterator[FakeHawkbit]:
    server = network.call(lambda: FakeHawkbit(sleep="00:00:01").start())
    yield server
    network.call(server.stop)


@pytest.fixture(scope="module")
def unhealthy(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A later release whose /healthz never says it is healthy."""
    version = next_version(release_a.version, 7)
    return build_release(tmp_path_factory, "unhealthy", version, never_healthy)


def _bundle(build: Build, factory: pytest.TempPathFactory) -> bytes:
    repository = _repository(build, factory)
    target = factory.mktemp("bundle") / "bundle.tar"
    write_bundle(repository.directory, repository.directory / KEYRING, target)
    return target.read_bytes()


def _deployable(hawkbit: FakeHawkbit, build: Build, factory: pytest.TempPathFactory) -> int:
    """A distribution set holding ``build``'s signed bundle; its id."""
    module = hawkbit.add_module("picohub", build.version)
    hawkbit.add_artifact(module.id, f"picohub_{build.version}_bundle.tar", _bundle(build, factory))
    return hawkbit.add_set("picohub", build.version, [module.id]).id


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    hawkbit: FakeHawkbit,
) -> str:
    """A hub installed with apt from release A's .debs, following the server: its cache
    has no copy of A, so its first update from the server rolls back, if it must, to a
    copy repacked from its installed packages (docs/updater.md)."""
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    machine_id = container.run(["cat", "/etc/machine-id"]).stdout.strip()
    controller = f"picohub-{machine_id[:16]}"  # sorts before sim-*: group 1
    target = hawkbit.add_target(controller)
    container.sh(
        f"umask 077 && printf '%s\\n' {target.token} > /etc/picohub/hawkbit.token && "
        f"printf '[fleet]\\nfleet = hawkbit\\nhawkbit_url = {hawkbit.url}\\n"
        f"[update]\\nhealth_timeout = {HEALTH_TIMEOUT_S}\\n' > /etc/picohub/update.conf"
    )
    container.run(["systemctl", "restart", SERVICE])
    return controller


def _simulated(hawkbit: FakeHawkbit, tmp_path: Path, version: str) -> list[Device]:
    """Hubs that install whatever they are given (the real one is the test)."""

    def install(deployment: Deployment, paths: Sequence[Path]) -> str:
        return f"installed {version}"

    devices = []
    for name in SIMULATED:
        target = hawkbit.add_target(name)
        devices.append(
            Device(
                DdiClient(Server(hawkbit.url, hawkbit.tenant, name), target.token),
                cache_dir=tmp_path / name,
                attributes=lambda: {"picohub": "0.1.0"},
                install=install,
            )
        )
    return devices


def test_a_release_failing_on_the_real_hub_in_group_1_pauses_the_rollout(
    container: Container,
    network: ContainerNetwork,
    hawkbit: FakeHawkbit,
    hub: str,
    release_a: Build,
    unhealthy: Build,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    fleet = _simulated(hawkbit, tmp_path, unhealthy.version)
    rollout = hawkbit.create_rollout(
        "picohub broken",
        _deployable(hawkbit, unhealthy, tmp_path_factory),
        "controllerId==*",
        groups=[("canary", None, 50.0, None, None), ("everyone else", None, 100.0, None, None)],
        success=Condition("THRESHOLD", "100"),
        error=Condition("THRESHOLD", "0"),  # any failure pauses
        error_action="PAUSE",
    )
    first, second = (group.targets for group in rollout.groups)
    assert hub in first and len(first) == 11 and len(second) == 10  # half, rounded up
    hawkbit.start_rollout(rollout.id)

    def round_of_polls() -> bool:
        network.map(lambda device: device.poll_once(), fleet)
        return hawkbit.rollouts[rollout.id].status == "paused"

    wait_for(round_of_polls, timeout=300, interval=1, what="the rollout to pause")
    for _ in range(3):  # group 2 keeps polling: nothing for it
        network.map(lambda device: device.poll_once(), fleet)

    assert hawkbit.fetched_by(second) == []
    assert hawkbit.group_counts(rollout.id)[1]["offered"] == 0
    closing = hawkbit.feedback_of(hub)[-1]
    assert (closing.execution, closing.finished) == ("closed", "failure")
    assert "rolled back" in " ".join(closing.details)
    assert healthy_version(container) == release_a.version  # rolled back to its copy
    entry: dict[str, Any] = history(container)[-1]
    assert (entry["origin"], entry["result"]) == ("fleet", "rolled-back")
