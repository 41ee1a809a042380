"""A release that asks for more than picohub, on a booted bookworm: the updater simulates
the install over the release and the hub's own sources and refuses, before anything
changes, a release that would also install a Debian package the hub lacks (until the
administrator accepts it from a shell), one that needs a package no source offers, and
one that carries a package of its own beside picohub's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from picohub.process import run
from picohub_release.build import Build, build_debs
from tests.conftest import SOURCE, next_version
from tests.system.conftest import hub_on
from tests.system.container import Container
from tests.system.journeys import device_ids, healthy_version

# In the hub's Debian lists and its apt cache (the test root preloads it), not installed.
DEBIAN_PACKAGE = "dns-root-data"
# No source on the hub offers it.
MISSING = "picohub-test-missing"
# The release's own index carries it beside picohub's packages.
STOWAWAY = "picohub-test-stowaway"


def _depending_on(package: str) -> Callable[[Path], None]:
    def patch(tree: Path) -> None:
        control = tree / "debian" / "control"
        text = control.read_text()
        assert "Depends: apt,\n" in text
        control.write_text(text.replace("Depends: apt,\n", f"Depends: apt,\n {package},\n", 1))

    return patch


def _stowaway(folder: Path) -> Path:
    tree = folder / "stowaway"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {STOWAWAY}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: not picohub\n not picohub\n"
    )
    deb = folder / f"{STOWAWAY}_1.0_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], timeout=60)
    return deb


@pytest.fixture(scope="module")
def releases(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    builds = {}
    for step, (name, package) in enumerate(
        (("missing", MISSING), ("stowaway", STOWAWAY), ("debian", DEBIAN_PACKAGE)), start=1
    ):
        base = tmp_path_factory.mktemp(f"plan-{name}")
        version = next_version(release_a.version, step)
        build = build_debs(
            SOURCE, base / "dist", base / "work", version=version, patch=_depending_on(package)
        )
        if name == "stowaway":
            build = Build(build.version, (*build.debs, _stowaway(base)))
        builds[name] = build
    return builds


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    releases: dict[str, Build],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Build]:
    with hub_on(container, release_a, list(releases.values()), tmp_path_factory) as hub:
        yield hub


def _apply(container: Container, version: str, *options: str) -> tuple[int, str]:
    result = container.run(
        ["picohub-update", "apply", version, "--wait", *options], check=False, timeout=600
    )
    return result.returncode, result.stderr


def _refused_and_unchanged(container: Container, stderr: str, hub: Build) -> str:
    status = json.loads(container.run(["picohub-update", "status", "--json"]).stdout)
    assert status["phase"] == "failed", status
    assert status["message"].startswith("nothing was changed: "), status
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]
    states = container.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", "picohub"]
    ).stdout
    assert states.strip() == "picohub installed"
    assert status["message"] in stderr
    return str(status["message"])


def _installed(container: Container, package: str) -> bool:
    result = container.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], check=False)
    return result.stdout == "installed"


def test_a_dependency_no_source_offers_is_refused_before_anything_changes(
    container: Container, hub: Build, releases: dict[str, Build]
) -> None:
    code, stderr = _apply(container, releases["missing"].version)
    assert code != 0
    message = _refused_and_unchanged(container, stderr, hub)
    assert f"install it first with: sudo apt install {MISSING};" in message


def test_a_package_the_release_carries_beside_picohub_is_refused_even_when_accepted(
    container: Container, hub: Build, releases: dict[str, Build]
) -> None:
    version = releases["stowaway"].version
    for options in ((), ("--accept-new-dependencies",)):
        code, stderr = _apply(container, version, *options)
        assert code != 0
        message = _refused_and_unchanged(container, stderr, hub)
        assert f"would also install {STOWAWAY} 1.0 from its own index" in message
    assert not _installed(container, STOWAWAY)


def test_a_new_debian_package_is_refused_then_installed_once_accepted(
    container: Container, hub: Build, releases: dict[str, Build]
) -> None:
    version = releases["debian"].version
    assert not _installed(container, DEBIAN_PACKAGE)
    code, stderr = _apply(container, version)
    assert code != 0
    message = _refused_and_unchanged(container, stderr, hub)
    assert f"would also install {DEBIAN_PACKAGE} " in message
    assert "(from Debian:" in message
    assert f"apply {version} --accept-new-dependencies" in message
    assert not _installed(container, DEBIAN_PACKAGE)

    code, stderr = _apply(container, version, "--accept-new-dependencies")
    assert code == 0, stderr
    assert healthy_version(container) == version
    assert _installed(container, DEBIAN_PACKAGE)
    assert device_ids(container) == ["pico-cellar"]
