"""The release signing key: a throwaway local key, or the real one from the environment.

Locally a key is generated on first use and kept in an ignored folder. In CI the armoured
private key comes from the environment (a repository secret), is imported into a
throwaway GNUPGHOME, and that folder is removed afterwards. Nothing is ever published
unsigned: every failure here is an error.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gnupg

from picohub.errors import PicohubError
from picohub.process import run

log = logging.getLogger(__name__)

SIGNING_KEY_VARIABLE = "PICOHUB_SIGNING_KEY"
# The throwaway local key: beside the source tree, in the ignored cache folder.
LOCAL_KEY_DIR = Path(__file__).resolve().parents[2] / ".cache" / "release-key"
LOCAL_KEY_NAME = "picohub local release key (throwaway, not for devices in the field)"
LOCAL_KEY_EMAIL = "release@picohub.invalid"
# apt rejects SHA-1 signatures; say what we mean rather than rely on gpg's default.
_SIGN_OPTIONS = ["--digest-algo", "SHA512", "--personal-digest-preferences", "SHA512"]


@dataclass(frozen=True)
class Signer:
    """A GnuPG home holding the release key, or, during a key change, the outgoing and
    the incoming key (``also``): every signature is made by each of them, and the public
    keyring hubs pin holds each, so a hub that knows either key verifies the release."""

    gpg: gnupg.GPG
    fingerprint: str
    also: tuple[str, ...] = ()

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return (self.fingerprint, *self.also)

    def clearsign(self, text: str) -> str:
        return self._sign(text, clearsign=True, detach=False)

    def detach_sign(self, text: str) -> str:
        return self._sign(text, clearsign=False, detach=True)

    def _sign(self, text: str, *, clearsign: bool, detach: bool) -> str:
        users = [
            word for fingerprint in self.fingerprints for word in ("--local-user", fingerprint)
        ]
        result = self.gpg.sign(
            text,
            keyid=self.fingerprint,
            clearsign=clearsign,
            detach=detach,
            extra_args=[*users, *_SIGN_OPTIONS],
        )
        # gpg falls back to another secret key when a named one is missing: a signature
        # counts only when the keys that made it are exactly the release keys.
        made = [
            line.split()[-1]
            for line in (result.stderr or "").splitlines()
            if line.startswith("[GNUPG:] SIG_CREATED ")
        ]
        if not result or not str(result) or sorted(made) != sorted(self.fingerprints):
            detail = (result.stderr or "").strip().splitlines()
            made_by = f", made by {', '.join(made)}" if made else ""
            raise PicohubError(
                f"signing with key {', '.join(self.fingerprints)} failed: "
                f"{result.status or 'no signature'}{made_by}",
                hint=detail[-1] if detail else None,
            )
        return str(result)

    def public_key(self, *, armor: bool) -> bytes:
        exported = self.gpg.export_keys(list(self.fingerprints), armor=armor)
        data = exported.encode("ascii") if isinstance(exported, str) else exported
        if not data:
            raise PicohubError(f"could not export the public key {', '.join(self.fingerprints)}")
        return bytes(data)


def _release_keys(gpg: gnupg.GPG, where: str) -> Signer:
    """The one secret key in ``gpg``, or two during a key change (the older first)."""
    keys = sorted(gpg.list_keys(secret=True), key=lambda key: int(key["date"]))
    if len(keys) not in (1, 2):
        raise PicohubError(
            f"{where} holds {len(keys)} secret keys; the release needs exactly one, or two "
            "during a key change",
        )
    fingerprints = [str(key["fingerprint"]) for key in keys]
    return Signer(gpg, fingerprints[0], tuple(fingerprints[1:]))


def _gpg(home: Path) -> gnupg.GPG:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    return gnupg.GPG(gnupghome=str(home))


def local_signer(key_dir: Path) -> Signer:
    """The throwaway local key in ``key_dir``, generated on first use."""
    gpg = _gpg(key_dir)
    # Builds may run side by side (make test's lanes): one key, made by the first of them.
    with (key_dir / ".generate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not gpg.list_keys(secret=True):
            log.info("generating a throwaway local release key in %s", key_dir)
            request = gpg.gen_key_input(
                key_type="EDDSA",
                key_curve="ed25519",
                key_usage="sign",
                name_real=LOCAL_KEY_NAME,
                name_email=LOCAL_KEY_EMAIL,
                expire_date=0,
                no_protection=True,
            )
            if not gpg.gen_key(request):
                raise PicohubError(f"could not generate a local release key in {key_dir}")
    return _release_keys(gpg, str(key_dir))


@contextmanager
def signer_from_environment(variable: str = SIGNING_KEY_VARIABLE) -> Iterator[Signer]:
    """The key in ``$variable`` (armoured private key), in a GNUPGHOME removed afterwards."""
    armoured = os.environ.get(variable, "")
    if not armoured.strip():
        raise PicohubError(
            f"{variable} is empty: the release key is missing",
            hint="set the repository secret and pass it to the job as " + variable,
        )
    home = Path(tempfile.mkdtemp(prefix="picohub-gnupg-"))
    try:
        gpg = _gpg(home)
        imported = gpg.import_keys(armoured)
        if not imported.sec_imported:
            raise PicohubError(f"{variable} holds no usable private key")
        yield _release_keys(gpg, variable)
    finally:
        # The agent holds the key in memory too: stop it before removing the folder.
        run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False, timeout=30)
        shutil.rmtree(home, ignore_errors=True)
