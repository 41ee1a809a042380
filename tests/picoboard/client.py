"""A reference board client: how a Pico 2 W board updates its firmware from the hub.

It follows the contract in docs/firmware-ota.md, as a board built on pico-examples'
``pico_w/wifi/ota_update`` would: ask for the manifest with its id (the hub answers 204
while the board's turn has not come), check the manifest's ECDSA P-256 signature against
the key baked into the firmware, stream the image with ``Range``/``If-Range`` so a cut
download resumes, hash the whole stream, check the span against the partition, write the
UF2's blocks (not the RP2350-E10 block) to the inactive partition, reboot into it as a
trial, and buy it only after a self-test passed and a heartbeat reached the hub. The
boot ROM (:mod:`tests.picoboard.bootrom`) reverts an image that is not bought.

It trusts nothing of the hub's own code: the UF2 is walked here, independently.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.picoboard.bootrom import BootRom

BOARD = "pico2_w"
FAMILY_RP2350_ARM_S = 0xE48BFF59
FAMILY_ABSOLUTE = 0xE48BFF57  # the RP2350-E10 workaround block's family
E10_ADDRESS = 0x10FFFF00
UF2_BLOCK = 512
UF2_HEADER = struct.Struct("<8I")
UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)
TIMEOUT = 10


class Refused(Exception):
    """What the board will not take, and why (it reports the reason to the hub)."""


@dataclass(frozen=True)
class Offer:
    """A manifest the board has verified."""

    raw: bytes
    fields: dict[str, Any]

    @property
    def firmware_version(self) -> str:
        return str(self.fields["firmware_version"])

    @property
    def sha256(self) -> str:
        return str(self.fields["sha256"])

    @property
    def size(self) -> int:
        return int(self.fields["size"])


@dataclass
class Outcome:
    """What one update attempt came to: ``held`` (the hub answered 204, with its
    reason), ``current``, ``bought``, ``reverted`` or ``failed`` (with the reason)."""

    result: str
    detail: str = ""


@dataclass
class Board:
    device_id: str
    hub: str  # e.g. "http://127.0.0.1:8780"
    public_key_pem: bytes  # the key baked into the firmware
    rom: BootRom
    self_test: Callable[[str], bool] = lambda _version: True
    # Offsets at which the Wi-Fi drops during the next downloads (each used once).
    cuts: list[int] = field(default_factory=list)
    uptime_s: int = 0
    last_ota: dict[str, Any] | None = None
    requests_made: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._manifest_etag: str | None = None
        self._announced = False  # the hub offers nothing to a board it has not heard from

    # -- what the board says ---------------------------------------------------------
    def heartbeat(self) -> int:
        self.uptime_s += 60
        body: dict[str, Any] = {
            "firmware_version": self.rom.firmware_version,
            "uptime_s": self.uptime_s,
            "slot": self.rom.running,
            "boot_type": str(self.rom.last_boot_type),
            "bought": self.rom.bought,
        }
        if self.last_ota is not None:
            body["ota"] = self.last_ota
        answer = self._session.post(
            f"{self.hub}/api/devices/{self.device_id}/heartbeat", json=body, timeout=TIMEOUT
        )
        self._announced = self._announced or answer.status_code == 200
        return answer.status_code

    def _report(self, sha256: str, result: str, reason: str | None = None) -> int:
        self.last_ota = {"sha256": sha256, "result": result}
        if reason is not None:
            self.last_ota["reason"] = reason[:200]
        return self.heartbeat()

    # -- what the board asks -----------------------------------------------------------
    def poll(self) -> Offer | Outcome:
        """The hub's verified offer for this board, or why there is none."""
        headers = {"If-None-Match": self._manifest_etag} if self._manifest_etag else {}
        answer = self._get(
            "/api/firmware/manifest", params={"device": self.device_id}, headers=headers
        )
        if answer.status_code == 204:
            return Outcome("held", answer.headers.get("X-Picohub-Rollout", ""))
        if answer.status_code == 304:
            return Outcome("current", "manifest unchanged")
        answer.raise_for_status()
        raw = answer.content
        signature = self._get("/api/firmware/manifest.sig")
        if signature.status_code != 200:
            raise Refused(f"the manifest has no signature (HTTP {signature.status_code})")
        offer = verify_manifest(raw, signature.content, self.public_key_pem)
        self._manifest_etag = answer.headers.get("ETag")
        return offer

    def update(self) -> Outcome:
        """One round of the board's OTA loop (after boot, a heartbeat comes first)."""
        if not self._announced:
            self.heartbeat()
        try:
            polled = self.poll()
        except Refused as exc:
            self._manifest_etag = None
            return Outcome("failed", str(exc))
        if isinstance(polled, Outcome):
            return polled
        offer = polled
        if offer.firmware_version == self.rom.firmware_version:
            return Outcome("current", offer.firmware_version)
        self._report(offer.sha256, "downloading")
        try:
            image = self.download(offer)
            payload = partition_payload(image, offer, self.rom.partition_size)
        except Refused as exc:
            self._manifest_etag = None  # ask again next time
            self._report(offer.sha256, "failed", str(exc))
            return Outcome("failed", str(exc))
        self.rom.write_inactive(payload, offer.firmware_version, offer.sha256)
        self.rom.reboot_to_try()
        # The new image's first heartbeat: it must reach the hub before the image buys.
        reached = self._report(offer.sha256, "trying") == 200
        if reached and self.self_test(offer.firmware_version):
            self.rom.explicit_buy()
            self._report(offer.sha256, "bought")
            return Outcome("bought", offer.firmware_version)
        reason = "self-test failed" if reached else "the hub did not answer the heartbeat"
        assert self.rom.watchdog_fires()
        self._report(offer.sha256, "reverted", reason)
        return Outcome("reverted", reason)

    def download(self, offer: Offer) -> bytes:
        """The image, resumed with Range/If-Range after each cut; hashed whole."""
        received = bytearray()
        etag = f'"{offer.sha256}"'
        for _attempt in range(len(self.cuts) + 3):
            headers = {"If-Range": etag, "Range": f"bytes={len(received)}-"} if received else {}
            with self._get("/api/firmware/image", headers=headers, stream=True) as answer:
                if answer.status_code == 200:
                    received.clear()  # a whole image: the one on the hub changed
                elif answer.status_code != 206:
                    raise Refused(f"the image answered HTTP {answer.status_code}")
                elif not answer.headers.get("Content-Range", "").startswith(
                    f"bytes {len(received)}-"
                ):
                    raise Refused(f"a resume got {answer.headers.get('Content-Range')!r}")
                if answer.headers.get("ETag") != etag:
                    raise Refused(
                        f"the image's ETag {answer.headers.get('ETag')} is not the manifest's"
                    )
                cut = self.cuts.pop(0) if self.cuts else None
                for chunk in answer.iter_content(4096):
                    if cut is not None and len(received) + len(chunk) >= cut:
                        received.extend(chunk[: cut - len(received)])
                        break  # the Wi-Fi drops: the connection is closed mid-image
                    received.extend(chunk)
                else:
                    break
            if len(received) > offer.size:
                raise Refused(f"more than the manifest's {offer.size} bytes arrived")
        digest = hashlib.sha256(received).hexdigest()
        if len(received) != offer.size or digest != offer.sha256:
            raise Refused(
                f"the image is {len(received)} bytes with SHA-256 {digest}; the signed "
                f"manifest says {offer.size} bytes, {offer.sha256}"
            )
        return bytes(received)

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        self.requests_made.append(path)
        return self._session.get(f"{self.hub}{path}", timeout=TIMEOUT, **kwargs)


def verify_manifest(raw: bytes, signature: bytes, public_key_pem: bytes) -> Offer:
    """The manifest, if ``signature`` is the baked-in key's over its exact bytes."""
    key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(signature, raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("the manifest's signature is not the release key's") from None
    fields = json.loads(raw)
    if fields.get("board") != BOARD:
        raise Refused(f"the manifest is for board {fields.get('board')!r}, not {BOARD}")
    if not fields.get("revertible"):
        raise Refused("the image is not revertible: the boot ROM could not go back")
    return Offer(raw, fields)


def partition_payload(image: bytes, offer: Offer, partition_size: int) -> bytes:
    """The bytes the board writes to its partition: every block's payload but the E10
    block's, checked against the signed manifest's span."""
    first = offer.fields["payload_first_address"]
    last = offer.fields["payload_last_address"]
    if last - first + 1 > partition_size:
        raise Refused(
            f"the image spans {last - first + 1} bytes; the partition has {partition_size}"
        )
    payload = bytearray()
    for start in range(0, len(image), UF2_BLOCK):
        magic_0, magic_1, _flags, address, size, _number, _count, family = UF2_HEADER.unpack_from(
            image, start
        )
        magic_end = struct.unpack_from("<I", image, start + UF2_BLOCK - 4)[0]
        if (magic_0, magic_1, magic_end) != UF2_MAGIC:
            raise Refused(f"block at byte {start} is not a UF2 block")
        if family == FAMILY_ABSOLUTE and address == E10_ADDRESS:
            continue  # the boot ROM's workaround block: nothing to write
        if family != FAMILY_RP2350_ARM_S or not first <= address <= last - size + 1:
            raise Refused(f"block at byte {start} writes 0x{address:08x}, outside the image's span")
        payload.extend(image[start + 32 : start + 32 + size])
    if len(payload) != offer.fields["payload_bytes"]:
        raise Refused(
            f"{len(payload)} payload bytes; the manifest says {offer.fields['payload_bytes']}"
        )
    return bytes(payload)


def fleet(
    ids: Sequence[str], hub: str, public_key_pem: bytes, version: str, partition_size: int
) -> dict[str, Board]:
    """Boards running ``version``, each with a fresh boot ROM."""
    return {
        board_id: Board(
            board_id, hub, public_key_pem, BootRom.running_version(version, partition_size)
        )
        for board_id in ids
    }
