from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from picohub.firmware.manifest import make_manifest, to_json
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import board
from picohub.settings import Settings
from picohub.web import create_app
from tests.unit.conftest import fake_dpkg


def _install_firmware(directory: Path, version: str = "2.0.0") -> bytes:
    """What picohub-firmware installs: the image and its manifest."""
    pico2_w = board("pico2_w")
    image = generate_test_image(pico2_w, version)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "firmware.uf2").write_bytes(image)
    manifest = make_manifest(
        image, pico2_w, firmware_version=version, package_version="0.1.0", test_image=True
    )
    (directory / "manifest.json").write_text(to_json(manifest))
    return image


def test_without_firmware_both_endpoints_answer_404_naming_the_package(
    client: FlaskClient,
) -> None:
    for path in ("/api/firmware/manifest", "/api/firmware/image"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.get_json()["error"] == "no_firmware"
        assert "picohub-firmware" in answer.get_json()["message"]


def test_the_manifest_is_served_as_installed(client: FlaskClient, settings: Settings) -> None:
    image = _install_firmware(settings.firmware_dir)
    manifest = client.get("/api/firmware/manifest").get_json()
    assert manifest["sha256"] == hashlib.sha256(image).hexdigest()
    assert manifest["size"] == len(image)
    assert manifest["firmware_version"] == "2.0.0"
    assert (manifest["binary_version"], manifest["tbyb"], manifest["revertible"]) == (
        "2.0",
        True,
        True,
    )
    assert manifest["ota_problems"] == []
    assert manifest["payload_first_address"] == 0x10000000


def test_the_manifest_is_served_byte_for_byte_as_the_signature_covers_it(
    client: FlaskClient, settings: Settings
) -> None:
    _install_firmware(settings.firmware_dir)
    fields = json.loads(settings.firmware_manifest.read_text())
    # Unusual spacing, key order and line ends: re-serialising would change every byte.
    odd = json.dumps(dict(reversed(fields.items())), indent=7, separators=(" ,", " :  "))
    raw = odd.replace("\n", "\r\n") + "  \n\n"
    settings.firmware_manifest.write_bytes(raw.encode())
    answer = client.get("/api/firmware/manifest")
    assert answer.status_code == 200
    assert answer.data == raw.encode()
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["ETag"] == f'"{hashlib.sha256(raw.encode()).hexdigest()}"'
    assert answer.get_json() == fields


def test_a_manifest_the_strict_check_refuses_is_not_served_verbatim(
    client: FlaskClient, settings: Settings
) -> None:
    _install_firmware(settings.firmware_dir)
    fields = json.loads(settings.firmware_manifest.read_text())
    settings.firmware_manifest.write_text(json.dumps(fields | {"extra": 1}))
    answer = client.get("/api/firmware/manifest")
    assert answer.status_code == 500 and "unknown extra" in answer.get_json()["message"]
    settings.firmware_manifest.write_bytes(b'{"board": "\xff"}')
    answer = client.get("/api/firmware/manifest")
    assert answer.status_code == 500 and "not UTF-8" in answer.get_json()["message"]


def test_the_manifest_answers_if_none_match_with_304(
    client: FlaskClient, settings: Settings
) -> None:
    _install_firmware(settings.firmware_dir, "2.0.0")
    etag = client.get("/api/firmware/manifest").headers["ETag"]
    for asked in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        unchanged = client.get("/api/firmware/manifest", headers={"If-None-Match": asked})
        assert unchanged.status_code == 304, asked
        assert unchanged.data == b"" and unchanged.headers["ETag"] == etag
    _install_firmware(settings.firmware_dir, "2.1.0")
    changed = client.get("/api/firmware/manifest", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.headers["Cache-Control"] == "no-cache"


def test_the_signature_is_served_verbatim_or_said_missing(
    client: FlaskClient, settings: Settings
) -> None:
    assert client.get("/api/firmware/manifest.sig").get_json()["error"] == "no_firmware"
    _install_firmware(settings.firmware_dir)
    missing = client.get("/api/firmware/manifest.sig")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "no_signature"
    assert "built without a signing key" in missing.get_json()["message"]
    signature = bytes(range(256))[:72]  # DER: any bytes, none of them text
    (settings.firmware_dir / "manifest.sig").write_bytes(signature)
    answer = client.get("/api/firmware/manifest.sig")
    assert answer.status_code == 200 and answer.data == signature
    assert answer.headers["Content-Type"] == "application/octet-stream"
    etag = answer.headers["ETag"]
    assert etag == f'"{hashlib.sha256(signature).hexdigest()}"'
    again = client.get("/api/firmware/manifest.sig", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_the_image_has_length_etag_and_ranges(client: FlaskClient, settings: Settings) -> None:
    image = _install_firmware(settings.firmware_dir)
    digest = hashlib.sha256(image).hexdigest()
    whole = client.get("/api/firmware/image")
    assert whole.status_code == 200
    assert whole.data == image
    assert whole.headers["Content-Length"] == str(len(image))
    assert whole.headers["ETag"] == f'"{digest}"'
    assert whole.headers["Accept-Ranges"] == "bytes"

    tail = client.get("/api/firmware/image", headers={"Range": "bytes=1000-"})
    assert tail.status_code == 206
    assert tail.data == image[1000:]
    assert tail.headers["Content-Range"] == f"bytes 1000-{len(image) - 1}/{len(image)}"
    unchanged = client.get("/api/firmware/image", headers={"If-None-Match": f'"{digest}"'})
    assert unchanged.status_code == 304


@pytest.mark.parametrize("asked", ["bytes=BEYOND-", "bytes=-0", "bytes = - 000"])
def test_a_range_that_selects_nothing_is_416_with_the_size(
    client: FlaskClient, settings: Settings, asked: str
) -> None:
    image = _install_firmware(settings.firmware_dir)
    answer = client.get(
        "/api/firmware/image", headers={"Range": asked.replace("BEYOND", str(len(image) + 5))}
    )
    assert answer.status_code == 416
    # How a client learns the size it may ask for (RFC 9110, 15.5.17).
    assert answer.headers["Content-Range"] == f"bytes */{len(image)}"
    assert answer.get_json()["error"] == "requested_range_not_satisfiable"


def test_an_empty_range_under_a_stale_if_range_gets_the_whole_image(
    client: FlaskClient, settings: Settings
) -> None:
    image = _install_firmware(settings.firmware_dir)
    answer = client.get(
        "/api/firmware/image", headers={"Range": "bytes=-0", "If-Range": '"an-older-image"'}
    )
    assert answer.status_code == 200
    assert answer.data == image


# Through nginx's Unix socket a request has no peer address.
FROM_NGINX = {"REMOTE_ADDR": ""}


def test_through_nginx_the_app_judges_the_request_and_nginx_sends_the_bytes(
    client: FlaskClient, settings: Settings
) -> None:
    image = _install_firmware(settings.firmware_dir)
    etag = f'"{hashlib.sha256(image).hexdigest()}"'
    for headers in ({}, {"Range": "bytes=1000-"}, {"Range": "bytes=0-1", "If-Range": '"old"'}):
        answer = client.get("/api/firmware/image", headers=headers, environ_base=FROM_NGINX)
        assert answer.status_code == 200, headers
        assert answer.data == b""
        assert answer.headers["X-Accel-Redirect"] == "/_picohub/firmware/firmware.uf2"
        assert answer.headers["ETag"] == etag  # nginx judges If-Range by it
        assert "Content-Range" not in answer.headers
    # What the app refuses or answers from its headers alone never reaches the file.
    unchanged = client.get(
        "/api/firmware/image", headers={"If-None-Match": etag}, environ_base=FROM_NGINX
    )
    assert unchanged.status_code == 304 and "X-Accel-Redirect" not in unchanged.headers
    nothing = client.get(
        "/api/firmware/image", headers={"Range": "bytes=-0"}, environ_base=FROM_NGINX
    )
    assert nothing.status_code == 416 and "X-Accel-Redirect" not in nothing.headers
    # On the loopback port, where no nginx reads the header, the app sends the bytes.
    assert client.get("/api/firmware/image").data == image


def test_a_method_not_allowed_names_the_allowed_ones(client: FlaskClient) -> None:
    answer = client.post("/api/firmware/image")
    assert answer.status_code == 405
    assert "GET" in answer.headers["Allow"]
    assert answer.get_json()["error"] == "method_not_allowed"


def test_a_new_firmware_package_is_served_without_restarting_the_app(
    client: FlaskClient, settings: Settings
) -> None:
    _install_firmware(settings.firmware_dir, "2.0.0")
    assert client.get("/api/firmware/manifest").get_json()["firmware_version"] == "2.0.0"
    _install_firmware(settings.firmware_dir, "2.1.0")
    assert client.get("/api/firmware/manifest").get_json()["firmware_version"] == "2.1.0"


def test_a_broken_manifest_is_a_server_error_that_says_so(
    client: FlaskClient, settings: Settings
) -> None:
    settings.firmware_dir.mkdir(parents=True)
    settings.firmware_manifest.write_text('{"board": "pico2_w"}')
    answer = client.get("/api/firmware/manifest")
    assert answer.status_code == 500
    assert answer.get_json()["error"] == "bad_manifest"
    # The device list still works and just cannot tell who is behind.
    assert client.get("/api/devices").status_code == 200


def test_devices_are_marked_behind_by_debian_version_order(
    client: FlaskClient, settings: Settings
) -> None:
    _install_firmware(settings.firmware_dir, "1.10.0")
    for device, version in (("old", "1.9.0"), ("same", "1.10.0"), ("newer", "1.11.0")):
        client.post(f"/api/devices/{device}/heartbeat", json={"firmware_version": version})
    listing = client.get("/api/devices").get_json()
    assert listing["offered_firmware"] == "1.10.0"
    behind = {d["id"]: d["behind"] for d in listing["devices"]}
    assert behind == {"old": True, "same": False, "newer": False}


def test_nothing_is_behind_when_no_firmware_is_offered(client: FlaskClient) -> None:
    client.post("/api/devices/p/heartbeat", json={"firmware_version": "1.0"})
    listing = client.get("/api/devices").get_json()
    assert listing["offered_firmware"] is None
    assert listing["devices"][0]["behind"] is None


def test_system_lists_the_installed_version_of_each_release_package(
    settings: Settings, tmp_path: Path
) -> None:
    dpkg = fake_dpkg(tmp_path / "dpkg2", picohub="0.3.0", **{"picohub-web": "0.3.0"})
    app: Flask = create_app(
        Settings(state_dir=settings.state_dir, dpkg_admin_dir=dpkg, firmware_dir=tmp_path)
    )
    body = app.test_client().get("/api/system").get_json()
    assert body["running"] == "0.3.0"
    assert body["packages"] == {
        "picohub": "0.3.0",
        "picohub-web": "0.3.0",
        "picohub-firmware": None,
        "picohub-archive-keyring": None,
    }
