"""apt's plan simulated once, ahead of the install: kept while nothing apt reads has
changed (dpkg's database, the hub's sources, lists and apt's configuration, the release),
judged afresh every time; and apt's private lists of a release brought up to date once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update import packages, plan
from picohub.update.apt_inputs import plan_digest
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.plan import Action, PlanRefused, Verb, plan_install

# What apt says it would do: picohub, and a Debian package the hub does not have.
SIMULATION = """\
Inst picohub [1.4.2] (2.0.0 localhost [all])
Inst newdep (1.0 Debian:12.15/oldstable [amd64])
Conf picohub (2.0.0 localhost [all])
Conf newdep (1.0 Debian:12.15/oldstable [amd64])
"""
INDEX = """\
Package: picohub
Version: 2.0.0
Architecture: all
Filename: picohub_2.0.0_all.deb
Size: 3
SHA256: 0000000000000000000000000000000000000000000000000000000000000000
"""


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    """The hub's apt: /etc/apt with a sources list, a preferences folder, and lists."""
    etc = tmp_path / "etc" / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "preferences.d").mkdir()
    (etc / "sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("x")
    (lists / "lock").write_text("")
    return replace(
        settings,
        apt_sources_list=etc / "sources.list",
        apt_sources_parts=etc / "sources.list.d",
        apt_lists=lists,
    )


@pytest.fixture
def release(hub: Settings) -> Fetched:
    directory = ReleaseCache(hub).release_dir("2.0.0")
    directory.mkdir(parents=True)
    (directory / "InRelease").write_text("signed index of 2.0.0\n")
    (directory / "Packages").write_text(INDEX)
    return Fetched("2.0.0", directory, (directory / "picohub_2.0.0_all.deb",), 0)


def _digest(hub: Settings, release: Fetched) -> str:
    return plan_digest(release, ["picohub"], hub, downgrade=False)


def _renamed_into_place(path: Path, text: str) -> None:
    """What apt does with a list it fetched again: a new file renamed over the old."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    os.utime(new, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    new.replace(path)


def test_the_digest_is_the_same_while_nothing_apt_reads_changes(
    hub: Settings, release: Fetched
) -> None:
    assert _digest(hub, release) == _digest(hub, release)
    assert plan_digest(release, ["picohub"], hub, downgrade=True) != _digest(hub, release)
    assert plan_digest(release, ["picohub-web"], hub, downgrade=False) != _digest(hub, release)


@pytest.mark.parametrize(
    "change",
    ["dpkg status", "dpkg updates", "sources", "sources part", "pin", "apt option",
     "list fetched again", "new list", "release"],
)  # fmt: skip
def test_the_digest_changes_with_each_thing_apt_reads(
    hub: Settings, release: Fetched, change: str
) -> None:
    before = _digest(hub, release)
    etc = hub.apt_sources_list.parent
    dpkg = hub.dpkg_admin_dir
    listed = hub.apt_lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
    match change:
        case "dpkg status":
            (dpkg / "status").write_text((dpkg / "status").read_text() + "\n")
        case "dpkg updates":
            (dpkg / "updates").mkdir()
            (dpkg / "updates" / "0001").write_text("Package: picohub\n")
        case "sources":
            hub.apt_sources_list.write_text("deb http://deb.debian.org/debian trixie main\n")
        case "sources part":
            (hub.apt_sources_parts / "extra.list").write_text("deb http://example.org/ ./\n")
        case "pin":
            (etc / "preferences.d" / "pin").write_text("Package: *\nPin-Priority: 1001\n")
        case "apt option":
            (etc / "apt.conf.d").mkdir()
            (etc / "apt.conf.d" / "99local").write_text('APT::Install-Recommends "1";\n')
        case "list fetched again":
            _renamed_into_place(listed, "x")  # same size and time: its inode tells
        case "new list":
            (hub.apt_lists / "example.org_._Packages").write_text("")
        case "release":
            (release.directory / "InRelease").write_text("signed index of 2.0.0, again\n")
    assert _digest(hub, release) != before


def test_apts_lock_and_files_it_does_not_read_leave_the_digest_alone(
    hub: Settings, release: Fetched
) -> None:
    before = _digest(hub, release)
    (hub.apt_lists / "lock").write_text("held")
    (hub.apt_lists / "partial").mkdir()
    (hub.apt_lists / "partial" / "half-fetched").write_text("...")
    assert _digest(hub, release) == before


@pytest.fixture
def simulations(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    """apt's simulation, counted."""
    asked: list[Sequence[str]] = []

    def simulate(_fetched: Fetched, names: Sequence[str], *_: object, **__: object) -> str:
        asked.append(names)
        return SIMULATION

    monkeypatch.setattr(plan, "simulate", simulate)
    return asked


def _plan(hub: Settings, release: Fetched, *, accept: bool) -> tuple[Action, ...]:
    return plan_install(
        release, ["picohub"], hub, downgrade=False, accept_new_dependencies=accept
    ).others


def test_apts_answer_is_kept_and_judged_afresh_each_time(
    hub: Settings, release: Fetched, simulations: list[Sequence[str]]
) -> None:
    with pytest.raises(PlanRefused, match=r"would also install newdep 1\.0"):
        _plan(hub, release, accept=False)
    newdep = Action(Verb.INSTALL, "newdep", "1.0", "Debian:12.15/oldstable")
    assert _plan(hub, release, accept=True) == (newdep,)
    with pytest.raises(PlanRefused):
        _plan(hub, release, accept=False)
    assert len(simulations) == 1
    record = ReleaseCache(hub).plan_file
    assert record.stat().st_mode & 0o777 == 0o600


def test_apt_is_asked_again_once_what_it_reads_changed(
    hub: Settings, release: Fetched, simulations: list[Sequence[str]]
) -> None:
    _plan(hub, release, accept=True)
    status = hub.dpkg_admin_dir / "status"
    status.write_text(status.read_text() + "\n")  # dpkg installed or removed something
    _plan(hub, release, accept=True)
    _plan(hub, release, accept=True)
    assert len(simulations) == 2


@pytest.mark.parametrize("damage", ["{not json", '{"digest": 1}', ""])
def test_a_damaged_record_is_simulated_again(
    hub: Settings, release: Fetched, simulations: list[Sequence[str]], damage: str
) -> None:
    _plan(hub, release, accept=True)
    ReleaseCache(hub).plan_file.write_text(damage)
    _plan(hub, release, accept=True)
    assert len(simulations) == 2


def test_a_failed_simulation_leaves_no_record(
    hub: Settings, release: Fetched, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_: object, **__: object) -> str:
        raise PlanRefused("apt failed")

    monkeypatch.setattr(plan, "simulate", failing)
    with pytest.raises(PlanRefused, match="apt failed"):
        _plan(hub, release, accept=True)
    assert not ReleaseCache(hub).plan_file.exists()


# -- apt's private lists of the release ----------------------------------------------------


@pytest.fixture
def apt_runs(monkeypatch: pytest.MonkeyPatch, release: Fetched) -> list[Sequence[str]]:
    """apt-get, counted; its update copies the release's index into the lists folder."""
    runs: list[Sequence[str]] = []

    def apt(args: Sequence[str], **_: object) -> str:
        runs.append(args)
        if args[-1] == "update":
            lists = Path(next(a for a in args if a.startswith("Dir::State::Lists=")).split("=")[1])
            for name in ("InRelease", "Packages"):
                text = (release.directory / name).read_text()
                (lists / f"_release_._{name}").write_text(text)
        return ""

    monkeypatch.setattr(packages, "_apt", apt)
    return runs


def _updates(runs: list[Sequence[str]]) -> int:
    return sum(1 for args in runs if args[-1] == "update")


def test_the_lists_are_brought_up_to_date_once_for_the_same_release(
    hub: Settings, release: Fetched, apt_runs: list[Sequence[str]], tmp_path: Path
) -> None:
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"key")
    first = packages.apt_sources(release, keyring, hub)
    assert packages.apt_sources(release, keyring, hub) == first
    assert _updates(apt_runs) == 1
    # apt's own package cache file is neither read nor written for the release alone.
    assert "Dir::Cache::pkgcache=" in first and "Dir::Cache::srcpkgcache=" in first


@pytest.mark.parametrize("change", ["release", "keyring", "lists lost", "mark lost"])
def test_the_lists_are_brought_up_to_date_again_when_anything_differs(
    hub: Settings,
    release: Fetched,
    apt_runs: list[Sequence[str]],
    tmp_path: Path,
    change: str,
) -> None:
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"key")
    packages.apt_sources(release, keyring, hub)
    lists = ReleaseCache(hub).apt_dir / "lists"
    match change:
        case "release":
            (release.directory / "InRelease").write_text("signed index of 2.0.0, again\n")
        case "keyring":
            keyring.write_bytes(b"another key")
        case "lists lost":
            (lists / "_release_._Packages").unlink()
        case "mark lost":
            (lists.parent / packages.LISTS_MARK).unlink()
    packages.apt_sources(release, keyring, hub)
    assert _updates(apt_runs) == 2
