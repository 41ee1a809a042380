"""Build the Debian packages from a clean copy of the source tree with dpkg-buildpackage."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picohub.errors import PicohubError
from picohub.process import run
from picohub_release.firmware import ENV_SIGNATURES, ENV_SIGNING_KEY
from picohub_release.firmware_key import FirmwareKey, local_firmware_key
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import (
    changelog_version,
    check_release_version,
    python_version,
    stamp_version,
    upstream_part,
)

log = logging.getLogger(__name__)

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# How a build is given a real firmware image (see debian/rules); passed through to it.
FIRMWARE_SETTINGS = (
    "PICOHUB_FIRMWARE_UF2",
    "PICOHUB_FIRMWARE_VERSION",
    "PICOHUB_FIRMWARE_BOARD",
    "PICOHUB_FIRMWARE_ALLOW_NOT_REVERTIBLE",
)
# How many of the log's last lines a failure shows when no step said "error: ..." itself.
FAILURE_TAIL_LINES = 15


@dataclass(frozen=True)
class Build:
    version: str
    debs: tuple[Path, ...]

    def deb(self, package: str) -> Path:
        """The .deb of one binary package of this build."""
        for deb in self.debs:
            if deb.name.startswith(f"{package}_"):
                return deb
        raise PicohubError(f"this build of {self.version} has no package {package}")


def source_files(source_dir: Path) -> list[str]:
    """The files git tracks, and new ones it does not ignore (so a build sees local edits
    but never caches, virtual environments or earlier build outputs)."""
    result = run(
        ["git", "-C", source_dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    )
    return sorted({name for name in result.stdout.split("\0") if name})


def stage(source_dir: Path, work_dir: Path) -> Path:
    """Copy the source tree to ``work_dir/picohub``, replacing an earlier copy."""
    staged = work_dir / "picohub"
    if staged.exists():
        shutil.rmtree(staged)
    for name in source_files(source_dir):
        origin = source_dir / name
        if not origin.exists():  # deleted in the work tree, not yet in git
            continue
        target = staged / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target, follow_symlinks=False)
    return staged


def _failure_lines(output: str) -> str:
    """What a failed build said about why: the ``error:``/``hint:`` lines of the step that
    refused (the firmware step says what is wrong with an image and how to build it), else
    the log's last lines."""
    lines = output.splitlines()
    said = [line for line in lines if line.startswith(("error: ", "hint: "))]
    return "\n".join(f"  {line}" for line in (said or lines[-FAILURE_TAIL_LINES:]))


def _firmware_key_settings(key: FirmwareKey) -> dict[str, str]:
    """How debian/rules' firmware step is given the key (picohub_release.firmware)."""
    settings = {ENV_SIGNING_KEY: str(key.path.resolve())}
    if key.signatures is not None:
        settings[ENV_SIGNATURES] = str(key.signatures.resolve())
    return settings


def build_debs(
    source_dir: Path,
    dist_dir: Path,
    work_dir: Path,
    *,
    version: str | None = None,
    when: str = "Tue, 24 Nov 2026 12:00:00 +0000",
    keyring: Path | None = None,
    patch: Callable[[Path], None] | None = None,
    firmware_key: FirmwareKey | None = None,
) -> Build:
    """Build every binary package into ``dist_dir``; ``version`` stamps a test release.

    ``keyring`` is the release key devices will trust (shipped in picohub); without one,
    the public part of the local throwaway release key. ``firmware_key`` signs the
    firmware manifest; without one, the local throwaway firmware key.
    """
    if firmware_key is None:
        firmware_key = local_firmware_key()
    if keyring is None:
        keyring = work_dir / "picohub-archive-keyring.gpg"
        keyring.parent.mkdir(parents=True, exist_ok=True)
        keyring.write_bytes(local_signer(LOCAL_KEY_DIR).public_key(armor=False))
    staged = stage(source_dir, work_dir)
    if patch is not None:  # tests build deliberately broken releases this way
        patch(staged)
    if version is not None:
        stamp_version(staged, version, message=f"Test build of {version}.", when=when)
    built_version = check_release_version(changelog_version(staged))
    if upstream_part(built_version) != python_version(staged):
        raise PicohubError(
            f"debian/changelog says {built_version} but src/picohub/__init__.py says "
            f"{python_version(staged)}",
            hint="keep __version__ equal to the changelog's upstream version",
        )
    for old in work_dir.glob("picohub*_*"):
        old.unlink()
    log.info("building picohub %s in %s", built_version, staged)
    # -b: binary packages only (all are Architecture: all); unsigned, the release signs
    # the repository index instead. PATH is the system's: a Debian package is built with
    # Debian's python3, never a virtual environment's or pyenv's.
    result = run(
        ["dpkg-buildpackage", "-b", "-us", "-uc", "--no-pre-clean"],
        cwd=staged,
        env={"PATH": SYSTEM_PATH, "PICOHUB_ARCHIVE_KEYRING": str(keyring.resolve())}
        | {k: os.environ[k] for k in FIRMWARE_SETTINGS if k in os.environ}
        | _firmware_key_settings(firmware_key),
        timeout=1200,
        check=False,
    )
    build_log = work_dir / "build.log"
    build_log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise PicohubError(
            f"dpkg-buildpackage failed for picohub {built_version}:\n"
            + _failure_lines(result.stdout + result.stderr),
            hint=f"the whole build output is in {build_log}",
        )
    # The build's own warnings (a packaged test firmware image above all) must reach the
    # person who ran it, not only the log file.
    for line in build_log.read_text(encoding="utf-8").splitlines():
        if line.startswith(("WARNING:", "warning:")):
            log.warning("%s", line.partition(":")[2].removeprefix(" "))
    dist_dir.mkdir(parents=True, exist_ok=True)
    debs = []
    for deb in sorted(work_dir.glob(f"*_{built_version}_*.deb")):
        target = dist_dir / deb.name
        shutil.move(deb, target)
        debs.append(target)
    if not debs:
        raise PicohubError(f"dpkg-buildpackage produced no .deb for {built_version}")
    return Build(version=built_version, debs=tuple(debs))
