"""Fixtures shared by every test layer: the source tree and packages built from it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from picohub.errors import CommandError
from picohub.process import run
from picohub_release.build import Build, build_debs
from picohub_release.signing import LOCAL_KEY_DIR
from picohub_release.versions import changelog_version

SOURCE = Path(__file__).resolve().parents[1]


def need(condition: bool, reason: str) -> None:
    """Skip a test whose prerequisite is missing; under CI=true that is a failure."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def need_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    need(not missing, f"needs {', '.join(missing)} (run packaging/dev/bootstrap)")


def next_version(version: str, step: int = 1) -> str:
    """A later test version: 0.1.0 gives 0.1.1 (step 1), 0.1.2 (step 2)..."""
    head, _, last = version.rpartition(".")
    return f"{head}.{int(last) + step}"


# The fault campaign's tables (tests/system/test_fault_campaign.py), one a distribution
# (faults-bookworm.txt...), written by whichever process ran it (an xdist worker): shown
# in the run's summary when this run wrote them.
FAULT_TABLES = SOURCE / "tests" / "artifacts"
_STARTED: list[float] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--distribution",
        action="append",
        default=[],
        metavar="NAME",
        help="boot the system tests' containers on NAME (bookworm, trixie, arm64); "
        "repeat for more; bookworm and trixie when not given",
    )


# The local throwaway release key's gpg-agent outlives the gpg calls that start it. Every
# test process holds a shared lock on the key's folder; the last one to finish (make
# test's lanes run side by side) ends the agent, so no run leaves one behind and none
# ends it while another lane signs.
_KEY_USERS = LOCAL_KEY_DIR / ".users.lock"
_KEY_LOCK: list[IO[str]] = []


def pytest_configure(config: pytest.Config) -> None:
    LOCAL_KEY_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _KEY_USERS.open("a")
    fcntl.flock(lock, fcntl.LOCK_SH)
    _KEY_LOCK.append(lock)


def pytest_unconfigure(config: pytest.Config) -> None:
    for lock in _KEY_LOCK:
        fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another test process still uses the key
        else:
            with contextlib.suppress(CommandError):  # no gpgconf: no agent either
                run(["gpgconf", "--homedir", LOCAL_KEY_DIR, "--kill", "gpg-agent"], timeout=30)
        lock.close()
    _KEY_LOCK.clear()


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED.append(time.time())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for table in sorted(FAULT_TABLES.glob("faults-*.txt")):
        if not _STARTED or table.stat().st_mtime < _STARTED[0]:
            continue
        distribution = table.stem.removeprefix("faults-")
        terminalreporter.write_sep(
            "-", f"fault campaign on {distribution}: a power cut at each point, then a boot"
        )
        for line in table.read_text().splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def source_dir() -> Path:
    return SOURCE


@pytest.fixture(scope="session")
def current_version() -> str:
    return changelog_version(SOURCE)


def build_release(
    factory: pytest.TempPathFactory,
    label: str,
    version: str | None = None,
    patch: Callable[[Path], None] | None = None,
) -> Build:
    """A release of the tree (``version`` stamped, ``patch`` applied), built once per run:
    the pytest lane's xdist workers (each with its own base under the run's) share it
    through the run's folder; the first to ask builds it while the others wait, then they
    read what it wrote. ``label`` names it; the version and the patch are part of its key."""
    need_tools("dpkg-buildpackage", "git")
    run_base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_base = run_base.parent
    key = f"{label}-{version or 'tree'}" + (f"-{patch.__name__}" if patch else "")
    base = run_base / "shared-builds" / key
    base.mkdir(parents=True, exist_ok=True)
    record = base / "build.json"
    with (base / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.is_file():
            built = json.loads(record.read_text(encoding="utf-8"))
            return Build(built["version"], tuple(base / "dist" / name for name in built["debs"]))
        build = build_debs(SOURCE, base / "dist", base / "work", version=version, patch=patch)
        names = [deb.name for deb in build.debs]
        record.write_text(json.dumps({"version": build.version, "debs": names}), "utf-8")
        return build


@pytest.fixture(scope="session")
def release_a(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The packages of this source tree, as it stands."""
    return build_release(tmp_path_factory, "release-a")


@pytest.fixture(scope="session")
def release_b(tmp_path_factory: pytest.TempPathFactory, current_version: str) -> Build:
    """The same tree released again as a later version."""
    return build_release(tmp_path_factory, "release-b", next_version(current_version, 1))


@pytest.fixture(scope="session")
def release_c(tmp_path_factory: pytest.TempPathFactory, current_version: str) -> Build:
    return build_release(tmp_path_factory, "release-c", next_version(current_version, 2))
