"""The firmware manifest's signature: made at package build with openssl, checked here
with ``cryptography`` and with ``openssl dgst -verify`` as a board would check it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from picohub.errors import ExitCode, UsageError
from picohub.firmware.manifest import MANIFEST_NAME, SIGNATURE_NAME
from picohub.process import run
from picohub_release.__main__ import main as release_main
from picohub_release.firmware import main
from picohub_release.firmware_key import (
    FIRMWARE_KEY_VARIABLE,
    PRIVATE_NAME,
    PUBLIC_NAME,
    firmware_key_from_environment,
    local_firmware_key,
)
from picohub_release.firmware_signing import public_key, sign
from tests.conftest import need_tools

HOW_TO = "openssl ecparam -name prime256v1 -genkey -noout -out KEY"


@pytest.fixture(autouse=True)
def _no_firmware_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    need_tools("openssl")
    for name in (
        "PICOHUB_FIRMWARE_UF2",
        "PICOHUB_FIRMWARE_BOARD",
        "PICOHUB_FIRMWARE_VERSION",
        "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE",
        "PICOHUB_FIRMWARE_SIGNING_KEY",
        "PICOHUB_FIRMWARE_SIGNATURES",
        FIRMWARE_KEY_VARIABLE,
    ):
        monkeypatch.delenv(name, raising=False)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def p256(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "firmware-signing.pem"
    path.write_bytes(_pem(key))
    return path, key


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (public keys have no == in Debian's cryptography 38)."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _build(out: Path, *extra: str) -> int:
    return main(["--package-version", "0.1.0-1", "--out", str(out), *extra])


def _openssl_verifies(public_pem: bytes, message: bytes, signature: bytes, where: Path) -> bool:
    (where / "pub.pem").write_bytes(public_pem)
    (where / "message").write_bytes(message)
    (where / "sig").write_bytes(signature)
    argv: list[str | os.PathLike[str]] = ["openssl", "dgst", "-sha256", "-verify"]
    argv.append(where / "pub.pem")
    done = run([*argv, "-signature", where / "sig", where / "message"], check=False)
    return done.returncode == 0 and "Verified OK" in done.stdout


def _cryptography_verifies(
    key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes
) -> bool:
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def test_a_signed_build_signs_the_manifests_exact_bytes(
    tmp_path: Path,
    p256: tuple[Path, ec.EllipticCurvePrivateKey],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, key = p256
    out = tmp_path / "out"
    assert _build(out, "--signing-key", str(path)) == ExitCode.OK
    names = sorted(p.name for p in out.iterdir())
    assert names == ["firmware.uf2", MANIFEST_NAME, SIGNATURE_NAME]
    assert (out / SIGNATURE_NAME).stat().st_mode & 0o777 == 0o644
    message = (out / MANIFEST_NAME).read_bytes()
    signature = (out / SIGNATURE_NAME).read_bytes()
    assert signature[0] == 0x30  # a DER SEQUENCE (r, s), not a raw 64-byte r || s
    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    scratch = tmp_path / "verify"
    scratch.mkdir()
    assert _cryptography_verifies(public, message, signature)
    assert _openssl_verifies(public_pem, message, signature, scratch)
    # One flipped byte of manifest.json and neither accepts it.
    flipped = bytearray(message)
    flipped[len(flipped) // 2] ^= 0x01
    assert not _cryptography_verifies(public, bytes(flipped), signature)
    assert not _openssl_verifies(public_pem, bytes(flipped), signature, scratch)
    captured = capsys.readouterr()
    assert "UNSIGNED" not in captured.err
    assert f"{out / SIGNATURE_NAME} (ECDSA P-256, SHA-256)" in captured.out


def test_the_key_comes_from_the_environment_too(
    tmp_path: Path,
    p256: tuple[Path, ec.EllipticCurvePrivateKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, key = p256
    monkeypatch.setenv("PICOHUB_FIRMWARE_SIGNING_KEY", str(path))
    out = tmp_path / "out"
    assert _build(out) == ExitCode.OK
    message = (out / MANIFEST_NAME).read_bytes()
    assert _cryptography_verifies(key.public_key(), message, (out / SIGNATURE_NAME).read_bytes())


def test_without_a_key_the_build_warns_and_packages_no_signature(
    tmp_path: Path,
    p256: tuple[Path, ec.EllipticCurvePrivateKey],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    assert _build(out, "--signing-key", str(p256[0])) == ExitCode.OK
    capsys.readouterr()
    assert _build(out) == ExitCode.OK  # again, unsigned: the old signature must go
    assert sorted(p.name for p in out.iterdir()) == ["firmware.uf2", MANIFEST_NAME]
    captured = capsys.readouterr()
    assert "warning: the firmware manifest is UNSIGNED" in captured.err
    assert "PICOHUB_FIRMWARE_SIGNING_KEY is unset" in captured.err
    assert "boards that check signatures will refuse" in captured.err
    assert "signature NONE, unsigned" in captured.out


def _rsa() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _p384() -> bytes:
    return _pem(ec.generate_private_key(ec.SECP384R1()))


@pytest.mark.parametrize(
    ("make", "kind"),
    [(_rsa, "an RSA key"), (_p384, "an EC key on another curve")],
    ids=["rsa", "p384"],
)
def test_a_key_that_is_not_p256_is_refused_before_anything_is_written(
    make: Callable[[], bytes], kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.pem"
    path.write_bytes(make())
    out = tmp_path / "out"
    assert _build(out, "--signing-key", str(path)) == ExitCode.USAGE
    assert not out.exists()
    err = capsys.readouterr().err
    assert f"error: the firmware signing key {path} is {kind}, not an EC P-256" in err
    assert f"hint: make one with: {HOW_TO}" in err


def test_a_key_that_cannot_be_read_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public_only = tmp_path / "public.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    public_only.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for path in (public_only, tmp_path / "missing.pem"):
        assert _build(tmp_path / "out", "--signing-key", str(path)) == ExitCode.USAGE
        err = capsys.readouterr().err
        assert f"cannot read a private key from the firmware signing key {path}" in err
        assert HOW_TO in err


def test_the_public_half_is_the_keys_pem_and_uncompressed_point(
    p256: tuple[Path, ec.EllipticCurvePrivateKey],
) -> None:
    path, key = p256
    public = public_key(path)
    ours = key.public_key()
    assert public.point == _point(ours)
    assert len(public.point) == 65 and public.point[0] == 0x04
    assert public.pem.encode("ascii") == ours.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    from_der = serialization.load_der_public_key(public.der)
    assert isinstance(from_der, ec.EllipticCurvePublicKey)
    assert _point(from_der) == public.point


def test_a_kept_signature_makes_a_rebuild_byte_identical(
    tmp_path: Path, p256: tuple[Path, ec.EllipticCurvePrivateKey]
) -> None:
    path, key = p256
    kept = tmp_path / "signatures"
    first = sign(path, b"manifest\n", signatures=kept)
    assert sign(path, b"manifest\n", signatures=kept) == first
    assert sign(path, b"manifest\n") != first  # ECDSA is random: hence the keeping
    # A key made again: what was kept no longer verifies, and is replaced.
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    again = sign(path, b"manifest\n", signatures=kept)
    assert again != first
    assert [p.read_bytes() for p in kept.iterdir()] == [again]
    assert not _cryptography_verifies(key.public_key(), b"manifest\n", again)


def test_the_local_key_is_made_once_private_with_its_public_half(tmp_path: Path) -> None:
    key_dir = tmp_path / "firmware-key"
    made = local_firmware_key(key_dir)
    assert made.path == key_dir / PRIVATE_NAME
    assert made.path.stat().st_mode & 0o777 == 0o600
    assert key_dir.stat().st_mode & 0o777 == 0o700
    assert (key_dir / PUBLIC_NAME).read_text() == public_key(made.path).pem
    before = made.path.read_bytes()
    assert local_firmware_key(key_dir).path.read_bytes() == before


def test_the_key_from_the_environment_is_a_private_file_removed_afterwards(
    p256: tuple[Path, ec.EllipticCurvePrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = p256
    monkeypatch.setenv(FIRMWARE_KEY_VARIABLE, path.read_text())
    with firmware_key_from_environment() as key:
        assert key.path.read_bytes() == path.read_bytes()
        assert key.path.stat().st_mode & 0o777 == 0o600
        assert key.path.parent.stat().st_mode & 0o777 == 0o700
        assert key.signatures is None
    assert not key.path.parent.exists()


def test_a_wrong_key_in_the_environment_is_refused_and_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FIRMWARE_KEY_VARIABLE, _p384().decode())
    with (
        pytest.raises(UsageError, match=f"key in {FIRMWARE_KEY_VARIABLE} is an EC key on another"),
        firmware_key_from_environment(),
    ):
        pass


def test_a_release_without_a_firmware_key_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["release", "--key", "env", "--dist", str(tmp_path / "dist")]
    code = release_main([*argv, "--work", str(tmp_path / "work"), "--repo", str(tmp_path / "r")])
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"error: {FIRMWARE_KEY_VARIABLE} is empty: the firmware signing key is missing" in err
    assert "PICOHUB_FIRMWARE_SIGNING_KEY" in err
    assert not (tmp_path / "work").exists()


def test_the_command_prints_the_public_half_for_board_firmware(
    p256: tuple[Path, ec.EllipticCurvePrivateKey],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, key = p256
    monkeypatch.setenv(FIRMWARE_KEY_VARIABLE, path.read_text())
    assert release_main(["firmware-key", "--public", "--key", "env", "--point"]) == ExitCode.OK
    pem, _, point = capsys.readouterr().out.partition("-----END PUBLIC KEY-----\n")
    printed = serialization.load_pem_public_key(f"{pem}-----END PUBLIC KEY-----\n".encode())
    assert isinstance(printed, ec.EllipticCurvePublicKey)
    assert _point(printed) == _point(key.public_key())
    assert bytes.fromhex(point.strip()) == _point(key.public_key())
    monkeypatch.delenv(FIRMWARE_KEY_VARIABLE)
    assert release_main(["firmware-key", "--key", "env"]) == ExitCode.USAGE
