"""A cached Debian root file system for the system tests, built once with debootstrap.

The mirror is the one the host's own apt sources name, never a hard-coded one. Besides
the booted base, the root holds apt lists and the downloaded (not installed) .debs of
everything picohub's packages depend on, so a container installs them with apt while
having no network at all.

A root of another architecture (arm64, what a Raspberry Pi runs) is built and booted the
same way, its programs run by qemu-user through the kernel's binfmt_misc (see emulation).

Run ``python -m tests.system.rootfs SUITE [ARCH]`` to build one ahead of the tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from debian.deb822 import Deb822

from picohub.errors import PicohubError
from picohub.process import run
from tests.system.emulation import host_arch, need_emulation

log = logging.getLogger(__name__)

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "rootfs"
# Booted with systemd as PID 1; python3 runs the test clients inside.
INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3")
# What picohub's packages pull in from the archive, downloaded ahead for offline installs.
PRELOAD = (
    *("gunicorn", "python3-flask", "python3-debian", "python3-requests", "nginx", "gpgv"),
    # Not a dependency: the automatic-update tests run the real NetworkManager.
    "network-manager",
)
# Bump when the recipe below changes in a way the lists above do not show.
RECIPE = 1


def apt_sources(sources_dir: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled binary source, deb822 and one-line alike."""
    found: list[tuple[str, list[str]]] = []
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        with path.open(encoding="utf-8") as handle:
            for paragraph in Deb822.iter_paragraphs(handle):
                types = paragraph.get("Types", "").split()
                if "deb" in types and paragraph.get("Enabled", "yes") != "no":
                    suites = paragraph.get("Suites", "").split()
                    found += [(uri, suites) for uri in paragraph.get("URIs", "").split()]
    one_line = [
        sources_dir / "sources.list",
        *sorted((sources_dir / "sources.list.d").glob("*.list")),
    ]
    for path in (path for path in one_line if path.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb":
                found.append((words[1], [words[2]]))
    return found


def host_mirror(suite: str, sources_dir: Path = Path("/etc/apt")) -> str:
    """The first URI in the host's apt sources that serves ``suite`` (or its base name);
    else the one serving the host's own release (a Debian mirror serves every suite).

    A host that is not Debian (a GitHub runner is Ubuntu) names one in PICOHUB_TEST_MIRROR.
    """
    if os.environ.get("PICOHUB_TEST_MIRROR"):
        return os.environ["PICOHUB_TEST_MIRROR"]
    base = suite.split("-", maxsplit=1)[0]
    candidates = apt_sources(sources_dir)
    own = _host_codename(sources_dir.parent / "os-release")
    for wanted in (base, suite, own):
        for uri, suites in candidates:
            if wanted and wanted in suites:
                return uri
    raise PicohubError(
        f"no apt source on this machine serves Debian {base}",
        hint="the system tests take their mirror from the host's /etc/apt sources; "
        "on a host that is not Debian, set PICOHUB_TEST_MIRROR to a Debian mirror's URL",
    )


def _host_codename(os_release: Path) -> str | None:
    try:
        for line in os_release.read_text(encoding="utf-8").splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"') or None
    except OSError:
        return None
    return None


def _label(suite: str, arch: str | None) -> str:
    return suite if arch in (None, host_arch()) else f"{suite}-{arch}"


def root_path(suite: str, arch: str | None = None) -> Path:
    """Where the root for ``suite`` (on ``arch``, the host's by default) is cached."""
    label = _label(suite, arch)
    key = hashlib.sha256(repr((label, INCLUDE, PRELOAD, RECIPE)).encode()).hexdigest()[:12]
    return CACHE / f"{label}-{key}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one builder, however many test workers
        yield


def ensure_root(suite: str = "bookworm", arch: str | None = None) -> Path:
    """The cached root for ``suite`` on ``arch`` (the host's by default), built first if it
    is not there yet."""
    label = _label(suite, arch)
    foreign = label != suite
    if foreign:
        assert arch is not None
        need_emulation(arch)
    root = root_path(suite, arch)
    with _locked(CACHE / f"{label}.lock"):
        if (root / ".complete").exists():
            return root
        for stale in _stale_roots(label):
            shutil.rmtree(stale)
        partial = root.with_name(root.name + ".partial")
        mirror = host_mirror(suite)
        log.info("building the %s test root from %s (once; cached in %s)", label, mirror, root)
        run(
            [
                "debootstrap",
                "--variant=minbase",
                *([f"--arch={arch}"] if foreign else []),
                f"--include={','.join(INCLUDE)}",
                suite,
                partial,
                mirror,
            ],
            timeout=1800 if foreign else 1200,
        )
        (partial / "etc" / "hostname").write_text("picohub-test\n", encoding="utf-8")
        run(["chroot", partial, "apt-get", "update", "-qq"], timeout=600)
        run(
            ["chroot", partial, "apt-get", "install", "--download-only", "-y", "-qq", *PRELOAD],
            env={"DEBIAN_FRONTEND": "noninteractive"},
            timeout=1200,
        )
        (partial / ".complete").write_text(f"{label} from {mirror}\n", encoding="utf-8")
        partial.rename(root)
    return root


def _stale_roots(label: str) -> list[Path]:
    """Earlier builds of this suite and architecture (another recipe), finished or not;
    never another architecture's root, whose name starts the same."""
    pattern = re.compile(re.escape(label) + r"-[0-9a-f]{12}(\.partial)?")
    return [path for path in CACHE.glob(f"{label}-*") if pattern.fullmatch(path.name)]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(ensure_root(*sys.argv[1:3]))
    except PicohubError as exc:
        sys.exit(f"error: {exc}")
