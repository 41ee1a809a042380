"""The administrator password: made on the device, stored hashed, shown or reset by root.

Two files, both written atomically:

- the **credential** (``Settings.admin_credential``, ``/var/lib/picohub/admin.json``,
  picohub:picohub 0600): the scrypt hash with its salt and parameters, and a random ``id``
  the app puts into each session it opens. The app reads it on every request that needs
  the administrator, so a reset takes effect at once in every worker: sessions carrying
  another ``id`` are no longer the administrator's. (A random id rather than a counter:
  a credential made again from scratch never revives old sessions.) picohub:picohub
  because the folder is the app's (``StateDirectory=``), where systemd would give every
  file to picohub anyway;
- the **password in clear** (``Settings.admin_password_file``, ``/etc/picohub/admin-password``,
  root:root 0600 in a folder only root may change), so that root can show it again. It
  is never in the package and never the same on two devices: ``init`` makes it on the
  device (postinst). It is the source the hash is made from: when the hash is lost (the
  state folder removed by hand), ``init`` makes it again from this file, and the
  password the administrator knows still works.

The password is 20 characters from an alphabet without look-alikes (about 99 bits), in
four groups of five. scrypt (n=2**14, r=8, p=1: 16 MiB and well under a second on a
Raspberry Pi; Django's defaults) is more than such a password needs; the parameters are
stored with the hash, so they can change without invalidating an existing one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from picohub.errors import PicohubError
from picohub.files import write_atomically
from picohub.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# No 0/o, 1/l/i: read from a screen and typed on a phone without doubt.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS = 4
GROUP_LENGTH = 5

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
DIGEST_BYTES = 32
# Parameters read back from a file are bounded, so a bad file cannot exhaust memory.
MAX_SCRYPT_MEMORY = 32 * 1024 * 1024
MAX_FILE_BYTES = 64 * 1024

CREDENTIAL_MODE = 0o600
PASSWORD_FILE_MODE = 0o600
STATE_DIR_MODE = 0o750  # as picohub.service's StateDirectoryMode=


class CredentialError(PicohubError):
    """A credential file that exists but cannot be used."""


@dataclass(frozen=True)
class Credential:
    salt: bytes
    digest: bytes
    id: str  # sessions carry it: a new credential ends every session of the old one
    created: str
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "algorithm": "scrypt",
                    "n": self.n,
                    "r": self.r,
                    "p": self.p,
                    "salt": base64.b64encode(self.salt).decode(),
                    "hash": base64.b64encode(self.digest).decode(),
                    "id": self.id,
                    "created": self.created,
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> Credential:
        """Parse a credential file; ValueError naming what is wrong."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("algorithm") != "scrypt":
            raise ValueError("not an scrypt credential")
        n, r, p = data["n"], data["r"], data["p"]
        if not all(isinstance(value, int) and value >= 1 for value in (n, r, p)):
            raise ValueError("scrypt parameters must be positive integers")
        if n < 2 or n & (n - 1) or 128 * n * r > MAX_SCRYPT_MEMORY or p > 16:
            raise ValueError(f"scrypt parameters out of bounds: n={n} r={r} p={p}")
        salt = base64.b64decode(data["salt"], validate=True)
        digest = base64.b64decode(data["hash"], validate=True)
        if not salt or not digest or not isinstance(data["id"], str) or not data["id"]:
            raise ValueError("salt, hash and id must not be empty")
        return cls(salt, digest, data["id"], str(data.get("created", "")), n, r, p)


def generate_password() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join(groups)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * MAX_SCRYPT_MEMORY,
        dklen=length,
    )


def hash_password(password: str) -> Credential:
    salt = secrets.token_bytes(SALT_BYTES)
    return Credential(
        salt=salt,
        digest=_scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, DIGEST_BYTES),
        id=secrets.token_hex(16),
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def verify(credential: Credential, password: str) -> bool:
    """Whether ``password`` is the credential's, compared in constant time."""
    if len(password) > 1024:  # nothing this long was ever made; do not hash it
        return False
    c = credential
    candidate = _scrypt(password, c.salt, c.n, c.r, c.p, len(c.digest))
    return hmac.compare_digest(candidate, credential.digest)


def _read_regular(path: Path) -> str | None:
    """A small regular file's text, or None when it does not exist.

    Never follows a symbolic link and never blocks on a FIFO: root reads the credential
    in a folder the app's user owns.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise CredentialError(f"{path} is a symbolic link; refusing to read it") from exc
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from exc
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise CredentialError(f"{path} is not a regular file")
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise CredentialError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialError(f"{path} is not UTF-8 text") from exc


def read_credential(path: Path) -> Credential | None:
    """The stored credential, or None when there is none; CredentialError when unusable."""
    text = _read_regular(path)
    if text is None:
        return None
    try:
        return Credential.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialError(
            f"{path} is not a valid credential ({exc})",
            hint="make a new password with: sudo picohub admin-password reset",
        ) from exc


def read_password(path: Path) -> str | None:
    """The password in clear from root's file, or None when there is none."""
    text = _read_regular(path)
    if text is None:
        return None
    password = text.strip()
    if not password:
        raise CredentialError(f"{path} is empty")
    return password


class InitResult(StrEnum):
    CREATED = "created"  # a new password and its hash
    REHASHED = "rehashed"  # the hash was missing: made again from the password file
    UNCHANGED = "unchanged"  # both were there
    NO_CLEARTEXT = "no-cleartext"  # the hash is there, the password file is not


def _ensure_state_dir(settings: Settings, owner: tuple[int, int]) -> None:
    """The app's state folder as systemd's StateDirectory= makes it, when the service has
    not made it yet (installed without starting it). Owned by picohub from the start, so
    that systemd has no reason to change the owner of what is inside."""
    try:
        settings.state_dir.mkdir(mode=STATE_DIR_MODE, parents=True)
    except FileExistsError:
        return
    os.chown(settings.state_dir, *owner)
    settings.state_dir.chmod(STATE_DIR_MODE)  # mkdir's mode passed through the umask


def _write_credential(settings: Settings, credential: Credential, owner: tuple[int, int]) -> None:
    _ensure_state_dir(settings, owner)
    write_atomically(settings.admin_credential, credential.to_json(), CREDENTIAL_MODE, owner=owner)


def init(settings: Settings, owner: tuple[int, int]) -> InitResult:
    """Make the administrator password unless there is one; safe to run on every upgrade.

    ``owner`` is the (uid, gid) of the app's user, who must read the hash. A damaged
    file counts as missing (nobody can log in with it): an upgrade mends it rather than
    fail on it.
    """
    credential = _read_or_none(read_credential, settings.admin_credential)
    password = _read_or_none(read_password, settings.admin_password_file)
    if credential is not None:
        return InitResult.UNCHANGED if password is not None else InitResult.NO_CLEARTEXT
    if password is not None:
        _write_credential(settings, hash_password(password), owner)
        return InitResult.REHASHED
    _replace(settings, generate_password(), owner)
    return InitResult.CREATED


def _read_or_none(read: Callable[[Path], T | None], path: Path) -> T | None:
    try:
        return read(path)
    except CredentialError as exc:
        log.warning("%s; making it again", exc)
        return None


def reset(settings: Settings, owner: tuple[int, int]) -> str:
    """Replace the password with a new random one and return it. Sessions opened with
    the old one end (the credential's id changes)."""
    password = generate_password()
    _replace(settings, password, owner)
    return password


def _replace(settings: Settings, password: str, owner: tuple[int, int]) -> None:
    # The password file first: it is the source. Interrupted between the two writes, root's
    # file has the new password and the app the old hash; a second reset mends it.
    write_atomically(settings.admin_password_file, password + "\n", PASSWORD_FILE_MODE)
    _write_credential(settings, hash_password(password), owner)


def show(settings: Settings) -> str:
    """The password in clear; PicohubError saying what to do when there is none."""
    password = read_password(settings.admin_password_file)
    if password is None:
        raise PicohubError(
            f"there is no administrator password in {settings.admin_password_file}",
            hint="make one with: sudo picohub admin-password reset",
        )
    return password


def matches(settings: Settings, password: str) -> bool | None:
    """Whether ``password`` is the one the app checks against (None: the app has none)."""
    credential = read_credential(settings.admin_credential)
    return None if credential is None else verify(credential, password)
