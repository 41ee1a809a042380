"""The reference board client against the app itself (no container): what a board
checks before it writes a byte, and how it comes back from a cut or a failed self-test.
The rollout across boards runs against a booted hub in tests/system/test_firmware_rollout.py."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from picohub.firmware.manifest import make_manifest, to_json
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import board
from picohub.settings import Settings
from picohub.web import create_app
from tests.picoboard import keys
from tests.picoboard.bootrom import BootRom
from tests.picoboard.client import Board
from tests.unit.conftest import fake_dpkg

PICO2_W = board("pico2_w")
PARTITION = PICO2_W.ota_partition_size or 0
OFFERED = "2.1.0"
RUNNING = "2.0.0"


@dataclass
class Hub:
    url: str
    firmware_dir: Path
    public_key: bytes
    image: bytes


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    firmware_dir = tmp_path / "firmware"
    firmware_dir.mkdir()
    image = generate_test_image(PICO2_W, OFFERED, size=64 * 1024)
    (firmware_dir / "firmware.uf2").write_bytes(image)
    manifest = to_json(
        make_manifest(
            image, PICO2_W, firmware_version=OFFERED, package_version="0.1.0", test_image=True
        )
    ).encode()
    (firmware_dir / "manifest.json").write_bytes(manifest)
    key = keys.new_key()
    (firmware_dir / "manifest.sig").write_bytes(keys.sign(key, manifest))
    state = tmp_path / "state"
    state.mkdir()
    settings = Settings(
        state_dir=state,
        cache_dir=tmp_path / "cache",
        firmware_dir=firmware_dir,
        dpkg_admin_dir=fake_dpkg(tmp_path / "dpkg", picohub="0.1.0"),
        firmware_rollout_config=tmp_path / "firmware.conf",
    )
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hub(
            f"http://127.0.0.1:{server.server_port}", firmware_dir, keys.public_pem(key), image
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _board(hub: Hub, name: str = "pico-1", **kwargs: object) -> Board:
    return Board(
        name, hub.url, hub.public_key, BootRom.running_version(RUNNING, PARTITION), **kwargs
    )


def _reported(hub: Hub, name: str) -> dict[str, object]:
    devices = requests.get(f"{hub.url}/api/devices", timeout=10).json()["devices"]
    return next(device for device in devices if device["id"] == name)


def test_a_board_takes_a_signed_image_tries_it_and_buys_it(hub: Hub) -> None:
    pico = _board(hub)
    outcome = pico.update()
    assert (outcome.result, outcome.detail) == ("bought", OFFERED)
    assert pico.rom.running == "b" and pico.rom.firmware_version == OFFERED
    assert pico.rom.partitions["a"].firmware_version == RUNNING  # the old image stays
    # The image's own bytes, without the E10 block, are what went to the partition.
    assert OFFERED.encode() in pico.rom.partitions["b"].payload
    seen = _reported(hub, "pico-1")
    assert (seen["firmware_version"], seen["slot"], seen["bought"]) == (OFFERED, "b", True)
    assert pico.update().result == "current"  # asked again: the manifest is unchanged


def test_a_download_cut_at_random_offsets_resumes_where_it_broke_off(hub: Hub) -> None:
    seeded = random.Random(19)  # noqa: S311 -- offsets, not secrets; the same each run
    offsets = sorted(seeded.sample(range(1, len(hub.image)), 3))
    pico = _board(hub, cuts=list(offsets))
    assert pico.update().result == "bought"
    assert pico.requests_made.count("/api/firmware/image") == 4  # the first try, three resumes


def test_a_manifest_signed_by_another_key_is_refused_and_nothing_is_written(hub: Hub) -> None:
    pico = _board(hub)
    pico.public_key_pem = keys.public_pem(keys.new_key())
    outcome = pico.update()
    assert outcome.result == "failed"
    assert "signature is not the release key's" in outcome.detail
    assert "/api/firmware/image" not in pico.requests_made
    assert pico.rom.running == "a" and pico.rom.partitions["b"].payload == b""


def test_an_image_whose_hash_differs_from_the_manifest_is_refused_and_reported(
    hub: Hub,
) -> None:
    altered = bytearray(hub.image)
    altered[4096] ^= 0x01  # in a payload, so every header is still valid
    (hub.firmware_dir / "firmware.uf2").write_bytes(bytes(altered))
    pico = _board(hub)
    outcome = pico.update()
    assert outcome.result == "failed"
    assert "SHA-256" in outcome.detail
    assert pico.rom.running == "a" and pico.rom.partitions["b"].payload == b""
    seen = _reported(hub, "pico-1")
    assert seen["firmware_version"] == RUNNING


def test_an_image_that_fails_its_self_test_is_reverted_by_the_boot_rom(hub: Hub) -> None:
    pico = _board(hub, self_test=lambda version: version != OFFERED)
    outcome = pico.update()
    assert (outcome.result, outcome.detail) == ("reverted", "self-test failed")
    assert pico.rom.running == "a" and pico.rom.firmware_version == RUNNING
    seen = _reported(hub, "pico-1")
    assert (seen["firmware_version"], seen["slot"], seen["bought"]) == (RUNNING, "a", True)
