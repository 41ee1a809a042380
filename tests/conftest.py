"""Fixtures shared by every test layer: the source tree and packages built from it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from picohub_release.build import Build, build_debs
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


# The fault campaign's table (tests/system/test_fault_campaign.py), written by whichever
# process ran it (an xdist worker): shown in the run's summary when this run wrote it.
FAULT_TABLE = SOURCE / "tests" / "artifacts" / "faults.txt"
_STARTED: list[float] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED.append(time.time())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    table = FAULT_TABLE
    if not _STARTED or not table.exists() or table.stat().st_mtime < _STARTED[0]:
        return
    terminalreporter.write_sep("-", "fault campaign: a power cut at each point, then a boot")
    for line in table.read_text().splitlines():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def source_dir() -> Path:
    return SOURCE


@pytest.fixture(scope="session")
def current_version() -> str:
    return changelog_version(SOURCE)


def _build(factory: pytest.TempPathFactory, label: str, version: str | None) -> Build:
    need_tools("dpkg-buildpackage", "git")
    base = factory.mktemp(label)
    return build_debs(SOURCE, base / "dist", base / "work", version=version)


@pytest.fixture(scope="session")
def release_a(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The packages of this source tree, as it stands."""
    return _build(tmp_path_factory, "release-a", None)


@pytest.fixture(scope="session")
def release_b(tmp_path_factory: pytest.TempPathFactory, current_version: str) -> Build:
    """The same tree released again as a later version."""
    return _build(tmp_path_factory, "release-b", next_version(current_version, 1))


@pytest.fixture(scope="session")
def release_c(tmp_path_factory: pytest.TempPathFactory, current_version: str) -> Build:
    return _build(tmp_path_factory, "release-c", next_version(current_version, 2))
