"""Firmware rolled out board by board on a booted hub: reference boards (tests.picoboard,
the pico-examples OTA flow over a model of the RP2350 boot ROM's A/B partitions) take the
signed image from nginx, a canary first and the rest once it has run bought for a while;
an image that fails its self-test on the canary is reverted there and offered to no other
board; a board resumes a cut download and refuses what it cannot verify."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from picohub.firmware.uf2 import board
from picohub_release.build import Build
from picohub_release.firmware_key import PUBLIC_NAME, local_firmware_key
from tests.picoboard import keys
from tests.picoboard.bootrom import BootRom
from tests.picoboard.client import Board
from tests.picoboard.netns import ContainerNetwork
from tests.system.container import Container
from tests.system.journeys import WEB, apt_install, healthy_version

OLD = "0.9.0"  # what every board runs before the hub offers anything newer
PARTITION = board("pico2_w").ota_partition_size or 0
HEALTHY_HEARTBEATS = 2
FIRMWARE = "/usr/share/picohub/firmware"


@pytest.fixture(scope="module")
def network(container: Container) -> Iterator[ContainerNetwork]:
    assert container.leader is not None
    pool = ContainerNetwork(container.leader)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def installed(container: Container, release_a: Build) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    # Read on each request: no restart.
    container.sh(
        f"printf '[rollout]\\nhealthy_heartbeats = {HEALTHY_HEARTBEATS}\\n'"
        " > /etc/picohub/firmware.conf"
    )
    return release_a


@pytest.fixture(scope="module")
def boards(installed: Build) -> dict[str, Board]:
    # The key release_a's manifest was signed with, as a board has it baked in.
    public = (local_firmware_key().path.parent / PUBLIC_NAME).read_bytes()
    return {
        name: Board(name, WEB, public, BootRom.running_version(OLD, PARTITION))
        for name in ("canary", "pico-2", "pico-3", "pico-4")
    }


def _listing(network: ContainerNetwork, boards: dict[str, Board]) -> dict[str, Any]:
    answer = network.call(lambda: requests.get(f"{WEB}/api/devices", timeout=10))
    assert answer.status_code == 200, answer.text
    listing: dict[str, Any] = answer.json()
    return listing


def test_a_good_image_goes_to_the_canary_first_then_to_the_rest(
    network: ContainerNetwork, boards: dict[str, Board], installed: Build
) -> None:
    canary = boards["canary"]
    # The canary's download breaks off three times on the way; it resumes each time.
    seeded = random.Random(19)  # noqa: S311 -- offsets, not secrets; the same each run
    canary.cuts = sorted(seeded.sample(range(1, 30_000), 3))
    assert network.call(canary.update).result == "bought"  # the first to ask
    assert canary.requests_made.count("/api/firmware/image") == 4
    offered = canary.rom.firmware_version
    assert offered == installed.version  # the test image's version is the package's

    for name in ("pico-2", "pico-3"):
        outcome = network.call(boards[name].update)
        assert (outcome.result, outcome.detail) == ("held", "waiting"), name
    rollout = _listing(network, boards)["rollout"]
    assert (rollout["state"], rollout["canaries"]) == ("canary", ["canary"])

    for _ in range(HEALTHY_HEARTBEATS):
        assert network.call(canary.heartbeat) == 200
    for name in ("pico-2", "pico-3", "pico-4"):
        assert network.call(boards[name].update).result == "bought", name
    listing = _listing(network, boards)
    assert listing["rollout"]["state"] == "rolling"
    states = {device["id"]: device["ota"]["state"] for device in listing["devices"]}
    assert set(states.values()) <= {"bought", "current"}, states
    assert {device["firmware_version"] for device in listing["devices"]} == {offered}


def test_a_board_refuses_a_manifest_signed_by_another_key_or_an_altered_image(
    container: Container, network: ContainerNetwork, boards: dict[str, Board], installed: Build
) -> None:
    stranger = Board(
        "pico-5", WEB, keys.public_pem(keys.new_key()), BootRom.running_version(OLD, PARTITION)
    )
    outcome = network.call(stranger.update)
    assert outcome.result == "failed" and "signature" in outcome.detail
    assert "/api/firmware/image" not in stranger.requests_made

    # The image on the hub's SD card no longer matches its signed manifest.
    image = f"{FIRMWARE}/firmware.uf2"
    container.sh(
        f"cp {image} /root/firmware.uf2 && printf 'X' | dd of={image} bs=1 seek=4096 conv=notrunc"
    )
    try:
        victim = Board(
            "pico-6", WEB, boards["canary"].public_key_pem, BootRom.running_version(OLD, PARTITION)
        )
        outcome = network.call(victim.update)
        assert outcome.result == "failed" and "SHA-256" in outcome.detail
        assert victim.rom.running == "a" and victim.rom.partitions["b"].payload == b""
    finally:
        container.sh(f"cp /root/firmware.uf2 {image}")
    devices = {device["id"]: device for device in _listing(network, boards)["devices"]}
    assert devices["pico-6"]["ota"]["state"] == "failed"
    assert (
        _listing(network, boards)["rollout"]["state"] == "rolling"
    )  # a failed download halts nothing


def test_an_image_that_fails_on_the_canary_is_reverted_there_and_offered_to_no_other_board(
    container: Container,
    network: ContainerNetwork,
    boards: dict[str, Board],
    installed: Build,
    release_b: Build,
) -> None:
    before = boards["canary"].rom.firmware_version
    deb = container.put(release_b.deb("picohub-firmware"), "/root/b")
    container.run(["apt-get", "install", "--yes", deb])  # a new image: a new rollout

    canary = boards["pico-3"]  # the first to ask this time
    canary.self_test = lambda version: version != release_b.version
    outcome = network.call(canary.update)
    assert (outcome.result, outcome.detail) == ("reverted", "self-test failed")
    assert canary.rom.firmware_version == before

    for name in ("canary", "pico-2", "pico-4"):
        outcome = network.call(boards[name].update)
        assert (outcome.result, outcome.detail) == ("held", "halted"), name
        assert boards[name].rom.firmware_version == before
    outcome = network.call(canary.update)
    assert outcome.result == "held" and outcome.detail in {"halted", "reverted"}

    rollout = _listing(network, boards)["rollout"]
    assert rollout["state"] == "halted"
    assert rollout["halted_by"] == "pico-3"
    assert "self-test failed" in rollout["halted_reason"]
