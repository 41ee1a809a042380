"""The manifest that travels with a firmware image: what it is, for which board, its hash.

It is written at package build time beside ``firmware.uf2`` and read on the hub, which
trusts the image only after comparing size and sha256 with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.firmware.uf2 import BLOCK_SIZE, BOARDS, Board, validate

IMAGE_NAME = "firmware.uf2"
MANIFEST_NAME = "manifest.json"
# Short and free of '/', ':' and spaces, so it is safe in file names, URLs and log lines.
FIRMWARE_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]{0,31}")
FAMILY_ID = re.compile(r"0x[0-9a-f]{8}")
SHA256 = re.compile(r"[0-9a-f]{64}")
IMAGE_FILE_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]*\.uf2")
# How a JSON value of each Python type is named in messages (json.loads gives only these).
_JSON_TYPES: dict[type[Any], str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


class ManifestError(PicohubError):
    """A manifest that cannot be read or does not describe a usable image."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Manifest:
    """One firmware image as packaged: ``manifest.json`` holds exactly these fields."""

    firmware_version: str
    board: str
    family_id: str  # lower-case hex, "0xe48bff59"
    image: str  # file name beside the manifest
    size: int
    sha256: str  # hex
    package_version: str
    test_image: bool


def check_firmware_version(version: str) -> str:
    """Return ``version`` if it is a usable firmware version, else raise UsageError."""
    if not FIRMWARE_VERSION.fullmatch(version):
        raise UsageError(
            f"firmware version {version!r} is not 1-32 letters, digits and '._+~-' "
            "starting with a letter or digit",
            hint="for example 1.2.0 or 2024.06.1-rc1",
        )
    return version


def make_manifest(
    data: bytes,
    board: Board,
    *,
    firmware_version: str,
    package_version: str,
    test_image: bool,
    image_name: str = IMAGE_NAME,
) -> Manifest:
    """Validate ``data`` for ``board`` (raising Uf2Error) and describe it."""
    check_firmware_version(firmware_version)
    if not package_version or any(char.isspace() for char in package_version):
        raise UsageError(f"package version {package_version!r} is empty or has spaces")
    if not IMAGE_FILE_NAME.fullmatch(image_name):
        raise UsageError(f"image name {image_name!r} is not a plain file name ending in .uf2")
    validate(data, board)
    return Manifest(
        firmware_version=firmware_version,
        board=board.name,
        family_id=f"0x{board.family:08x}",
        image=image_name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        package_version=package_version,
        test_image=test_image,
    )


def to_json(m: Manifest) -> str:
    """The manifest as JSON: sorted keys, indent 2, trailing newline; same input, same text."""
    return json.dumps(asdict(m), sort_keys=True, indent=2) + "\n"


def from_json(text: str) -> Manifest:
    """Read a manifest, refusing missing, unknown or mistyped fields and impossible values."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"firmware manifest is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"firmware manifest is a JSON {type(raw).__name__}, expected an object")
    types = _field_types()
    missing = sorted(types.keys() - raw.keys())
    unknown = sorted(raw.keys() - types.keys())
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ManifestError(f"firmware manifest fields: {'; '.join(parts)}")
    for name, expected in types.items():
        # type() rather than isinstance(): a JSON true must not pass as the int 1.
        if type(raw[name]) is not expected:
            raise ManifestError(
                f"firmware manifest field {name!r} is "
                f"{_JSON_TYPES.get(type(raw[name]), 'null')}, expected {_JSON_TYPES[expected]}"
            )
    manifest = Manifest(**raw)
    _check_values(manifest)
    return manifest


def _field_types() -> dict[str, type[Any]]:
    hints = typing.get_type_hints(Manifest)
    return {field.name: hints[field.name] for field in fields(Manifest)}


def _check_values(m: Manifest) -> None:
    if not FIRMWARE_VERSION.fullmatch(m.firmware_version):
        raise ManifestError(f"firmware manifest: bad firmware_version {m.firmware_version!r}")
    known = BOARDS.get(m.board)
    if known is None:
        raise ManifestError(
            f"firmware manifest: unknown board {m.board!r}",
            hint=f"known boards: {', '.join(sorted(BOARDS))}",
        )
    if not FAMILY_ID.fullmatch(m.family_id) or int(m.family_id, 16) != known.family:
        raise ManifestError(
            f"firmware manifest: family_id {m.family_id!r} does not match board {m.board} "
            f"(0x{known.family:08x})"
        )
    if not IMAGE_FILE_NAME.fullmatch(m.image):
        raise ManifestError(f"firmware manifest: image {m.image!r} is not a plain .uf2 name")
    if m.size <= 0 or m.size % BLOCK_SIZE:
        raise ManifestError(
            f"firmware manifest: size {m.size} is not a positive multiple of {BLOCK_SIZE}"
        )
    if not SHA256.fullmatch(m.sha256):
        raise ManifestError(f"firmware manifest: sha256 {m.sha256!r} is not 64 lower-case hex")
    if not m.package_version or any(char.isspace() for char in m.package_version):
        raise ManifestError(f"firmware manifest: bad package_version {m.package_version!r}")
