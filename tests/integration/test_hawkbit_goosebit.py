"""picohub's DDI client against goosebit, a hawkBit DDI server it did not write.

goosebit (PyPI ``goosebit``, in packaging/dev/requirements.txt) runs on a loopback port in
a temporary folder (:mod:`tests.goosebit`). The hub is a goosebit device with a token
(``TargetToken``, goosebit's strict mode); its attributes are those picohub reports
(:func:`~picohub.update.hawkbit_poll.device_attributes` over a fake dpkg database). The
release is picohub's bundle inside the ``.swu`` goosebit insists on, assigned to the hub
through goosebit's REST API, whose device list then shows what the hub reported.

Two differences from hawkBit the client meets: goosebit gives each artifact only a SHA-1
(``"hashes": {"sha1": ...}``), which the client checks when there is no SHA-256, and it
takes a device's software version only from the config data key ``sw_version``, which
the hub sends (the ``picohub`` package's version). The install callback here gets the
``.swu`` as downloaded; a hub's own (:class:`~picohub.update.hawkbit_install.Handoff`)
takes the bundle out of it (:mod:`picohub.update.swu`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub.update.hawkbit import DdiClient, HawkbitError, Server, read_token
from picohub.update.hawkbit_model import Deployment, Finished
from picohub.update.hawkbit_poll import Device, Plan, Step, device_attributes
from tests.conftest import need
from tests.goosebit import Goosebit, installed, read_swu, write_swu
from tests.unit.conftest import fake_dpkg

BUNDLE = bytes(range(256)) * 4096  # 1 MiB, the release's offline bundle stands in
BUNDLE_NAME = "picohub-1.5.0.bundle.tar"
OLD, NEW = "1.4.2", "1.5.0"

# goosebit 0.2.12 sends, for the artifact of a deployment:
#   {"filename": "picohub-1.5.0.swu", "hashes": {"sha1": "6e15a475..."}, "size": 1049208,
#    "_links": {"download": {"href": "http://127.0.0.1:PORT/DEFAULT/controller/v1/hub-1/download"}}}


@pytest.fixture
def goosebit(tmp_path: Path) -> Iterator[Goosebit]:
    need(installed(), "needs goosebit, from packaging/dev/requirements.txt (run bootstrap)")
    with Goosebit(tmp_path / "goosebit") as server:
        yield server


class Installs:
    """The install callback: records the members of the ``.swu`` it was given; fails
    when told to."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, bytes]]] = []
        self.fail = fail

    def __call__(self, deployment: Deployment, paths: Sequence[Path]) -> str:
        self.calls.extend((deployment.action_id, read_swu(path.read_bytes())) for path in paths)
        if self.fail is not None:
            raise PicohubError(self.fail, hint="the previous release was installed again")
        return f"installed picohub {NEW}"


class Hub:
    """A hub as a goosebit device: its dpkg database (what it reports) and its client."""

    def __init__(
        self, server: Goosebit, tmp_path: Path, controller_id: str, install: Installs
    ) -> None:
        self.dpkg = tmp_path / "dpkg"
        self.os_release = tmp_path / "os-release"
        self.os_release.write_text("VERSION_CODENAME=bookworm\n")
        self.set_version(OLD)
        token = secrets.token_hex(16)
        server.add_device(controller_id, token)
        token_file = tmp_path / f"{controller_id}.token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        client = DdiClient(Server(server.url, server.tenant, controller_id), read_token(token_file))
        self.device = Device(
            client,
            cache_dir=tmp_path / "cache",
            attributes=lambda: device_attributes(self.dpkg, self.os_release),
            install=install,
        )

    def set_version(self, version: str) -> None:
        """The hub's picohub packages at ``version``, as after an install of it."""
        fake_dpkg(self.dpkg, picohub=version, **{"picohub-web": version})


def release(server: Goosebit, tmp_path: Path, bundle: bytes = BUNDLE) -> int:
    """The release as goosebit software: the bundle in a ``.swu`` of version NEW."""
    swu = write_swu(tmp_path / f"picohub-{NEW}.swu", NEW, BUNDLE_NAME, bundle)
    return server.upload(swu)


def test_the_hub_registers_with_its_token_and_sends_its_attributes(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    hub = Hub(goosebit, tmp_path, "hub-1", Installs())
    assert goosebit.device("hub-1")["last_state"] == "Unknown"
    outcome = hub.device.poll_once()
    assert outcome.steps == (Step.CONFIG_DATA,)  # goosebit asks a new device for them
    assert 10 <= outcome.delay <= 11  # and to come back in 10 s (picohub's least)
    shown = goosebit.device("hub-1")
    assert shown["last_state"] == "Registered"
    assert shown["last_ip"] == "127.0.0.1"
    assert shown["polling"] is True

    outcome = hub.device.poll_once()
    assert outcome.steps == ()
    assert 27 <= outcome.delay <= 33  # goosebit's poll_time, 30 s, jittered by 10 %


def test_goosebit_refuses_a_wrong_token_and_an_unknown_hub(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    Hub(goosebit, tmp_path, "hub-1", Installs())
    for controller_id in ("hub-1", "hub-2"):  # a wrong token; a device goosebit lacks
        client = DdiClient(Server(goosebit.url, goosebit.tenant, controller_id), "0" * 32)
        with pytest.raises(HawkbitError, match="does not accept this hub as target"):
            client.poll()


def test_an_assigned_release_is_downloaded_installed_and_shown_finished(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    installs = Installs()
    hub = Hub(goosebit, tmp_path, "hub-1", installs)
    hub.device.poll_once()
    software = release(goosebit, tmp_path)
    goosebit.assign("hub-1", software)

    outcome = hub.device.poll_once()
    assert outcome.steps == (Step.DEPLOYMENT,)
    assert outcome.decision is not None and outcome.decision.plan is Plan.INSTALL
    assert outcome.closed is Finished.SUCCESS
    [(action, members)] = installs.calls
    assert action == str(software)  # goosebit's action id is the software's id
    assert list(members) == ["sw-description", BUNDLE_NAME]
    assert members[BUNDLE_NAME] == BUNDLE

    shown = goosebit.device("hub-1")
    assert shown["last_state"] == "Finished"
    assert shown["progress"] == 100
    assert shown["sw_version"] == NEW
    log = goosebit.device_log("hub-1")
    assert "downloading 1 artifact(s)" in log
    assert f"installed picohub {NEW}" in log
    assert hub.device.poll_once().steps == ()  # not offered again


def test_a_failed_install_is_shown_as_an_error(goosebit: Goosebit, tmp_path: Path) -> None:
    installs = Installs(fail="the new release did not come up")
    hub = Hub(goosebit, tmp_path, "hub-1", installs)
    hub.device.poll_once()
    goosebit.assign("hub-1", release(goosebit, tmp_path))

    assert hub.device.poll_once().closed is Finished.FAILURE
    assert len(installs.calls) == 1
    shown = goosebit.device("hub-1")
    assert shown["last_state"] == "Error"
    assert shown["sw_version"] != NEW
    log = goosebit.device_log("hub-1")
    assert "the new release did not come up" in log
    assert "hint: the previous release was installed again" in log
    assert hub.device.poll_once().steps == ()  # goosebit offers nothing to a device in error


def test_bytes_that_do_not_match_goosebits_hash_are_refused_and_reported(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    installs = Installs()
    hub = Hub(goosebit, tmp_path, "hub-1", installs)
    hub.device.poll_once()
    software = release(goosebit, tmp_path)
    stored = goosebit.stored_artifact(software)
    data = bytearray(stored.read_bytes())
    data[-100] ^= 0xFF  # inside the bundle: same size, other bytes
    stored.write_bytes(bytes(data))
    goosebit.assign("hub-1", software)

    assert hub.device.poll_once().closed is Finished.FAILURE
    assert installs.calls == []
    assert goosebit.device("hub-1")["last_state"] == "Error"
    assert "does not match" in goosebit.device_log("hub-1")
    assert not list((tmp_path / "cache").rglob("*.swu*"))  # the bad bytes are gone


def test_the_installed_release_is_not_offered_again_after_the_hub_reports_it(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    installs = Installs()
    hub = Hub(goosebit, tmp_path, "hub-1", installs)
    hub.device.poll_once()
    goosebit.assign("hub-1", release(goosebit, tmp_path))
    assert hub.device.poll_once().closed is Finished.SUCCESS
    hub.set_version(NEW)  # what the install did to dpkg's database

    assert hub.device.poll_once().steps == (Step.CONFIG_DATA,)  # the new versions
    assert goosebit.device("hub-1")["sw_version"] == NEW
    assert hub.device.poll_once().steps == ()
    assert len(installs.calls) == 1


class Restarted(Exception):
    """The upgrade restarted the agent while the install it handed over ran on."""


def test_an_install_handed_over_before_a_restart_is_reported_by_the_next_agent(
    goosebit: Goosebit, tmp_path: Path
) -> None:
    """The upgrade restarts picohub-hawkbit.service; the new agent's first config data
    carry the new sw_version, after which goosebit no longer offers the deployment: the
    result is reported first, without waiting for an offer that does not come."""
    handed: list[str] = []

    def hand_over(deployment: Deployment, paths: Sequence[Path]) -> str:
        handed.append(deployment.action_id)
        hub.set_version(NEW)  # dpkg has the new release when the agent is stopped
        raise Restarted

    hub = Hub(goosebit, tmp_path, "hub-1", Installs())
    hub.device.install = hand_over
    hub.device.poll_once()
    software = release(goosebit, tmp_path)
    goosebit.assign("hub-1", software)
    with pytest.raises(Restarted):
        hub.device.poll_once()
    assert handed == [str(software)]
    assert goosebit.device("hub-1")["last_state"] == "Running"

    results: list[str] = []

    def result(action: str) -> str:
        results.append(action)
        return f"installed picohub {NEW}"

    agent = Device(  # the next start: its memory is empty, the handoff's state file is not
        hub.device.client,
        cache_dir=tmp_path / "cache",
        attributes=hub.device.attributes,
        install=Installs(fail="installed twice"),
        pending=lambda: handed[0] if not results else None,
        result=result,
    )
    outcome = agent.poll_once()
    assert outcome.closed is Finished.SUCCESS
    assert outcome.steps == (Step.CONFIG_DATA,)  # the new version, after the report
    assert results == [str(software)]
    shown = goosebit.device("hub-1")
    assert (shown["last_state"], shown["progress"], shown["sw_version"]) == ("Finished", 100, NEW)
    assert f"installed picohub {NEW}" in goosebit.device_log("hub-1")
    assert agent.poll_once().steps == ()
