"""``make demo`` as a user runs it from a clone: it ends on release 2, and its timeline,
read from the real updater's journal and the web API, shows every step of the update.
The timeline's reader matches the updater's log lines; this is what keeps them in step."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from picohub.errors import UsageError
from tests.conftest import SOURCE, need, next_version
from tools.demo.preflight import preflight
from tools.demo.timeline import Step

# A timeline line: "     +3.51 s  done      updated to 0.1.1"
TIMELINE_LINE = re.compile(r"\s+\+\d+\.\d\d s  (?P<step>\w+)\s+(?P<text>.*)")


@pytest.fixture(scope="module")
def demo(bookworm_root: Path) -> subprocess.CompletedProcess[str]:
    """One run of the demo for the module (about 40 s): the container's root is the
    cached one the other system tests use."""
    try:
        preflight()
    except UsageError as exc:  # the demo shares this machine's network
        need(False, f"the demo cannot run here: {exc}")
    return subprocess.run(
        [sys.executable, "-m", "tools.demo"],
        cwd=SOURCE,
        env={**os.environ, "PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_demo_updates_the_stand_in_pi_to_release_2(
    demo: subprocess.CompletedProcess[str], current_version: str
) -> None:
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert f"The hub runs picohub {next_version(current_version)}." in demo.stdout


def test_its_timeline_shows_every_step_from_the_real_journal(
    demo: subprocess.CompletedProcess[str], current_version: str
) -> None:
    lines = [m for m in map(TIMELINE_LINE.fullmatch, demo.stdout.splitlines()) if m]
    steps = [Step(m["step"]) for m in lines]
    journey = [
        Step.CHECK, Step.TRIGGER, Step.DOWNLOAD, Step.VERIFY, Step.INSTALL, Step.RESTART,
        Step.HEALTH, Step.DONE,
    ]  # fmt: skip
    assert [step for step in dict.fromkeys(steps) if step in journey] == journey, steps
    assert Step.WARNING not in steps and Step.FAILED not in steps
    target = next_version(current_version)
    texts = [m["text"] for m in lines]
    # A line of each step the updater logs, in order: if it logs them otherwise, the
    # timeline's reader must learn the new words.
    expected = [
        "checking for a release",
        f"fetching release {target}",
        "apt-get install picohub",
        "systemd: Started picohub.service",
        "apt-get install finished",
        f"waiting for picohub {target} to answer /healthz",
        f"confirmed: /healthz reports {target}",
        f"updated to {target}",
    ]
    found = [next((i for i, t in enumerate(texts) if t.startswith(e)), -1) for e in expected]
    assert -1 not in found and found == sorted(found), list(zip(expected, found, strict=True))


def test_it_leaves_nothing_running(demo: subprocess.CompletedProcess[str]) -> None:
    assert "==> cleaning up" in demo.stdout
    preflight()  # raises if a port it used is still held
