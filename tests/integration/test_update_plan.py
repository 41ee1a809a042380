"""Real apt simulates an install over a signed release and the hub's own sources, against
the hub's dpkg database; a plan that takes more than picohub's packages is refused before
anything changes, with what it would do, and accepted only when the administrator says so."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from picohub.errors import CommandError
from picohub.process import run
from picohub.settings import Settings
from picohub.update import plan
from picohub.update.cache import Fetched
from picohub.update.plan import Action, PlanRefused, Verb, plan_install
from picohub_release.repository import KEYRING, write_repository
from picohub_release.signing import Signer
from tests.conftest import need, need_tools
from tests.integration.repo_fixtures import hub_settings

INSTALLED = "0.1.0"
NEW = "0.2.0"
# What dpkg has: release 0.1.0 and the Debian packages it depends on, and one it does not.
STATUS = {
    "picohub": "Depends: libdep",
    "picohub-web": "",
    "picohub-firmware": "",
    "libdep": "",
    "bystander": "",
}
# The hub's Debian source: a newer libdep and bystander, and a package the hub lacks.
DEBIAN = {"libdep": ("1.1", ""), "bystander": ("1.1", ""), "newdep": ("1.0", "")}


@pytest.fixture(scope="module", autouse=True)
def _apt() -> None:
    need_tools("apt-get", "dpkg-deb")
    need(os.geteuid() == 0, "apt-get needs root to read the hub's lists")


def _deb(folder: Path, name: str, version: str, relations: str = "") -> Path:
    tree = folder / f"{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: Test <test@example.org>\n{relations}{'' if not relations else chr(10)}"
        "Description: test\n test\n"
    )
    deb = folder / f"{name}_{version}_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], timeout=60)
    return deb


def _status(admin: Path) -> None:
    stanzas = []
    for name, relations in STATUS.items():
        version = INSTALLED if name.startswith("picohub") else "1.0"
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
            f"Architecture: all\nMaintainer: Test <test@example.org>\n"
            + (f"{relations}\n" if relations else "")
            + "Description: test\n"
        )
    (admin / "status").write_text("\n".join(stanzas))


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The hub's own sources (a flat repository standing in for Debian's mirror) and the
    lists apt fetched for them, as on a hub that ran apt update."""
    root = tmp_path_factory.mktemp("debian")
    repo = root / "repo"
    repo.mkdir()
    for name, (version, relations) in DEBIAN.items():
        _deb(repo, name, version, relations)
    packages = run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, timeout=60).stdout
    (repo / "Packages").write_text(packages)
    (repo / "Release").write_text("Origin: Debian\nLabel: Debian\nSuite: stable\n")
    sources = root / "sources.list"
    sources.write_text(f"deb [trusted=yes] file:{repo}/ ./\n")
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True)
    run(
        [
            "apt-get", "-q", "-o", f"Dir::Etc::SourceList={sources}",
            "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", f"Dir::State::Lists={lists}",
            "update",
        ],
        timeout=120,
    )  # fmt: skip
    return sources, lists


@pytest.fixture
def hub(
    tmp_path: Path,
    signer: Signer,
    debian: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    keyring = tmp_path / KEYRING
    keyring.write_bytes(signer.public_key(armor=False))
    settings = hub_settings(tmp_path, keyring, monkeypatch)
    _status(settings.dpkg_admin_dir)
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    sources, lists = debian
    return replace(settings, apt_sources_list=sources, apt_sources_parts=parts, apt_lists=lists)


def _release(
    settings: Settings, signer: Signer, relations: str, *, extra: tuple[str, ...] = ()
) -> Fetched:
    """Release 0.2.0, its picohub with ``relations``, signed; ``extra`` packages are in its
    index too (and not picohub's)."""
    folder = settings.cache_dir / "build"
    folder.mkdir(parents=True)
    debs = [_deb(folder, "picohub", NEW, relations), _deb(folder, "picohub-web", NEW)]
    debs += [_deb(folder, name, "6.6.6") for name in extra]
    directory = settings.cache_dir / "releases" / NEW
    write_repository(debs, directory, signer, version=NEW)
    return Fetched(NEW, directory, tuple(directory / deb.name for deb in debs), 0)


def _plan(settings: Settings, fetched: Fetched, *, accept: bool = False) -> tuple[Action, ...]:
    plan = plan_install(
        fetched,
        ["picohub", "picohub-web"],
        settings,
        downgrade=False,
        accept_new_dependencies=accept,
    )
    assert plan.needs_hub_sources == bool(plan.others)
    return plan.others


def test_a_release_that_needs_only_what_the_hub_has_plans_only_picohub(
    hub: Settings, signer: Signer
) -> None:
    assert _plan(hub, _release(hub, signer, "Depends: libdep")) == ()


def test_a_new_debian_package_is_refused_with_its_source_until_accepted(
    hub: Settings, signer: Signer
) -> None:
    fetched = _release(hub, signer, "Depends: libdep, newdep")
    with pytest.raises(PlanRefused) as refused:
        _plan(hub, fetched)
    assert str(refused.value).startswith(
        f"release {NEW} would also install newdep 1.0 (from Debian:stable)"
    )
    assert refused.value.hint is not None
    assert f"apply {NEW} --accept-new-dependencies" in refused.value.hint
    assert _plan(hub, fetched, accept=True) == (
        Action(Verb.INSTALL, "newdep", "1.0", "Debian:stable"),
    )


def test_an_upgrade_of_a_dependency_the_installed_release_has_is_allowed(
    hub: Settings, signer: Signer
) -> None:
    fetched = _release(hub, signer, "Depends: libdep (>= 1.1)")
    assert _plan(hub, fetched) == (Action(Verb.UPGRADE, "libdep", "1.1", "Debian:stable"),)


def test_an_upgrade_of_a_package_picohub_never_needed_is_refused(
    hub: Settings, signer: Signer
) -> None:
    fetched = _release(hub, signer, "Depends: libdep, bystander (>= 1.1)")
    with pytest.raises(PlanRefused, match=r"would also upgrade bystander 1\.1 \(from Debian"):
        _plan(hub, fetched)


def test_a_removal_is_refused(hub: Settings, signer: Signer) -> None:
    fetched = _release(hub, signer, "Depends: libdep\nConflicts: bystander")
    with pytest.raises(PlanRefused, match=r"would also remove bystander \(read the list"):
        _plan(hub, fetched)


def test_a_package_the_release_carries_beside_picohub_is_refused_even_when_accepted(
    hub: Settings, signer: Signer
) -> None:
    # Without the plan, apt would fail in the middle on a file the updater never fetched.
    fetched = _release(hub, signer, "Depends: libdep, stowaway", extra=("stowaway",))
    for accept in (False, True):
        with pytest.raises(PlanRefused, match=r"install stowaway 6\.6\.6 from its own index"):
            _plan(hub, fetched, accept=accept)


def test_a_dependency_no_source_offers_says_what_to_do(hub: Settings, signer: Signer) -> None:
    fetched = _release(hub, signer, "Depends: libdep, nowhere-to-be-found")
    with pytest.raises(CommandError, match="sudo apt install nowhere-to-be-found;"):
        _plan(hub, fetched)


def test_the_hubs_own_lists_are_left_as_they_were(hub: Settings, signer: Signer) -> None:
    before = sorted((path.name, path.stat().st_mtime_ns) for path in hub.apt_lists.iterdir())
    _plan(hub, _release(hub, signer, "Depends: libdep"))
    after = sorted((path.name, path.stat().st_mtime_ns) for path in hub.apt_lists.iterdir())
    assert after == before


def test_apts_answer_is_kept_until_what_it_reads_changes(
    hub: Settings, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An automatic run simulates when it downloads; the window's install reuses it.
    fetched = _release(hub, signer, "Depends: libdep, newdep")
    simulations: list[object] = []
    real = plan.simulate

    def counted(*args: Any, **kwargs: Any) -> str:
        simulations.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan, "simulate", counted)
    for _ in range(2):
        with pytest.raises(PlanRefused, match="would also install newdep"):
            _plan(hub, fetched)
    assert len(simulations) == 1
    # newdep installed by hand since: apt is asked again, and only picohub is left.
    status = hub.dpkg_admin_dir / "status"
    status.write_text(
        status.read_text() + "\nPackage: newdep\nStatus: install ok installed\nVersion: 1.0\n"
        "Architecture: all\nMaintainer: Test <test@example.org>\nDescription: test\n"
    )
    assert _plan(hub, fetched) == ()
    assert len(simulations) == 2
