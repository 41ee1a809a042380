"""The fault campaign: the power cut at many points of one update, each followed by a boot
that must end healthy on one of the two releases, the data intact, the journal closed.

The points come from the journal's steps (every :class:`Step` but the end: a new step is
covered without a word here), held by the updater itself (:mod:`picohub.update.hold`),
and from inside the work of a step: the download (the fake GitHub stops a .deb halfway),
each package's unpack (its preinst waits) and configure (its postinst waits), and the
rollback (the prerm of the release it leaves waits). A release that fails its health
check takes the hub through converging and the rollback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picohub.settings import RELEASE_PACKAGES
from picohub.update.faultpoint import VARIABLE
from picohub.update.journal import Step
from tests.conftest import FAULT_TABLES
from tests.system.container import Container, wait_for
from tests.system.journeys import device_ids, healthy_version

# In the container's /run (a tmpfs): every marker is gone after the power cut.
HOLD = "/run/picohub-fault"
SCRIPT_HOOK = """
if [ -e {hold}/{name} ]; then
    touch {hold}/{name}.reached
    while [ -e {hold}/{name} ]; do sleep 0.1; done
fi
"""


@dataclass(frozen=True)
class FaultPoint:
    name: str  # what the table shows
    marker: str  # the file in HOLD that holds the run there ("" for the download)
    unhealthy: bool = False  # cut in an update to the release that fails its health check

    @property
    def reached(self) -> str:
        return f"{HOLD}/{self.marker}.reached"


def _step_points() -> list[FaultPoint]:
    points = []
    for step in Step:
        if step is Step.ENDED:
            continue
        # Converging happens only after a failure: the release that fails gets there.
        unhealthy = step is Step.CONVERGING
        points.append(FaultPoint(f"step {step}", f"step-{step}", unhealthy))
    return points


POINTS: tuple[FaultPoint, ...] = (
    *_step_points(),
    FaultPoint("mid-download of a package", ""),
    *(FaultPoint(f"mid-unpack of {p}", f"preinst-{p}") for p in RELEASE_PACKAGES),
    FaultPoint("mid-configure of picohub", "postinst-picohub"),
    FaultPoint("health wait of a failing release", "step-confirming", unhealthy=True),
    FaultPoint("rollback, mid-unpack of the older release", "prerm-picohub", unhealthy=True),
)
# What make test runs: one point of each kind of place.
SUBSET = (
    "step downloading",
    "mid-unpack of picohub-web",
    "mid-configure of picohub",
    "rollback, mid-unpack of the older release",
)


def hold_in_scripts(tree: Path) -> None:
    """A build patch: each package's preinst and postinst (and picohub's prerm, as an
    upgrade to an older version replaces it) wait while their marker exists."""
    debian = tree / "debian"
    for package in RELEASE_PACKAGES:
        _insert(
            debian / f"{package}.preinst", SCRIPT_HOOK.format(hold=HOLD, name=f"preinst-{package}")
        )
        _append(
            debian / f"{package}.postinst",
            SCRIPT_HOOK.format(hold=HOLD, name=f"postinst-{package}"),
        )
    prerm = SCRIPT_HOOK.format(hold=HOLD, name="prerm-picohub")
    _insert(debian / "picohub.prerm", f'if [ "$1" = upgrade ]; then\n{prerm}\nfi\n')


def _insert(script: Path, hook: str) -> None:
    """``hook`` at the top of ``script`` (made with the debhelper token if missing)."""
    text = script.read_text() if script.exists() else "#!/bin/sh\nset -e\n#DEBHELPER#\n"
    head, _, rest = text.partition("set -e\n")
    script.write_text(f"{head}set -e\n{hook}{rest}")


def _append(script: Path, hook: str) -> None:
    """``hook`` at the end of ``script``, after what debhelper adds (the restart)."""
    text = script.read_text() if script.exists() else "#!/bin/sh\nset -e\n#DEBHELPER#\n"
    script.write_text(text.rstrip("\n") + "\n" + hook)


# The tables of the campaigns this run made: printed in the run's summary too.
TABLE_DIR = FAULT_TABLES


@dataclass(frozen=True)
class Outcome:
    point: str
    ended_on: str
    seconds_to_healthy: float
    result: str  # the journal's


def cut_at(
    container: Container,
    point: FaultPoint,
    version: str,
    download_hold: Path,
) -> Outcome:
    """Start the update to ``version``, hold it at ``point``, cut the power, boot, and
    wait until the hub is healthy with its journal closed."""
    container.run(["mkdir", "-p", HOLD])
    if point.marker:
        container.run(["touch", f"{HOLD}/{point.marker}"])
    else:
        download_hold.touch()
    try:
        container.run(["env", f"{VARIABLE}={HOLD}", "picohub-update", "apply", version])
        wait_for(
            _reached(container, point),
            timeout=300,
            what=f"the update to reach {point.name}",
        )
        container.power_cut()
    finally:
        download_hold.unlink(missing_ok=True)
    started = time.monotonic()
    container.boot()
    journal = wait_for(
        lambda: (j := journal_of(container)) is not None and j.get("result") and j,
        timeout=600,
        what=f"the journal to close after a power cut at {point.name}",
    )
    ended_on = healthy_version(container, timeout=300)
    return Outcome(point.name, ended_on, time.monotonic() - started, str(journal["result"]))


def _reached(container: Container, point: FaultPoint) -> Callable[[], bool]:
    if point.marker:
        return lambda: container.run(["test", "-e", point.reached], check=False).returncode == 0

    def half_downloaded() -> bool:
        # A .part file with bytes in it: the download is under way, halfway at most.
        found = container.sh(
            "find /var/cache/picohub/releases -name '*.part' -size +0 | head -1", check=False
        ).stdout
        return bool(found.strip())

    return half_downloaded


def journal_of(container: Container) -> dict[str, object] | None:
    shown = container.run(["cat", "/var/lib/picohub-update/journal.json"], check=False)
    if shown.returncode != 0:
        return None
    try:
        data: dict[str, object] = json.loads(shown.stdout)
    except ValueError:
        return None
    return data


def one_release(container: Container) -> str:
    """Every package of the release installed at one version, dpkg idle; that version."""
    shown = container.run(
        ["dpkg-query", "--showformat=${db:Status-Status} ${Version}\\n", "--show",
         *RELEASE_PACKAGES]
    ).stdout.split("\n")  # fmt: skip
    states = {line for line in shown if line}
    assert len(states) == 1, states
    status, version = states.pop().split()
    assert status == "installed", status
    assert container.run(["dpkg", "--audit"]).stdout == ""
    return version


def data_intact(container: Container, devices: list[str]) -> None:
    assert sorted(device_ids(container)) == sorted(devices)


def table(outcomes: list[Outcome]) -> str:
    width = max([len("point"), *(len(o.point) for o in outcomes)])
    lines = [
        f"{'point':<{width}}  {'ended on':<9}  {'result':<11}  seconds to healthy",
        f"{'-' * width}  {'-' * 9}  {'-' * 11}  {'-' * 18}",
    ]
    lines += [
        f"{o.point:<{width}}  {o.ended_on:<9}  {o.result:<11}  {o.seconds_to_healthy:.1f}"
        for o in outcomes
    ]
    return "\n".join(lines)
