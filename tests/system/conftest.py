"""System tests: a real Debian booted with systemd in a container, one per test module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from picohub_release.build import Build
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import SOURCE
from tests.system.container import Container, booted
from tests.system.distributions import (
    ARM64_JOURNEYS,
    DEFAULT_DISTRIBUTIONS,
    DISTRIBUTIONS,
    Distribution,
)
from tests.system.journeys import apt_install, healthy_version, heartbeat


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = {d.name for d in selected_distributions(config)}
    kept, dropped = [], []
    for item in items:
        if "tests/system/" in str(item.path):
            item.add_marker(pytest.mark.system)
            if not _runs_in_this_lane(item, chosen):
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _runs_in_this_lane(item: pytest.Item, chosen: set[str]) -> bool:
    """arm64 runs only ARM64_JOURNEYS; a test that boots no container per distribution
    (the demo) runs where bookworm does."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "distribution" not in callspec.params:
        return "bookworm" in chosen
    distribution = callspec.params["distribution"]
    if not isinstance(distribution, Distribution):
        return False  # the module's ON_DISTRIBUTIONS names none of this lane's
    if distribution.name != "arm64":
        return True
    return item.nodeid.split("::", 1)[0] in ARM64_JOURNEYS


def selected_distributions(config: pytest.Config) -> tuple[Distribution, ...]:
    names = tuple(config.getoption("distribution")) or DEFAULT_DISTRIBUTIONS
    unknown = sorted(set(names) - DISTRIBUTIONS.keys())
    if unknown:
        raise pytest.UsageError(
            f"--distribution {', '.join(unknown)}: not one of {', '.join(DISTRIBUTIONS)}"
        )
    return tuple(DISTRIBUTIONS[name] for name in names)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that boots a container runs on each distribution the run selects; a
    module may name fewer in ``ON_DISTRIBUTIONS`` (a test of the harness itself)."""
    if "distribution" not in metafunc.fixturenames:
        return
    chosen = selected_distributions(metafunc.config)
    only = getattr(metafunc.module, "ON_DISTRIBUTIONS", None)
    if only is not None:
        chosen = tuple(d for d in chosen if d.name in only)
    metafunc.parametrize(
        "distribution", chosen, ids=[d.name for d in chosen], indirect=True, scope="module"
    )


@pytest.fixture(scope="module")
def distribution(request: pytest.FixtureRequest) -> Distribution:
    chosen: Distribution = request.param
    return chosen


@pytest.fixture(scope="session")
def bookworm_root() -> Path:
    return DISTRIBUTIONS["bookworm"].root()


@pytest.fixture(scope="module")
def container(
    distribution: Distribution, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """A freshly booted system of ``distribution`` for this module; its changes vanish
    with it."""
    root = distribution.root()
    with booted(
        root,
        tmp_path_factory.mktemp(distribution.name),
        boot_timeout=60 * distribution.slowness,
        stop_timeout=30 * distribution.slowness,
    ) as machine:
        if distribution.arch is not None:
            arch = machine.run(["dpkg", "--print-architecture"]).stdout.strip()
            assert arch == distribution.arch
        machine.run(["grep", "-qx", f"VERSION_CODENAME={distribution.suite}", "/etc/os-release"])
        yield machine


# A local server answering like GitHub, run in the container's network namespace (so
# the hub reaches it at its own 127.0.0.1), with releases A and B (the latest).
PORT = 8000


def _repository(
    build: Build, factory: pytest.TempPathFactory, phase: int | None = None
) -> Repository:
    # Signed by the key the test builds pin in picohub (the local throwaway key).
    signer = local_signer(LOCAL_KEY_DIR)
    return write_repository(
        build.debs, factory.mktemp("repo") / "repo", signer, version=build.version, phase=phase
    )


@contextmanager
def serve_releases(
    container: Container, releases: Sequence[tuple[str, Path]], options: Sequence[str] = ()
) -> Iterator[str]:
    """Serve ``releases`` (tag, repository directory; the last is latest) from inside the
    container's network namespace; yields the base URL the hub uses. ``options`` go to
    ``python -m tests.fakegithub``."""
    server = subprocess.Popen(
        [
            "nsenter", f"--net=/proc/{container.leader}/ns/net", "--",
            sys.executable, "-m", "tests.fakegithub", "--port", str(PORT), "--no-token",
            *[f"--release={tag}={directory}" for tag, directory in releases],
            *options,
        ],
        cwd=SOURCE,
        env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once it listens
        assert url == f"http://127.0.0.1:{PORT}", url
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def hub_on(
    container: Container,
    first: Build,
    published: Sequence[Build],
    factory: pytest.TempPathFactory,
    extra: str = "",
) -> Iterator[Build]:
    """A hub on ``first``, installed with apt (one device registered, "pico-cellar"),
    its updater pointed at a local GitHub serving ``first`` and ``published``."""
    releases = [
        (f"v{build.version}", _repository(build, factory).directory)
        for build in (first, *published)
    ]
    with serve_releases(container, releases) as url:
        apt_install(container, first)
        assert healthy_version(container) == first.version
        assert heartbeat(container, "pico-cellar", "1.0.0")[0] == 200
        point_updater_at(container, url, extra)
        yield first


def point_updater_at(container: Container, url: str, extra: str = "") -> None:
    container.sh(
        f"printf '[github]\\ndownload_url = {url}\\napi_url = {url}/api\\n{extra}'"
        " > /etc/picohub/update.conf"
    )


@pytest.fixture(scope="module")
def github(
    container: Container,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    releases = [
        (f"v{build.version}", _repository(build, tmp_path_factory).directory)
        for build in (release_a, release_b)
    ]
    with serve_releases(container, releases) as url:
        yield url
