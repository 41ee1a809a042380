"""The firmware image given to a package build is validated by the real build: a bad
one fails dpkg-buildpackage, a good one is packaged with its own version, and the
manifest's signature beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from debian.debfile import DebFile

from picohub.errors import PicohubError
from picohub.firmware.manifest import from_json
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import BLOCK_SIZE, board
from picohub.process import run
from picohub_release.build import build_debs
from picohub_release.firmware_key import local_firmware_key
from tests.conftest import SOURCE, need_tools

GOOD = generate_test_image(board("pico2_w"), "3.1.4")


@pytest.mark.parametrize(
    ("kind", "content", "complaint"),
    [
        ("truncated", GOOD[: len(GOOD) - 100], "not a multiple of 512"),
        ("padded", GOOD + bytes(BLOCK_SIZE), "trailing data"),
        ("wrong-family", generate_test_image(board("pico_w"), "3.1.4"), "0xe48bff56"),
        ("not-uf2", b"<html>firmware</html>\n" * 100, "not a UF2 file"),
    ],
)
def test_a_bad_image_fails_the_package_build(
    kind: str, content: bytes, complaint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tools("dpkg-buildpackage", "git")
    image = tmp_path / f"{kind}.uf2"
    image.write_bytes(content)
    monkeypatch.setenv("PICOHUB_FIRMWARE_UF2", str(image))
    monkeypatch.setenv("PICOHUB_FIRMWARE_VERSION", "3.1.4")
    with pytest.raises(PicohubError, match="dpkg-buildpackage failed") as info:
        build_debs(SOURCE, tmp_path / "dist", tmp_path / "work")
    log = (tmp_path / "work" / "build.log").read_text()
    assert complaint in log
    assert complaint in info.value.message  # the refusal itself, not only the log
    assert not list((tmp_path / "dist").glob("*.deb"))


def test_a_given_image_is_packaged_with_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tools("dpkg-buildpackage", "git")
    image = tmp_path / "real.uf2"
    image.write_bytes(GOOD)
    monkeypatch.setenv("PICOHUB_FIRMWARE_UF2", str(image))
    monkeypatch.setenv("PICOHUB_FIRMWARE_VERSION", "3.1.4")
    build = build_debs(SOURCE, tmp_path / "dist", tmp_path / "work")
    package = DebFile(str(build.deb("picohub-firmware")))
    manifest = from_json(
        package.data.get_content("usr/share/picohub/firmware/manifest.json", encoding="utf-8")
    )
    assert (manifest.firmware_version, manifest.test_image) == ("3.1.4", False)
    assert (manifest.revertible, manifest.tbyb, manifest.binary_version) == (True, True, "3.1")
    assert package.data.get_content("usr/share/picohub/firmware/firmware.uf2") == GOOD
    assert "NOT BOOTABLE" not in (tmp_path / "work" / "build.log").read_text()
    assert "UNSIGNED" not in (tmp_path / "work" / "build.log").read_text()
    # Signed with the local throwaway key, as `make debs` signs it.
    listing = run(["dpkg-deb", "-c", build.deb("picohub-firmware")]).stdout
    assert "./usr/share/picohub/firmware/manifest.sig" in listing
    _check_signature(package, local_firmware_key().path, tmp_path / "check")


def _check_signature(package: DebFile, key: Path, scratch: Path) -> None:
    """manifest.sig verifies over manifest.json's bytes as packaged, by cryptography and
    by openssl, with the public half of ``key``; one flipped byte fails both."""
    need_tools("openssl")
    message = package.data.get_content("usr/share/picohub/firmware/manifest.json")
    signature = package.data.get_content("usr/share/picohub/firmware/manifest.sig")
    assert message is not None and signature is not None
    scratch.mkdir()
    public_pem = scratch / "public.pem"
    run(["openssl", "pkey", "-in", key, "-pubout", "-out", public_pem])
    public = serialization.load_pem_public_key(public_pem.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises if it does not
    (scratch / "manifest.sig").write_bytes(signature)
    flipped = bytearray(message)
    flipped[-2] ^= 0x01
    for body, verdict in ((message, 0), (bytes(flipped), 1)):
        (scratch / "manifest.json").write_bytes(body)
        argv = ["openssl", "dgst", "-sha256", "-verify", str(public_pem), "-signature"]
        argv += [str(scratch / "manifest.sig"), str(scratch / "manifest.json")]
        assert run(argv, check=False).returncode == verdict


def test_without_an_image_the_build_says_loudly_it_packaged_a_test_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    need_tools("dpkg-buildpackage", "git")
    monkeypatch.delenv("PICOHUB_FIRMWARE_UF2", raising=False)
    with caplog.at_level("WARNING", logger="picohub_release"):
        build_debs(SOURCE, tmp_path / "dist", tmp_path / "work")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("NOT BOOTABLE" in message for message in warnings), warnings


def test_an_image_refused_for_ota_says_why_on_the_console_of_the_build(tmp_path: Path) -> None:
    """As `make debs` runs it: the firmware step's error and hint reach the console."""
    need_tools("dpkg-buildpackage", "git")
    image = tmp_path / "no-tbyb.uf2"
    image.write_bytes(generate_test_image(board("pico2_w"), "3.1.4", tbyb=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICOHUB_FIRMWARE_")}
    env |= {"PICOHUB_FIRMWARE_UF2": str(image), "PICOHUB_FIRMWARE_VERSION": "3.1.4"}
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE / "src"), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "picohub_release", "build"]
    argv += ["--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "work")]
    done = subprocess.run(
        argv, cwd=SOURCE, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert done.returncode != 0
    assert "dpkg-buildpackage failed" in done.stderr
    assert "cannot be updated over the air safely" in done.stderr
    assert "no TBYB (try before you buy) flag" in done.stderr
    assert "PICO_CRT0_IMAGE_TYPE_TBYB=1" in done.stderr
    assert "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE=1" in done.stderr
    assert str(tmp_path / "work" / "build.log") in done.stderr


def test_the_explicit_setting_packages_an_image_without_tbyb_as_not_revertible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tools("dpkg-buildpackage", "git")
    image = tmp_path / "no-tbyb.uf2"
    image.write_bytes(generate_test_image(board("pico2_w"), "3.1.4", tbyb=False))
    monkeypatch.setenv("PICOHUB_FIRMWARE_UF2", str(image))
    monkeypatch.setenv("PICOHUB_FIRMWARE_VERSION", "3.1.4")
    monkeypatch.setenv("PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE", "1")
    build = build_debs(SOURCE, tmp_path / "dist", tmp_path / "work")
    package = DebFile(str(build.deb("picohub-firmware")))
    manifest = from_json(
        package.data.get_content("usr/share/picohub/firmware/manifest.json", encoding="utf-8")
    )
    assert (manifest.revertible, manifest.tbyb, manifest.binary_version) == (False, False, "3.1")
