"""The manifest that travels with a firmware image: what it is, for which board, its hash.

It is written at package build time beside ``firmware.uf2`` and read on the hub, which
trusts the image only after comparing size and sha256 with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.firmware.ota import ota_problems
from picohub.firmware.uf2 import BLOCK_SIZE, BOARDS, PAYLOAD_SIZE, Board, validate

IMAGE_NAME = "firmware.uf2"
MANIFEST_NAME = "manifest.json"
# The manifest's signature beside it: DER ECDSA P-256 / SHA-256 over manifest.json's bytes.
SIGNATURE_NAME = "manifest.sig"
# Short and free of '/', ':' and spaces, so it is safe in file names, URLs and log lines.
FIRMWARE_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]{0,31}")
FAMILY_ID = re.compile(r"0x[0-9a-f]{8}")
SHA256 = re.compile(r"[0-9a-f]{64}")
IMAGE_FILE_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]*\.uf2")
BINARY_VERSION = re.compile(r"[0-9]{1,5}\.[0-9]{1,5}")
# How a JSON value of each Python type is named in messages (json.loads gives only these).
_JSON_TYPES: dict[type[Any], str] = {
    type(None): "null",
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
    """One firmware image as packaged: ``manifest.json`` holds exactly these fields.

    The fields with defaults came later (what the image's IMAGE_DEF says, and whether it
    can be updated over the air safely); a manifest written before them reads as an image
    nothing is known of, and so not revertible.
    """

    firmware_version: str
    board: str
    family_id: str  # lower-case hex, "0xe48bff59"
    image: str  # file name beside the manifest
    size: int
    sha256: str  # hex
    package_version: str
    test_image: bool
    image_type: str | None = None  # IMAGE_DEF's type: "exe", "data"; None without IMAGE_DEF
    cpu: str | None = None  # "arm", "riscv", "varmulet" for an executable image
    binary_version: str | None = None  # "major.minor" from IMAGE_DEF's VERSION item
    tbyb: bool = False  # IMAGE_DEF's "try before you buy" flag
    hashed: bool = False  # IMAGE_DEF has a HASH_DEF item
    signed: bool = False  # IMAGE_DEF has a SIGNATURE item
    payload_first_address: int | None = None  # first flash address the image writes
    payload_last_address: int | None = None  # last flash address it writes (inclusive)
    payload_bytes: int | None = None  # the image's payload, without the UF2 framing
    e10_block: bool = False  # the UF2 starts with the RP2350-E10 workaround block
    revertible: bool = False  # the boot ROM goes back to the old image unless it is bought
    ota_problems: tuple[str, ...] = ()  # why it is not revertible, in words


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
    image = validate(data, board)
    image_def = image.image_def
    problems = ota_problems(image, board, firmware_version)
    return Manifest(
        firmware_version=firmware_version,
        board=board.name,
        family_id=f"0x{board.family:08x}",
        image=image_name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        package_version=package_version,
        test_image=test_image,
        image_type=None if image_def is None else image_def.image_type,
        cpu=None if image_def is None else image_def.cpu,
        binary_version=None if image_def is None else image_def.version_text,
        tbyb=image_def is not None and image_def.tbyb,
        hashed=image_def is not None and image_def.hashed,
        signed=image_def is not None and image_def.signed,
        payload_first_address=image.first_address,
        payload_last_address=image.last_address - 1,
        payload_bytes=image.payload_size,
        e10_block=image.has_e10_block,
        revertible=not problems,
        ota_problems=problems,
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
    expected_types = _field_types()
    missing = sorted(_required_fields() - raw.keys())
    unknown = sorted(raw.keys() - expected_types.keys())
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ManifestError(f"firmware manifest fields: {'; '.join(parts)}")
    for name, value in raw.items():
        expected = expected_types[name]
        # type() rather than isinstance(): a JSON true must not pass as the int 1.
        if type(value) not in expected:
            raise ManifestError(
                f"firmware manifest field {name!r} is {_JSON_TYPES[type(value)]}, expected "
                f"{' or '.join(_JSON_TYPES[kind] for kind in expected)}"
            )
        if type(value) is list and any(type(item) is not str for item in value):
            raise ManifestError(f"firmware manifest field {name!r} is not a list of strings")
    values: dict[str, Any] = {k: tuple(v) if type(v) is list else v for k, v in raw.items()}
    manifest = Manifest(**values)
    _check_values(manifest)
    return manifest


def _field_types() -> dict[str, tuple[type[Any], ...]]:
    """The JSON types each field may have: ``str | None`` a string or null, tuples lists."""
    hints = typing.get_type_hints(Manifest)
    return {field.name: _json_types(hints[field.name]) for field in fields(Manifest)}


def _json_types(hint: Any) -> tuple[type[Any], ...]:
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return tuple(kind for arg in typing.get_args(hint) for kind in _json_types(arg))
    if typing.get_origin(hint) is tuple:
        return (list,)
    return (hint,)


def _required_fields() -> set[str]:
    """The fields every manifest has had; later ones may be absent from older manifests."""
    return {field.name for field in fields(Manifest) if field.default is MISSING}


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
    if m.binary_version is not None and not BINARY_VERSION.fullmatch(m.binary_version):
        raise ManifestError(f"firmware manifest: bad binary_version {m.binary_version!r}")
    _check_span(m)
    if m.revertible and (m.ota_problems or not m.tbyb or m.binary_version is None):
        raise ManifestError(
            "firmware manifest: revertible, but without TBYB, without binary_version or "
            "with ota_problems"
        )


def _check_span(m: Manifest) -> None:
    span = (m.payload_first_address, m.payload_last_address, m.payload_bytes)
    if span == (None, None, None):
        return
    first, last, size = span
    if first is None or last is None or size is None:
        raise ManifestError("firmware manifest: payload span given in part only")
    if size <= 0 or size % PAYLOAD_SIZE or first % PAYLOAD_SIZE or last < first + size - 1:
        raise ManifestError(
            f"firmware manifest: impossible payload span 0x{first:x}-0x{last:x} of {size} bytes"
        )
