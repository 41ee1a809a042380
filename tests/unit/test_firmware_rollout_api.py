"""A firmware image rolls out board by board: boards ask for the manifest naming
themselves, report in heartbeats, and the devices listing shows where each one is."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from picohub import admin
from picohub.firmware.manifest import make_manifest, to_json
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import board
from picohub.settings import Settings
from picohub.web import create_app
from tests.unit.conftest import log_in

OLD = "1.0.0"
MANIFEST = "/api/firmware/manifest"


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    here = replace(
        settings,
        firmware_rollout_config=tmp_path / "etc" / "firmware.conf",
        admin_password_file=tmp_path / "etc" / "password",
    )
    admin.init(here, (os.getuid(), os.getgid()))
    return here


@pytest.fixture
def client(hub: Settings) -> FlaskClient:
    return create_app(hub).test_client()


def install(hub: Settings, version: str) -> str:
    """What picohub-firmware installs; the image's SHA-256."""
    pico2_w = board("pico2_w")
    image = generate_test_image(pico2_w, version)
    hub.firmware_dir.mkdir(parents=True, exist_ok=True)
    (hub.firmware_dir / "firmware.uf2").write_bytes(image)
    manifest = make_manifest(
        image, pico2_w, firmware_version=version, package_version="0.1.0", test_image=True
    )
    hub.firmware_manifest.write_text(to_json(manifest))
    return manifest.sha256


def configure(hub: Settings, text: str) -> None:
    hub.firmware_rollout_config.parent.mkdir(exist_ok=True)
    hub.firmware_rollout_config.write_text(text)


def beat(client: FlaskClient, device: str, version: str = OLD, **fields: Any) -> None:
    body = {"firmware_version": version, **fields}
    answer = client.post(f"/api/devices/{device}/heartbeat", json=body)
    assert answer.status_code == 200, answer.get_json()


def ask(client: FlaskClient, device: str) -> tuple[int, str | None]:
    """A board asks for the manifest: the status and X-Picohub-Rollout."""
    answer = client.get(MANIFEST, query_string={"device": device})
    if answer.status_code == 200:
        assert answer.get_json()["firmware_version"]
    if answer.status_code == 204:
        assert answer.data == b""
    return answer.status_code, answer.headers.get("X-Picohub-Rollout")


def listing(client: FlaskClient) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    body = client.get("/api/devices").get_json()
    return body["rollout"], {device["id"]: device for device in body["devices"]}


def test_the_first_board_that_asks_is_the_canary_and_the_others_wait(
    client: FlaskClient, hub: Settings
) -> None:
    sha = install(hub, "2.0.0")
    rollout = listing(client)[0]  # before any board's request starts it
    assert (rollout["sha256"], rollout["state"], rollout["canaries"]) == (sha, "canary", [])
    assert rollout["started"] is False and rollout["healthy_heartbeats"] == 3
    for device in ("pico-1", "pico-2"):
        beat(client, device)
    devices = listing(client)[1]
    assert devices["pico-1"]["offered_version"] is None  # not until it asks

    assert ask(client, "pico-1") == (200, None)
    assert ask(client, "pico-2") == (204, "waiting")
    assert ask(client, "pico-1") == (200, None)  # still the canary
    assert ask(client, "pico-new") == (204, "waiting")  # no heartbeat yet: unknown
    assert client.get(MANIFEST).status_code == 200  # without an id, as before

    rollout, devices = listing(client)
    assert rollout == {
        "sha256": sha,
        "firmware_version": "2.0.0",
        "state": "canary",
        "started": True,
        "canaries": ["pico-1"],
        "halted_by": None,
        "halted_reason": None,
        "healthy_heartbeats": 3,
        "error": None,
    }
    assert devices["pico-1"]["ota"]["state"] == "pending"
    assert devices["pico-1"]["ota"]["sha256"] == sha
    assert devices["pico-1"]["offered_version"] == "2.0.0"
    assert devices["pico-2"]["ota"]["state"] == "waiting"
    assert devices["pico-2"]["offered_version"] is None


def test_a_bad_device_id_is_refused(client: FlaskClient, hub: Settings) -> None:
    install(hub, "2.0.0")
    answer = client.get(MANIFEST, query_string={"device": "pico 1"})
    assert answer.status_code == 400
    assert "device id 'pico 1' is not valid" in answer.get_json()["message"]


def test_the_canary_bought_for_enough_heartbeats_lets_everyone_have_it(
    client: FlaskClient, hub: Settings
) -> None:
    configure(hub, "[rollout]\nhealthy_heartbeats = 2\n")
    install(hub, "2.0.0")
    beat(client, "pico-1")
    beat(client, "pico-2")
    assert ask(client, "pico-1") == (200, None)
    beat(client, "pico-1", ota={"sha256": install(hub, "2.0.0"), "result": "downloading"})
    assert listing(client)[1]["pico-1"]["ota"]["state"] == "downloading"
    beat(client, "pico-1", "2.0.0", slot="b", boot_type="flash_update", bought=False)
    assert listing(client)[1]["pico-1"]["ota"]["state"] == "trying"
    beat(client, "pico-1", "2.0.0", slot="b", bought=True)
    beat(client, "pico-1", "2.0.0", slot="b", bought=False)  # not in a row
    beat(client, "pico-1", "2.0.0", slot="b", bought=True)
    assert ask(client, "pico-2") == (204, "waiting")
    beat(client, "pico-1", "2.0.0", slot="b", bought=True)
    assert ask(client, "pico-2") == (200, None)

    rollout, devices = listing(client)
    assert rollout["state"] == "rolling" and rollout["canaries"] == ["pico-1"]
    assert devices["pico-1"]["ota"]["state"] == "current"
    assert (devices["pico-1"]["slot"], devices["pico-1"]["bought"]) == ("b", True)
    assert devices["pico-2"]["ota"]["state"] == "pending"
    assert devices["pico-2"]["offered_version"] == "2.0.0"
    beat(client, "pico-3")
    assert ask(client, "pico-3") == (200, None)


def test_a_canary_that_reverts_halts_the_rollout_for_everyone(
    client: FlaskClient, hub: Settings
) -> None:
    sha = install(hub, "2.0.0")
    for device in ("pico-1", "pico-2"):
        beat(client, device)
    assert ask(client, "pico-1") == (200, None)
    ota = {"sha256": sha, "result": "reverted", "reason": "watchdog reset while on trial"}
    beat(client, "pico-1", slot="a", boot_type="normal", bought=True, ota=ota)
    assert ask(client, "pico-2") == (204, "halted")
    assert ask(client, "pico-1") == (204, "reverted")
    beat(client, "pico-3", "2.0.0", bought=True)
    assert ask(client, "pico-3") == (200, None)  # it runs it already

    rollout, devices = listing(client)
    assert rollout["state"] == "halted"
    assert rollout["halted_by"] == "pico-1"
    assert rollout["halted_reason"] == "watchdog reset while on trial"
    assert devices["pico-1"]["ota"] == {
        "state": "reverted",
        "sha256": sha,
        "reason": "watchdog reset while on trial",
        "reported": ota,
    }
    assert devices["pico-1"]["boot_type"] == "normal"
    assert devices["pico-2"]["offered_version"] is None


def test_a_failed_download_is_recorded_without_halting(client: FlaskClient, hub: Settings) -> None:
    sha = install(hub, "2.0.0")
    beat(client, "pico-1")
    beat(client, "pico-2")
    assert ask(client, "pico-1") == (200, None)
    beat(client, "pico-1", ota={"sha256": sha, "result": "failed", "reason": "sha256 mismatch"})
    rollout, devices = listing(client)
    assert rollout["state"] == "canary"
    assert devices["pico-1"]["ota"]["state"] == "failed"
    assert devices["pico-1"]["ota"]["reason"] == "sha256 mismatch"
    assert ask(client, "pico-1") == (200, None)  # it may try again


def test_a_board_that_reverted_never_gets_that_image_again(
    client: FlaskClient, hub: Settings
) -> None:
    first = install(hub, "2.0.0")
    for device in ("pico-1", "pico-2", "pico-3"):
        beat(client, device)
    assert ask(client, "pico-1") == (200, None)
    reverted = {"sha256": first, "result": "reverted"}
    beat(client, "pico-1", ota=reverted)
    assert listing(client)[0]["state"] == "halted"

    second = install(hub, "2.1.0")  # another image: a new rollout
    assert ask(client, "pico-1") == (200, None)  # picked as its canary
    rollout = listing(client)[0]
    assert (rollout["sha256"], rollout["state"], rollout["canaries"]) == (
        second,
        "canary",
        ["pico-1"],
    )
    # pico-3 reverts from the first image late, while the second is offered.
    beat(client, "pico-3", ota=reverted)
    assert listing(client)[0]["state"] == "canary"

    assert install(hub, "2.0.0") == first  # the first image installed again
    beat(client, "pico-1", ota=reverted)  # still says so: halts nothing now
    assert ask(client, "pico-1") == (204, "reverted")
    assert ask(client, "pico-3") == (204, "reverted")
    assert ask(client, "pico-2") == (200, None)  # the new rollout's canary
    rollout, devices = listing(client)
    assert (rollout["state"], rollout["canaries"], rollout["halted_by"]) == (
        "canary",
        ["pico-2"],
        None,
    )
    assert devices["pico-1"]["ota"]["state"] == "reverted"
    assert devices["pico-1"]["offered_version"] is None


def test_configured_canaries_are_offered_first(client: FlaskClient, hub: Settings) -> None:
    configure(hub, "[rollout]\ncanaries = pico-2 pico-3\nhealthy_heartbeats = 1\n")
    install(hub, "2.0.0")
    for device in ("pico-1", "pico-2", "pico-3"):
        beat(client, device)
    assert ask(client, "pico-1") == (204, "waiting")
    assert ask(client, "pico-2") == (200, None)
    assert listing(client)[0]["canaries"] == ["pico-2", "pico-3"]
    beat(client, "pico-2", "2.0.0", bought=True)
    assert ask(client, "pico-1") == (204, "waiting")  # pico-3 has not run it yet
    beat(client, "pico-3", "2.0.0", bought=True)
    assert ask(client, "pico-1") == (200, None)
    assert listing(client)[0]["state"] == "rolling"


def test_a_changed_canary_list_applies_to_the_running_rollout(
    client: FlaskClient, hub: Settings
) -> None:
    install(hub, "2.0.0")
    beat(client, "pico-1")
    beat(client, "pico-2")
    assert ask(client, "pico-1") == (200, None)
    configure(hub, "[rollout]\ncanaries = pico-2\n")
    assert ask(client, "pico-1") == (204, "waiting")
    assert listing(client)[0]["canaries"] == ["pico-2"]


def test_a_malformed_config_fails_the_boards_manifest_but_not_the_listing(
    client: FlaskClient, hub: Settings
) -> None:
    install(hub, "2.0.0")
    beat(client, "pico-1")
    configure(hub, "[rollout]\nhealthy_heartbeats = many\n")
    answer = client.get(MANIFEST, query_string={"device": "pico-1"})
    assert answer.status_code == 500
    body = answer.get_json()
    assert body["error"] == "bad_rollout_config"
    assert "healthy_heartbeats = 'many'" in body["message"]
    assert "a whole number from 1 to 100" in body["message"]
    assert str(hub.firmware_rollout_config) in body["message"]
    assert client.get(MANIFEST).status_code == 200  # people and tools still read it
    beat(client, "pico-1", "2.0.0", bought=True)  # heartbeats are still stored

    rollout, devices = listing(client)
    assert "healthy_heartbeats = 'many'" in rollout["error"]
    assert rollout["healthy_heartbeats"] is None
    assert devices["pico-1"]["firmware_version"] == "2.0.0"


def test_removing_a_board_forgets_its_rollout_state_and_its_canary_place(
    client: FlaskClient, hub: Settings
) -> None:
    install(hub, "2.0.0")
    beat(client, "pico-1")
    beat(client, "pico-2")
    assert ask(client, "pico-1") == (200, None)
    beat(client, "pico-1", "2.0.0", bought=False)
    token = log_in(client, hub)
    assert client.delete("/api/devices/pico-1", headers=token).status_code == 200
    rollout, devices = listing(client)
    assert rollout["canaries"] == [] and set(devices) == {"pico-2"}
    assert ask(client, "pico-2") == (200, None)  # the next board to ask
    assert listing(client)[0]["canaries"] == ["pico-2"]
    beat(client, "pico-1")  # back, as a new board
    assert listing(client)[1]["pico-1"]["ota"]["state"] == "waiting"


def test_without_firmware_there_is_no_rollout(client: FlaskClient) -> None:
    beat(client, "pico-1", slot="a", boot_type="bootsel", bought=True)
    body = client.get("/api/devices").get_json()
    assert body["rollout"] is None
    device = body["devices"][0]
    assert (device["ota"], device["offered_version"]) == (None, None)
    assert (device["slot"], device["boot_type"], device["bought"]) == ("a", "bootsel", True)
    assert client.get(MANIFEST, query_string={"device": "pico-1"}).status_code == 404


def test_a_board_polling_with_the_manifests_etag_gets_304_when_offered(
    client: FlaskClient, hub: Settings
) -> None:
    install(hub, "2.0.0")
    beat(client, "pico-1")
    beat(client, "pico-2")
    first = client.get(MANIFEST, query_string={"device": "pico-1"})
    etag = {"If-None-Match": first.headers["ETag"]}
    again = client.get(MANIFEST, query_string={"device": "pico-1"}, headers=etag)
    assert again.status_code == 304
    held = client.get(MANIFEST, query_string={"device": "pico-2"}, headers=etag)
    assert held.status_code == 204 and held.headers["X-Picohub-Rollout"] == "waiting"
