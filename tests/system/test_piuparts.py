"""piuparts, Debian's install, upgrade and purge tester, on picohub's packages: picohub,
picohub-web, picohub-firmware and picohub-archive-keyring (which picohub depends on),
tested together as one release.

Its two tests: the packages (release B) installed into a clean bookworm, removed and
installed again, then purged, with nothing left behind; and the previous release (A),
installed with apt from its own signed repository, upgraded to B, then purged. Their
dependencies come from the mirror the host's apt sources name. The clean bookworm is a
copy of the system tests' cached root (--existing-chroot): piuparts runs no init in it,
so the maintainer scripts must do right without a running systemd, as in an image build.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from picohub.process import run
from picohub_release.build import Build
from picohub_release.repository import KEYRING, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import need_tools
from tests.system.rootfs import host_mirror

PASSED = (
    "PASS: Installation and purging test.",
    "PASS: Installation, upgrade and purging tests.",  # not skipped: apt knew release A
    "PASS: All tests.",
)
# piuparts' own log lines start with the time since it started and a level.
LOG_LINE = re.compile(r"^\d+m\d+\.\ds (DEBUG|DUMP|INFO|ERROR|WARNING|CRITICAL): ")


def problems(output: str) -> tuple[list[str], list[str]]:
    """piuparts' ERROR lines other than its broken-symlink warning, and the broken symlinks
    it listed ("PATH -> TARGET (PACKAGE)")."""
    errors: list[str] = []
    symlinks: list[str] = []
    listing = False
    for line in output.splitlines():
        if LOG_LINE.match(line):
            listing = " ERROR: WARN: Broken symlinks:" in line
            if " ERROR: " in line and not listing:
                errors.append(line)
        elif listing and line.strip():
            symlinks.append(line.strip())
    return errors, symlinks


def test_piuparts_installs_upgrades_and_purges_cleanly(
    bookworm_root: Path, release_a: Build, release_b: Build, tmp_path: Path
) -> None:
    need_tools("piuparts")
    signer = local_signer(LOCAL_KEY_DIR)  # the key the test builds' keyrings hold
    previous = write_repository(
        release_a.debs, tmp_path / "previous", signer, version=release_a.version
    ).directory
    log = tmp_path / "piuparts.log"
    started = time.monotonic()
    result = run(
        [
            "piuparts",
            f"--tmpdir={tmp_path}",
            f"--existing-chroot={bookworm_root}",
            "--distribution=bookworm",
            f"--mirror={host_mirror('bookworm')} main",
            # Release A, verified by its own key as a hub verifies it, for the upgrade test.
            f"--bindmount={previous}",
            f"--extra-repo=deb [signed-by={previous / KEYRING}] file://{previous} ./",
            "--install-remove-install",
            "--pedantic-purge-test",  # files left in /tmp count too
            f"--log-file={log}",
            *[str(deb) for deb in release_b.debs],
        ],
        check=False,
        timeout=1200,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    tail = f"piuparts exited {result.returncode}; its log: {log}\n{output[-6000:]}"
    assert result.returncode == 0, tail
    for verdict in PASSED:
        assert verdict in output, tail
    errors, symlinks = problems(output)
    assert errors == [], tail
    # A dangling link of a dependency's (bookworm's nginx-common ships
    # /usr/share/nginx/modules, whose target only nginx's module packages make) is
    # Debian's; none may be ours.
    assert [link for link in symlinks if "picohub" in link] == [], symlinks
    print(f"piuparts: PASS in {took:.0f} s; broken symlinks of other packages: {symlinks}")
