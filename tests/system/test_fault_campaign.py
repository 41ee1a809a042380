"""The fault campaign (tests/system/faults.py) on a booted bookworm: a power cut at each
point of an update, then a boot; each must end healthy on one of the two releases, every
package at one version, the data intact and the journal closed. ``make test`` runs a
subset (faults.SUBSET); ``make faults`` runs every point (PICOHUB_FAULTS=all) and prints
the table, which is also written to tests/artifacts/faults-DISTRIBUTION.txt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub_release.build import Build, build_debs
from tests.conftest import SOURCE, next_version
from tests.system import faults
from tests.system.conftest import PORT, _repository, point_updater_at, serve_releases
from tests.system.container import Container
from tests.system.distributions import Distribution
from tests.system.journeys import apt_install, healthy_version, heartbeat, never_healthy

CHOSEN = [
    point
    for point in faults.POINTS
    if os.environ.get("PICOHUB_FAULTS") == "all" or point.name in faults.SUBSET
]


def _holding_and_unhealthy(tree: Path) -> None:
    faults.hold_in_scripts(tree)
    never_healthy(tree)


@pytest.fixture(scope="module")
def releases(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """The release every point starts from, and the two it updates to: one that holds in
    its scripts, and the same failing its health check."""
    built = {"from": release_a}
    for name, step, patch in (
        ("healthy", 10, faults.hold_in_scripts),
        ("unhealthy", 11, _holding_and_unhealthy),
    ):
        base = tmp_path_factory.mktemp(f"faults-{name}")
        version = next_version(release_a.version, step)
        built[name] = build_debs(SOURCE, base / "dist", base / "work", version=version, patch=patch)
    return built


@pytest.fixture(scope="module")
def download_hold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults") / "hold-downloads"


@pytest.fixture(scope="module")
def published(
    releases: dict[str, Build], tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[str, Path]]:
    return [
        (f"v{build.version}", _repository(build, tmp_path_factory).directory)
        for build in releases.values()
    ]


@pytest.fixture
def github(
    container: Container, published: list[tuple[str, Path]], download_hold: Path
) -> Iterator[str]:
    """The fake GitHub, in the container's network namespace: a power cut takes it away
    with the namespace, so each point starts its own."""
    with serve_releases(container, published, [f"--hold-debs-while={download_hold}"]) as url:
        yield url


@pytest.fixture(scope="module")
def hub(container: Container, releases: dict[str, Build]) -> Build:
    apt_install(container, releases["from"])
    assert healthy_version(container) == releases["from"].version
    assert heartbeat(container, "pico-cellar", "1.0.0")[0] == 200
    _health_timeout(container, FAILING_FAST)
    return releases["from"]


# A release that fails its health check fails in 10 s, so the campaign stays short; the
# rollback that resets the hub between points gives the app the default's time, as a
# loaded machine may need more than 10 s to start it.
FAILING_FAST = 10
RESETTING = 90


def _health_timeout(container: Container, seconds: int) -> None:
    url = f"http://127.0.0.1:{PORT}"
    point_updater_at(container, url, f"[update]\\nhealth_timeout = {seconds}\\n")


def _reset(container: Container) -> None:
    """Back to the release every point starts from; says why when it cannot."""
    _health_timeout(container, RESETTING)
    try:
        done = container.run(["picohub-update", "rollback", "--wait"], check=False, timeout=600)
    finally:
        _health_timeout(container, FAILING_FAST)
    status = container.run(["picohub-update", "status"], check=False).stdout
    assert done.returncode == 0, done.stdout + done.stderr + status


@pytest.fixture(scope="module")
def outcomes(distribution: Distribution) -> Iterator[list[faults.Outcome]]:
    """The campaign's table: written once every point has run, and printed at the end of
    the run (tests/system/conftest.py)."""
    rows: list[faults.Outcome] = []
    yield rows
    if rows:
        faults.TABLE_DIR.mkdir(exist_ok=True)
        table = faults.TABLE_DIR / f"faults-{distribution.name}.txt"
        table.write_text(faults.table(rows) + "\n")


@pytest.mark.parametrize("point", CHOSEN, ids=[point.name for point in CHOSEN])
def test_a_power_cut_here_ends_healthy_on_one_release_with_the_data(
    container: Container,
    hub: Build,
    github: str,
    releases: dict[str, Build],
    download_hold: Path,
    outcomes: list[faults.Outcome],
    point: faults.FaultPoint,
) -> None:
    target = releases["unhealthy" if point.unhealthy else "healthy"]
    outcome = faults.cut_at(container, point, target.version, download_hold)
    assert outcome.ended_on in (hub.version, target.version), outcome
    assert faults.one_release(container) == outcome.ended_on
    faults.data_intact(container, ["pico-cellar"])
    if point.unhealthy:
        assert outcome.ended_on == hub.version, outcome  # never left on the failing one
    outcomes.append(outcome)
    # The next point starts from the same place.
    if outcome.ended_on != hub.version:
        _reset(container)
    assert healthy_version(container) == hub.version
