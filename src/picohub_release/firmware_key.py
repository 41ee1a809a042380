"""The key that signs the firmware manifest: a throwaway local one, or the real one.

Locally a P-256 key is generated on first use and kept in an ignored folder, with its
public half beside it. In CI the PEM private key comes from the environment (a repository
secret), is written to a private temporary file for the build, and removed afterwards.
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

from picohub.errors import PicohubError, UsageError
from picohub.process import run
from picohub_release.firmware_signing import HOW_TO_MAKE_A_KEY, public_key

log = logging.getLogger(__name__)

FIRMWARE_KEY_VARIABLE = "PICOHUB_FIRMWARE_SIGNING_KEY_PEM"
# The throwaway local key: beside the source tree, in the ignored cache folder.
LOCAL_FIRMWARE_KEY_DIR = Path(__file__).resolve().parents[2] / ".cache" / "firmware-key"
PRIVATE_NAME = "firmware-signing.pem"
PUBLIC_NAME = "firmware-signing.pub.pem"


@dataclass(frozen=True)
class FirmwareKey:
    """A PEM EC P-256 private key, and where signatures made with it are kept so that a
    rebuild of the same firmware is byte-identical (ECDSA signatures are random)."""

    path: Path
    signatures: Path | None = None


def local_firmware_key(key_dir: Path = LOCAL_FIRMWARE_KEY_DIR) -> FirmwareKey:
    """The throwaway local key in ``key_dir``, generated on first use."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = key_dir / PRIVATE_NAME
    # Builds may run side by side (make test's lanes): one key, made by the first of them.
    with (key_dir / ".generate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not private.exists():
            log.info("generating a throwaway local firmware signing key in %s", key_dir)
            _generate(private)
        public = key_dir / PUBLIC_NAME
        if not public.exists():
            public.write_text(public_key(private).pem, encoding="ascii")
    return FirmwareKey(private, signatures=key_dir / "signatures")


def _generate(private: Path) -> None:
    partial = private.with_name(f".{private.name}.tmp")
    partial.unlink(missing_ok=True)
    # Created 0600 before openssl writes into it: the key is never readable by others.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", partial])
        partial.replace(private)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def firmware_key_from_environment(variable: str = FIRMWARE_KEY_VARIABLE) -> Iterator[FirmwareKey]:
    """The PEM private key in ``$variable``, in a private temporary file removed afterwards."""
    pem = os.environ.get(variable, "")
    if not pem.strip():
        raise UsageError(
            f"{variable} is empty: the firmware signing key is missing, and a release "
            "never ships an unsigned firmware manifest",
            hint=f"set the repository secret PICOHUB_FIRMWARE_SIGNING_KEY and pass it to the "
            f"job as {variable}; {HOW_TO_MAKE_A_KEY}",
        )
    home = Path(tempfile.mkdtemp(prefix="picohub-firmware-key-"))  # 0700
    try:
        private = home / PRIVATE_NAME
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(pem if pem.endswith("\n") else pem + "\n")
        try:
            public_key(private)
        except PicohubError as exc:
            raise UsageError(
                exc.message.replace(str(private), f"in {variable}"), hint=exc.hint
            ) from exc
        yield FirmwareKey(private)
    finally:
        shutil.rmtree(home, ignore_errors=True)
