"""The firmware manifest, and the build step that packages an image with it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from picohub.errors import ExitCode, UsageError
from picohub.firmware.manifest import (
    Manifest,
    ManifestError,
    from_json,
    make_manifest,
    to_json,
)
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import BOARDS, Uf2Error
from picohub_release.firmware import main

PICO2_W = BOARDS["pico2_w"]
IMAGE = generate_test_image(PICO2_W, "2.0.1", size=1024)


@pytest.fixture(autouse=True)
def _no_firmware_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PICOHUB_FIRMWARE_UF2",
        "PICOHUB_FIRMWARE_BOARD",
        "PICOHUB_FIRMWARE_VERSION",
        "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE",
        "PICOHUB_FIRMWARE_SIGNING_KEY",
        "PICOHUB_FIRMWARE_SIGNATURES",
    ):
        monkeypatch.delenv(name, raising=False)


def manifest() -> Manifest:
    return make_manifest(
        IMAGE, PICO2_W, firmware_version="2.0.1", package_version="0.1.0-1", test_image=True
    )


def test_the_manifest_describes_the_image() -> None:
    made = manifest()
    assert made == Manifest(
        firmware_version="2.0.1",
        board="pico2_w",
        family_id="0xe48bff59",
        image="firmware.uf2",
        size=len(IMAGE),
        sha256=hashlib.sha256(IMAGE).hexdigest(),
        package_version="0.1.0-1",
        test_image=True,
        image_type="exe",
        cpu="arm",
        binary_version="2.0",
        tbyb=True,
        hashed=False,
        signed=False,
        payload_first_address=0x10000000,
        payload_last_address=0x100003FF,
        payload_bytes=1024,
        e10_block=True,
        revertible=True,
        ota_problems=(),
    )
    assert made.size == 5 * 512


def test_a_manifest_from_before_imagedef_reads_as_not_revertible() -> None:
    raw = json.loads(to_json(manifest()))
    old = {name: raw[name] for name in ("firmware_version", "board", "family_id", "image")}
    old |= {name: raw[name] for name in ("size", "sha256", "package_version", "test_image")}
    read = from_json(json.dumps(old))
    assert (read.revertible, read.tbyb, read.binary_version, read.payload_bytes) == (
        False,
        False,
        None,
        None,
    )


def test_the_ota_problems_round_trip_as_a_list() -> None:
    made = make_manifest(
        IMAGE, PICO2_W, firmware_version="3.0", package_version="1", test_image=False
    )
    assert not made.revertible
    assert json.loads(to_json(made))["ota_problems"] == list(made.ota_problems)
    assert from_json(to_json(made)) == made


def test_json_round_trip() -> None:
    made = manifest()
    assert from_json(to_json(made)) == made


def test_json_is_deterministic_and_sorted() -> None:
    text = to_json(manifest())
    assert text == to_json(manifest())
    assert text.endswith("}\n")
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert '\n  "board": "pico2_w",\n' in text


def test_a_bad_image_gets_no_manifest() -> None:
    with pytest.raises(Uf2Error, match="not a multiple of 512"):
        make_manifest(
            IMAGE[:-1], PICO2_W, firmware_version="1", package_version="1", test_image=False
        )


@pytest.mark.parametrize("version", ["", "-1", "1.0 beta", "1/2", "a" * 33, "1:2", "é"])
def test_bad_firmware_versions_are_refused(version: str) -> None:
    with pytest.raises(UsageError, match="firmware version"):
        make_manifest(
            IMAGE, PICO2_W, firmware_version=version, package_version="1", test_image=False
        )


@pytest.mark.parametrize("version", ["1", "2.0.1", "1.0~rc1", "1.0+git.5-x", "a" * 32])
def test_good_firmware_versions_are_taken(version: str) -> None:
    made = make_manifest(
        IMAGE, PICO2_W, firmware_version=version, package_version="1", test_image=False
    )
    assert made.firmware_version == version


def test_an_unknown_field_is_refused() -> None:
    raw = json.loads(to_json(manifest()))
    raw["signature"] = "x"
    with pytest.raises(ManifestError, match="unknown signature"):
        from_json(json.dumps(raw))


def test_a_missing_field_is_refused() -> None:
    raw = json.loads(to_json(manifest()))
    del raw["sha256"]
    with pytest.raises(ManifestError, match="missing sha256"):
        from_json(json.dumps(raw))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", "2560", "'size' is a string, expected an integer"),
        ("size", True, "'size' is a boolean, expected an integer"),
        ("test_image", 1, "'test_image' is an integer, expected a boolean"),
        ("board", None, "'board' is null, expected a string"),
        ("size", 1000, "size 1000"),
        ("sha256", "ABC", "sha256"),
        ("family_id", "0xe48bff56", "does not match board pico2_w"),
        ("board", "pico3", "unknown board"),
        ("image", "../firmware.uf2", "image"),
        ("firmware_version", "1 2", "firmware_version"),
        ("binary_version", 2, "'binary_version' is an integer, expected a string or null"),
        ("binary_version", "two", "bad binary_version"),
        ("ota_problems", "none", "'ota_problems' is a string, expected a list"),
        ("ota_problems", [1], "not a list of strings"),
        ("payload_bytes", None, "payload span given in part only"),
        ("payload_bytes", 100, "impossible payload span"),
        ("tbyb", False, "revertible, but without TBYB"),
    ],
)
def test_wrong_values_are_refused(field: str, value: object, message: str) -> None:
    raw = json.loads(to_json(manifest()))
    raw[field] = value
    with pytest.raises(ManifestError, match=message):
        from_json(json.dumps(raw))


@pytest.mark.parametrize("text", ["", "[]", "{", '"manifest"'])
def test_non_objects_are_refused(text: str) -> None:
    with pytest.raises(ManifestError, match="firmware manifest is"):
        from_json(text)


def test_the_build_step_packages_a_test_image_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["--package-version", "0.1.0-1", "--out", str(out)]) == ExitCode.OK
    assert sorted(path.name for path in out.iterdir()) == ["firmware.uf2", "manifest.json"]
    data = (out / "firmware.uf2").read_bytes()
    written = from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert written.test_image
    assert (written.firmware_version, written.board) == ("0.1.0-1", "pico2_w")
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert data == generate_test_image(PICO2_W, "0.1.0-1")
    assert (out / "firmware.uf2").stat().st_mode & 0o777 == 0o644
    captured = capsys.readouterr()
    assert "NOT BOOTABLE" in captured.err
    assert "PICOHUB_FIRMWARE_UF2=/path/to/firmware.uf2" in captured.err
    assert "the firmware manifest is UNSIGNED" in captured.err  # no signing key either
    assert written.sha256 in captured.out


def test_the_build_step_refuses_a_bad_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.uf2"
    bad.write_bytes(IMAGE[:1000])
    out = tmp_path / "out"
    out.mkdir()
    argv = ["--uf2", str(bad), "--firmware-version", "1.0", "--package-version", "1", "--out"]
    assert main([*argv, str(out)]) == 2
    assert list(out.iterdir()) == []
    err = capsys.readouterr().err
    assert "error: file size 1000 is not a multiple of 512" in err
    assert "hint: " in err


def test_the_build_step_packages_a_given_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "given.uf2"
    given.write_bytes(IMAGE)
    out = tmp_path / "out"
    argv = ["--uf2", str(given), "--firmware-version", "2.0.1", "--package-version", "1"]
    assert main([*argv, "--out", str(out)]) == ExitCode.OK
    assert (out / "firmware.uf2").read_bytes() == IMAGE
    written = from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert (written.test_image, written.firmware_version) == (False, "2.0.1")
    assert "WARNING" not in capsys.readouterr().err


def test_the_build_step_takes_its_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "given.uf2"
    given.write_bytes(generate_test_image(BOARDS["pico_w"], "3.0", size=512))
    monkeypatch.setenv("PICOHUB_FIRMWARE_UF2", str(given))
    monkeypatch.setenv("PICOHUB_FIRMWARE_BOARD", "pico_w")
    monkeypatch.setenv("PICOHUB_FIRMWARE_VERSION", "3.0")
    monkeypatch.setenv("PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE", "1")
    out = tmp_path / "out"
    assert main(["--package-version", "1", "--out", str(out)]) == ExitCode.OK
    written = from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert (written.board, written.family_id, written.test_image) == ("pico_w", "0xe48bff56", False)
    assert not written.revertible


def _given(tmp_path: Path, data: bytes, version: str, *extra: str) -> tuple[int, Path]:
    given = tmp_path / "given.uf2"
    given.write_bytes(data)
    out = tmp_path / "out"
    argv = ["--uf2", str(given), "--firmware-version", version, "--package-version", "1"]
    return main([*argv, *extra, "--out", str(out)]), out


def test_the_build_step_refuses_an_image_it_cannot_revert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = generate_test_image(PICO2_W, "2.0.1", size=1024, tbyb=False, binary_version=None)
    code, out = _given(tmp_path, data, "2.0.1")
    assert code == ExitCode.USAGE
    assert not out.exists()
    err = capsys.readouterr().err
    assert "error: firmware image " in err
    assert "cannot be updated over the air safely" in err
    assert "no TBYB (try before you buy) flag" in err
    assert "no VERSION item (binary_version)" in err
    assert "hint: build the firmware with target_compile_definitions(<target> PRIVATE " in err
    assert "PICO_CRT0_IMAGE_TYPE_TBYB=1" in err
    assert "pico_set_binary_version(<target> MAJOR <major> MINOR <minor>)" in err
    assert "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE=1" in err


def test_the_build_step_refuses_a_version_that_disagrees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _given(tmp_path, IMAGE, "2.1.0")
    assert code == ExitCode.USAGE
    assert "its binary_version is 2.0, but the firmware version 2.1.0 says 2.1" in (
        capsys.readouterr().err
    )


def test_the_explicit_setting_packages_it_as_not_revertible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = generate_test_image(PICO2_W, "2.0.1", size=1024, tbyb=False)
    code, out = _given(tmp_path, data, "2.0.1", "--allow-not-revertible")
    assert code == ExitCode.OK
    written = from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert (written.revertible, written.tbyb, written.binary_version) == (False, False, "2.0")
    assert "no TBYB" in written.ota_problems[0]
    captured = capsys.readouterr()
    assert "warning: packaged as not revertible" in captured.err
    assert "NOT revertible" in captured.out


def test_a_generated_test_image_is_packaged_whatever_its_version(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["--firmware-version", "nightly", "--package-version", "1", "--out", str(out)]
    assert main(argv) == ExitCode.OK
    written = from_json((out / "manifest.json").read_text(encoding="utf-8"))
    assert written.test_image
    assert (written.revertible, written.binary_version) == (False, None)


def test_the_build_step_needs_a_version_for_a_given_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "given.uf2"
    given.write_bytes(IMAGE)
    argv = ["--uf2", str(given), "--package-version", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == ExitCode.USAGE
    assert "--firmware-version" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_build_step_reports_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--uf2", str(tmp_path / "nope.uf2"), "--firmware-version", "1"]
    assert main([*argv, "--package-version", "1", "--out", str(tmp_path)]) == ExitCode.USAGE
    assert "error: cannot read firmware image" in capsys.readouterr().err


def test_the_build_step_refuses_an_unknown_board(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--board", "pico3", "--package-version", "1", "--out", str(tmp_path)]
    assert main(argv) == ExitCode.USAGE
    assert "hint: known boards: pico2_w, pico_w" in capsys.readouterr().err
