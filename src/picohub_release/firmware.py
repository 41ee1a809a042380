"""``python3 -m picohub_release.firmware``: put the Pico firmware into the package build.

Runs inside dpkg-buildpackage with Debian's python3 (standard library and picohub only). It
validates the given UF2 image, or, when none is given, generates a test image and says so
loudly, then writes ``firmware.uf2`` and ``manifest.json`` into the output directory.

A given image is meant for over-the-air updates: one the boot ROM could not try in an A/B
partition and go back from (no TBYB flag, no binary_version or another one than the
firmware version, too large for a partition) is refused, unless
PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE=1 (or --allow-not-revertible) accepts it; its
manifest then says ``"revertible": false``. A generated test image is always packaged.

With a signing key (PICOHUB_FIRMWARE_SIGNING_KEY, a PEM EC P-256 private key), the exact
bytes of ``manifest.json`` are signed into ``manifest.sig`` beside it; without one the
manifest goes unsigned, loudly, and boards that check signatures refuse it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from picohub.cli import run_command
from picohub.errors import PicohubError, UsageError
from picohub.files import atomic_file
from picohub.firmware import testimage, uf2
from picohub.firmware.manifest import (
    IMAGE_NAME,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    make_manifest,
    to_json,
)
from picohub.firmware.ota import HOW_TO_BUILD
from picohub_release import firmware_signing

ENV_UF2 = "PICOHUB_FIRMWARE_UF2"
ENV_BOARD = "PICOHUB_FIRMWARE_BOARD"
ENV_VERSION = "PICOHUB_FIRMWARE_VERSION"
ENV_ALLOW_NOT_REVERTIBLE = "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE"
ENV_SIGNING_KEY = "PICOHUB_FIRMWARE_SIGNING_KEY"
ENV_SIGNATURES = "PICOHUB_FIRMWARE_SIGNATURES"
DEFAULT_BOARD = "pico2_w"


def _env(name: str) -> str | None:
    """An environment variable, with set-but-empty meaning unset (as make passes them)."""
    return os.environ.get(name) or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picohub-firmware-build", description=__doc__)
    uf2_default = _env(ENV_UF2)
    parser.add_argument(
        "--uf2",
        type=Path,
        default=Path(uf2_default) if uf2_default else None,
        help=f"firmware image to package (default ${ENV_UF2}; none: a generated test image)",
    )
    parser.add_argument(
        "--board",
        default=_env(ENV_BOARD) or DEFAULT_BOARD,
        help=f"board the image is for (default ${ENV_BOARD} or {DEFAULT_BOARD})",
    )
    parser.add_argument(
        "--firmware-version",
        default=_env(ENV_VERSION),
        help=f"version of the firmware (default ${ENV_VERSION}; required with --uf2)",
    )
    parser.add_argument(
        "--allow-not-revertible",
        action="store_true",
        default=_env(ENV_ALLOW_NOT_REVERTIBLE) in {"1", "yes", "true"},
        help="package an image the boot ROM cannot try and revert "
        f"(default ${ENV_ALLOW_NOT_REVERTIBLE}=1)",
    )
    key_default = _env(ENV_SIGNING_KEY)
    parser.add_argument(
        "--signing-key",
        type=Path,
        default=Path(key_default) if key_default else None,
        help=f"PEM EC P-256 private key to sign the manifest with (default ${ENV_SIGNING_KEY}; "
        "none: an unsigned manifest)",
    )
    signatures_default = _env(ENV_SIGNATURES)
    parser.add_argument(
        "--signatures",
        type=Path,
        default=Path(signatures_default) if signatures_default else None,
        help=f"keep signatures here, so a rebuild is byte-identical (default ${ENV_SIGNATURES})",
    )
    parser.add_argument("--package-version", required=True, help="Debian package version")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: build(
            out=args.out,
            board=uf2.board(args.board),
            uf2_path=args.uf2,
            firmware_version=args.firmware_version,
            package_version=args.package_version,
            allow_not_revertible=args.allow_not_revertible,
            signing_key=args.signing_key,
            signatures=args.signatures,
        )
    )


def build(
    *,
    out: Path,
    board: uf2.Board,
    uf2_path: Path | None,
    firmware_version: str | None,
    package_version: str,
    allow_not_revertible: bool = False,
    signing_key: Path | None = None,
    signatures: Path | None = None,
) -> Manifest:
    """Validate or generate the image, then write it, the manifest's signature (with a
    ``signing_key``) and the manifest into ``out``."""
    if signing_key is not None:
        firmware_signing.public_key(signing_key)  # refuse a wrong key before writing
    test_image = uf2_path is None
    if uf2_path is None:
        firmware_version = firmware_version or package_version
        data = testimage.generate_test_image(board, firmware_version)
    else:
        if firmware_version is None:
            raise UsageError(
                f"a firmware image was given ({uf2_path}) but no firmware version",
                hint=f"pass --firmware-version or set {ENV_VERSION}",
            )
        data = _read(uf2_path)
    manifest = make_manifest(
        data,
        board,
        firmware_version=firmware_version,
        package_version=package_version,
        test_image=test_image,
    )
    if not (test_image or manifest.revertible or allow_not_revertible):
        raise UsageError(
            f"firmware image {uf2_path} cannot be updated over the air safely (tried in an "
            f"A/B partition, reverted unless bought): {'; '.join(manifest.ota_problems)}",
            hint=f"{HOW_TO_BUILD + '; or ' if board.ota_partition_size else ''}set "
            f"{ENV_ALLOW_NOT_REVERTIBLE}=1 to package it as not revertible",
        )
    # make_manifest validated already; validate again only for the warnings to show.
    image = uf2.validate(data, board)
    text = to_json(manifest).encode("utf-8")
    # The manifest goes last: its presence says the image beside it is complete.
    _write_atomically(out / IMAGE_NAME, data)
    if signing_key is None:
        (out / SIGNATURE_NAME).unlink(missing_ok=True)
    else:
        signature = firmware_signing.sign(signing_key, text, signatures=signatures)
        _write_atomically(out / SIGNATURE_NAME, signature)
    _write_atomically(out / MANIFEST_NAME, text)
    _print_summary(out, manifest, image, signed=signing_key is not None)
    for warning in image.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not manifest.revertible and not test_image:
        print(
            "warning: packaged as not revertible (a board keeps it even if it fails): "
            f"{'; '.join(manifest.ota_problems)}",
            file=sys.stderr,
        )
    if signing_key is None:
        print(
            f"warning: the firmware manifest is UNSIGNED ({ENV_SIGNING_KEY} is unset): no "
            f"{SIGNATURE_NAME} is packaged, and boards that check signatures will refuse "
            "this firmware",
            file=sys.stderr,
        )
    if test_image:
        print(_test_image_warning(board), file=sys.stderr)
    return manifest


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read firmware image {path}: {exc.strerror or exc}",
            hint=f"set {ENV_UF2}=/path/to/firmware.uf2 to a readable .uf2 file",
        ) from exc


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers never see half a file; packaged files are 0644."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, mode=0o644, suffix=".tmp") as handle:
            handle.write(data)
    except OSError as exc:
        raise PicohubError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _print_summary(out: Path, manifest: Manifest, image: uf2.Uf2Image, *, signed: bool) -> None:
    kind = "TEST IMAGE, not bootable" if manifest.test_image else "release image"
    e10 = ", with RP2350-E10 workaround block" if image.has_e10_block else ""
    print(f"firmware {manifest.firmware_version} for {manifest.board} ({kind})")
    print(f"  image     {out / manifest.image}")
    print(f"  manifest  {out / MANIFEST_NAME}")
    signature = f"{out / SIGNATURE_NAME} (ECDSA P-256, SHA-256)" if signed else "NONE, unsigned"
    print(f"  signature {signature}")
    print(f"  family    {uf2.family_text(image.family)}")
    print(f"  size      {manifest.size} bytes, {image.blocks} blocks{e10}")
    print(f"  flash     0x{image.first_address:08x}-0x{image.last_address:08x}")
    print(f"  IMAGE_DEF {_image_def_text(manifest)}")
    print(f"  OTA       {'revertible (TBYB)' if manifest.revertible else 'NOT revertible'}")
    print(f"  sha256    {manifest.sha256}")
    print(f"  package   {manifest.package_version}")


def _image_def_text(manifest: Manifest) -> str:
    if manifest.image_type is None:
        return "none"
    parts = [manifest.image_type, manifest.cpu or "", f"version {manifest.binary_version}"]
    parts += [name for name in ("tbyb", "hashed", "signed") if getattr(manifest, name)]
    return ", ".join(part for part in parts if part)


def _test_image_warning(board: uf2.Board) -> str:
    rule = "*" * 78
    return "\n".join(
        [
            rule,
            "WARNING: no firmware image was given (--uf2 or PICOHUB_FIRMWARE_UF2 is unset).",
            f"WARNING: packaged a generated TEST image for {board.name} that is NOT BOOTABLE.",
            "WARNING: a board updated with this package will not run picohub firmware.",
            "WARNING: to package a real image, build it with the Pico SDK and set",
            "WARNING:   PICOHUB_FIRMWARE_UF2=/path/to/firmware.uf2",
            "WARNING:   PICOHUB_FIRMWARE_VERSION=<its version>",
            rule,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
