"""A hub managed by a hawkBit server: picohub-hawkbit.service on a booted system polls a
hawkBit-shaped server (tests.fakehawkbit, serving DDI in the container's own network),
installs the signed offline bundle it is assigned through the updater's transaction, is
restarted by the upgrade it started, and reports the result; a bundle signed by another
key is refused and reported as a failure naming why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from picohub.update.bundle import write_bundle
from picohub_release.build import Build
from picohub_release.repository import KEYRING, write_repository
from tests.fakehawkbit.records import Action
from tests.fakehawkbit.server import FakeHawkbit
from tests.integration.repo_fixtures import make_signer, stop_agents
from tests.picoboard.netns import ContainerNetwork
from tests.system.conftest import _repository
from tests.system.container import Container, wait_for
from tests.system.journeys import WEB, apt_install, healthy_version, history, log_in

SERVICE = "picohub-hawkbit.service"


@pytest.fixture(scope="module")
def hawkbit(container: Container) -> Iterator[FakeHawkbit]:
    """The server, listening on the container's 127.0.0.1 (its threads entered its
    network); the test drives it directly, as an operator would through its API."""
    assert container.leader is not None
    network = ContainerNetwork(container.leader, threads=1)
    server = network.call(lambda: FakeHawkbit(sleep="00:00:01").start())
    yield server
    network.call(server.stop)
    network.close()


@pytest.fixture(scope="module")
def managed(container: Container, release_a: Build, hawkbit: FakeHawkbit) -> str:
    """A hub on release A that follows the server; returns its controller id."""
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    machine_id = container.run(["cat", "/etc/machine-id"]).stdout.strip()
    controller = f"picohub-{machine_id[:16]}"
    target = hawkbit.add_target(controller)
    container.sh(
        f"umask 077 && printf '%s\\n' {target.token} > /etc/picohub/hawkbit.token && "
        f"printf '[fleet]\\nfleet = hawkbit\\nhawkbit_url = {hawkbit.url}\\n'"
        " > /etc/picohub/update.conf"
    )
    container.run(["systemctl", "restart", SERVICE])
    wait_for(
        lambda: any(sender == controller for sender, _ in hawkbit.config_data),
        timeout=60,
        what="the hub to send its attributes",
    )
    return controller


def _bundle(build: Build, factory: pytest.TempPathFactory, name: str) -> bytes:
    repository = _repository(build, factory)
    target = factory.mktemp("bundle") / name
    write_bundle(repository.directory, repository.directory / KEYRING, target)
    return target.read_bytes()


def _deploy(hawkbit: FakeHawkbit, controller: str, version: str, bundle: bytes) -> Action:
    module = hawkbit.add_module("picohub", version)
    hawkbit.add_artifact(module.id, f"picohub-{version}.bundle.tar", bundle)
    distribution_set = hawkbit.add_set("picohub", version, [module.id])
    return hawkbit.assign(controller, distribution_set.id, "forced")


def _closed(hawkbit: FakeHawkbit, action: Action) -> Action:
    wait_for(lambda: not action.is_open, timeout=300, what=f"action {action.id} to be closed")
    return action


def test_the_hub_registers_with_its_versions(
    container: Container, hawkbit: FakeHawkbit, managed: str, release_a: Build
) -> None:
    attributes = hawkbit.targets[managed].attributes
    assert attributes["picohub"] == release_a.version
    architecture = container.run(["dpkg", "--print-architecture"]).stdout.strip()
    assert attributes["architecture"] == architecture
    codename = container.sh(". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()
    assert attributes["debian_release"] == codename


def test_the_agent_cannot_plant_or_alter_a_rollback_copy(
    container: Container, managed: str
) -> None:
    """The network-facing agent writes in the cache and the update state, but the copies
    root installs on the strength of their pins alone are read-only to it."""
    agent = container.unit_property(SERVICE, "MainPID")
    assert agent != "0"
    inside = ["nsenter", f"--target={agent}", "--mount", "--"]
    for folder in ("/var/cache/picohub/copies", "/var/lib/picohub-update/copies"):
        planted = container.run([*inside, "touch", f"{folder}/0.9.9"], check=False)
        assert planted.returncode != 0 and "Read-only file system" in planted.stderr, planted
    allowed = container.run([*inside, "touch", "/var/cache/picohub/agent-was-here"])
    assert allowed.returncode == 0
    container.run(["rm", "/var/cache/picohub/agent-was-here"])


def test_a_bundle_signed_by_another_key_is_refused_and_reported_as_a_failure(
    container: Container,
    hawkbit: FakeHawkbit,
    managed: str,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stranger = make_signer(tmp_path_factory.mktemp("stranger") / "gnupg")
    try:
        repository = write_repository(
            release_b.debs,
            tmp_path_factory.mktemp("stranger-repo") / "repo",
            stranger,
            version=release_b.version,
        )
        target = tmp_path_factory.mktemp("stranger-bundle") / "b.tar"
        write_bundle(repository.directory, repository.directory / KEYRING, target)
    finally:
        stop_agents()
    action = _closed(hawkbit, _deploy(hawkbit, managed, release_b.version, target.read_bytes()))
    assert action.status == "error"
    closing = hawkbit.feedback_of(managed)[-1]
    assert (closing.execution, closing.finished) == ("closed", "failure")
    said = " ".join(closing.details)
    assert "key" in said, said  # names why: not the release key this hub trusts
    assert healthy_version(container) == release_a.version


def test_an_assigned_release_is_installed_and_reported_as_a_success(
    container: Container,
    hawkbit: FakeHawkbit,
    managed: str,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    bundle = _bundle(release_b, tmp_path_factory, "b.tar")
    action = _closed(hawkbit, _deploy(hawkbit, managed, release_b.version, bundle))
    assert action.status == "finished"
    assert healthy_version(container) == release_b.version
    executions = [(f.execution, f.finished) for f in hawkbit.feedback_of(managed)]
    assert ("proceeding", "none") in executions and executions[-1] == ("closed", "success")
    entry = history(container)[-1]
    assert (entry["origin"], entry["kind"], entry["result"], entry["to_release"]) == (
        "fleet",
        "bundle",
        "done",
        release_b.version,
    )
    assert (
        container.run(
            ["test", "-e", "/var/lib/picohub-update/hawkbit.json"], check=False
        ).returncode
        == 1
    )
    # The upgrade restarted the agent that started it; the new one reported.
    assert hawkbit.targets[managed].attributes["picohub"] == release_b.version


def test_the_page_names_the_server_and_a_bundle_installed_by_hand_is_reported(
    container: Container,
    hawkbit: FakeHawkbit,
    managed: str,
    release_c: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    status, system = container.http("GET", f"{WEB}/api/system")
    assert status == 200
    assert system["update"]["automatic"]["fleet"]["server"] == hawkbit.url
    session = log_in(container)
    status, said = container.http("POST", f"{WEB}/api/system/update", {}, session.headers())
    assert (status, said["error"]) == (409, "managed_by_fleet")

    bundle = tmp_path_factory.mktemp("usb") / "c.tar"
    bundle.write_bytes(_bundle(release_c, tmp_path_factory, "c.tar"))
    inside = container.put(bundle, "/root/usb")
    container.run(["picohub-update", "apply", "--wait", "--bundle", inside], timeout=600)
    assert healthy_version(container) == release_c.version
    wait_for(
        lambda: hawkbit.targets[managed].attributes.get("picohub") == release_c.version,
        timeout=60,
        what="the server to learn of the release installed by hand",
    )
