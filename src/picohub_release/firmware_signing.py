"""Sign the firmware manifest: ECDSA P-256 with SHA-256, by the ``openssl`` command line.

A board verifies ``manifest.sig`` (a DER-encoded ECDSA signature, what ``openssl dgst
-sha256 -sign`` writes and mbedTLS's ``mbedtls_pk_verify`` takes) over the exact bytes of
``manifest.json`` with the public key baked into its firmware. Runs inside
dpkg-buildpackage with Debian's python3: standard library, picohub and openssl only.

ECDSA signatures are random: the same manifest signed twice gives two signatures. So that
a rebuild stays byte-identical, a signature may be kept in a folder (``signatures``) under
the manifest's SHA-256 and used again while it still verifies with the key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from picohub.errors import CommandError, PicohubError, UsageError
from picohub.process import run

HOW_TO_MAKE_A_KEY = "make one with: openssl ecparam -name prime256v1 -genkey -noout -out KEY"
# A P-256 public key as DER SubjectPublicKeyInfo: this header (id-ecPublicKey, the named
# curve prime256v1, a 66-byte BIT STRING), then the uncompressed point 04 || X || Y.
_P256_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
POINT_SIZE = 65
# What a key is when it is not P-256, by the object identifiers in its public half.
_KINDS = (
    (bytes.fromhex("2a864886f70d010101"), "an RSA key"),
    (bytes.fromhex("2b8104"), "an EC key on another curve"),
    (bytes.fromhex("2a8648ce3d0201"), "an EC key on another curve"),
    (bytes.fromhex("2b6570"), "an Ed25519 or Ed448 key"),
)


@dataclass(frozen=True)
class PublicKey:
    """The public half of a firmware signing key, for baking into board firmware."""

    pem: str  # "-----BEGIN PUBLIC KEY-----..."
    point: bytes  # the uncompressed point, 65 bytes: 04 || X || Y

    @property
    def der(self) -> bytes:
        return _P256_SPKI_HEADER + self.point


def public_key(key: Path) -> PublicKey:
    """The public half of the PEM private key ``key``; refuse anything but EC P-256."""
    try:
        result = run(["openssl", "pkey", "-in", key, "-passin", "pass:", "-pubout"], timeout=60)
    except CommandError as exc:
        detail = exc.stderr.strip().splitlines()
        raise UsageError(
            f"cannot read a private key from the firmware signing key {key}"
            + (f": {detail[0]}" if detail else ""),
            hint=f"it must be an unencrypted PEM EC P-256 private key; {HOW_TO_MAKE_A_KEY}",
        ) from exc
    pem = result.stdout
    der = _pem_body(pem)
    if not der.startswith(_P256_SPKI_HEADER) or len(der) != len(_P256_SPKI_HEADER) + POINT_SIZE:
        kind = next((name for oid, name in _KINDS if oid in der[:40]), "another kind of key")
        raise UsageError(
            f"the firmware signing key {key} is {kind}, not an EC P-256 (prime256v1) key: "
            "boards verify ECDSA P-256 signatures only",
            hint=HOW_TO_MAKE_A_KEY,
        )
    return PublicKey(pem=pem, point=der[len(_P256_SPKI_HEADER) :])


def _pem_body(pem: str) -> bytes:
    lines = pem.strip().splitlines()
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise PicohubError(f"openssl wrote a public key that is not PEM: {exc}") from exc


def sign(key: Path, data: bytes, *, signatures: Path | None = None) -> bytes:
    """A DER ECDSA P-256 SHA-256 signature of ``data``, checked with the key's public half.

    With ``signatures``, a signature kept there for the same bytes and key is used again.
    """
    public = public_key(key)
    kept = None if signatures is None else signatures / f"{hashlib.sha256(data).hexdigest()}.sig"
    with tempfile.TemporaryDirectory(prefix="picohub-firmware-sign-") as scratch:
        message = Path(scratch) / "manifest.json"
        message.write_bytes(data)
        public_pem = Path(scratch) / "public.pem"
        public_pem.write_text(public.pem, encoding="ascii")
        if kept is not None and kept.is_file():
            if verifies(public_pem, message, kept):
                return kept.read_bytes()
            kept.unlink(missing_ok=True)  # made with a key since replaced
        made = Path(scratch) / "manifest.sig"
        argv: list[str | os.PathLike[str]] = ["openssl", "dgst", "-sha256", "-sign", key]
        argv += ["-passin", "pass:"]
        run([*argv, "-out", made, message], timeout=60)
        if not verifies(public_pem, message, made):
            raise PicohubError(
                f"the signature made with {key} does not verify with its public half"
            )
        if kept is not None and not _keep(made, kept) and verifies(public_pem, message, kept):
            return kept.read_bytes()  # another build side by side signed it first
        return made.read_bytes()


def verifies(public_pem: Path, message: Path, signature: Path) -> bool:
    """Whether ``signature`` is a valid signature of ``message`` by the key in ``public_pem``."""
    argv: list[str | os.PathLike[str]] = ["openssl", "dgst", "-sha256", "-verify", public_pem]
    argv += ["-signature", signature, message]
    return run(argv, check=False, timeout=60).returncode == 0


def _keep(signature: Path, kept: Path) -> bool:
    """Keep a signature for the next build, unless a build side by side was first: then
    say so."""
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=kept.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(signature.read_bytes())
            try:
                os.link(name, kept)
            except FileExistsError:
                return False
            return True
        finally:
            Path(name).unlink()
    except OSError as exc:
        raise PicohubError(f"cannot keep the manifest's signature in {kept}: {exc}") from exc
