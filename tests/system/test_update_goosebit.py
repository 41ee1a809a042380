"""A hub managed by goosebit, a real hawkBit DDI server (PyPI ``goosebit``, not picohub's
fake): picohub-hawkbit.service on a booted system polls goosebit (run on the host, in the
container's network namespace, its database made outside), takes release B's signed
offline bundle out of the ``.swu`` goosebit insists on, installs it through the updater's
transaction, is restarted by the upgrade it started, and reports the result; goosebit
then shows the device finished, with release B as its software version."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub_release.build import Build
from tests.conftest import need
from tests.goosebit import Goosebit, installed, write_swu
from tests.system.container import Container, wait_for
from tests.system.journeys import apt_install, healthy_version, history
from tests.system.test_update_hawkbit import SERVICE, _bundle

# The DDI client is the same Python on every distribution, and test_update_hawkbit.py
# runs the hub's side (agent, handoff, restart) on both: one real server's journey on
# bookworm keeps make test within its time.
ON_DISTRIBUTIONS = ("bookworm",)

TOKEN = secrets.token_hex(16)  # goosebit takes up to 32 characters


@pytest.fixture(scope="module")
def goosebit(container: Container, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Goosebit]:
    """goosebit listening on the container's 127.0.0.1; the test drives its REST API
    from a thread in the same network, as an operator would."""
    need(installed(), "needs goosebit, from packaging/dev/requirements.txt (run bootstrap)")
    assert container.leader is not None
    folder = tmp_path_factory.mktemp("goosebit")
    with Goosebit(folder, netns_leader=container.leader) as server:
        yield server


@pytest.fixture(scope="module")
def managed(container: Container, release_a: Build, goosebit: Goosebit) -> str:
    """A hub on release A that follows goosebit, a device there with its token; returns
    its controller id."""
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    machine_id = container.run(["cat", "/etc/machine-id"]).stdout.strip()
    controller = f"picohub-{machine_id[:16]}"
    goosebit.add_device(controller, TOKEN)  # strict device auth: known before it polls
    container.sh(
        f"umask 077 && printf '%s\\n' {TOKEN} > /etc/picohub/hawkbit.token && "
        f"printf '[fleet]\\nfleet = hawkbit\\nhawkbit_url = {goosebit.url}\\n'"
        " > /etc/picohub/update.conf"
    )
    container.run(["systemctl", "restart", SERVICE])
    wait_for(
        lambda: goosebit.device(controller)["sw_version"] == release_a.version,
        timeout=60,
        what="the hub to send its attributes to goosebit",
    )
    return controller


def _explain(container: Container, goosebit: Goosebit, managed: str) -> str:
    """What the hub's journal, goosebit's record and its log say, for a failure."""
    journal = container.run(
        ["journalctl", "--no-pager", "-n", "80", "-u", SERVICE, "-u", "picohub-update*"],
        check=False,
    ).stdout
    return (
        f"goosebit shows {goosebit.device(managed)}\n"
        f"its device log:\n{goosebit.device_log(managed)}\n"
        f"the hub's journal:\n{journal}\ngoosebit's log:\n{goosebit.log_tail()}"
    )


def test_the_hub_registers_with_its_version(
    container: Container, goosebit: Goosebit, managed: str, release_a: Build
) -> None:
    shown = goosebit.device(managed)
    assert shown["last_state"] == "Registered"
    assert shown["sw_version"] == release_a.version
    assert shown["polling"] is True
    mode = container.run(["stat", "-c", "%a %U", "/etc/picohub/hawkbit.token"]).stdout.split()
    assert mode == ["600", "root"]


def test_an_assigned_swu_is_installed_and_shown_finished(
    container: Container,
    goosebit: Goosebit,
    managed: str,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    name = f"picohub-{release_b.version}.bundle.tar"
    bundle = _bundle(release_b, tmp_path_factory, name)
    folder: Path = tmp_path_factory.mktemp("swu")
    swu = write_swu(folder / f"picohub-{release_b.version}.swu", release_b.version, name, bundle)
    software = goosebit.upload(swu)
    goosebit.assign(managed, software)

    try:
        wait_for(
            lambda: goosebit.device(managed)["last_state"] in ("Finished", "Error"),
            timeout=420,
            what="goosebit to hear how the update ended",
        )
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n{_explain(container, goosebit, managed)}", pytrace=False)
    shown = goosebit.device(managed)
    log = goosebit.device_log(managed)
    assert shown["last_state"] == "Finished", log
    assert shown["progress"] == 100
    assert healthy_version(container) == release_b.version
    entry = history(container)[-1]
    assert (entry["origin"], entry["kind"], entry["result"], entry["to_release"]) == (
        "fleet",
        "bundle",
        "done",
        release_b.version,
    )
    assert "downloading 1 artifact(s)" in log
    # The upgrade restarted the agent that started it; the new one reported the version.
    wait_for(
        lambda: goosebit.device(managed)["sw_version"] == release_b.version,
        timeout=60,
        what="goosebit to show release B as the hub's version",
    )
    assert goosebit.device(managed)["last_state"] == "Finished"
    # The action is closed: no state of it, nothing of it left in the cache.
    for path in ("/var/lib/picohub-update/hawkbit.json",):
        assert container.run(["test", "-e", path], check=False).returncode == 1
    leftovers = container.sh("find /var/cache -path '*/hawkbit/*' -type f").stdout
    assert leftovers.strip() == ""
