"""The maintenance window's run: its timer starts the automatic run in the transient unit,
which installs the release downloaded ahead there, without the network; the owner's
rules are read again at that time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update import auto
from picohub.update.auto import read_last_run
from picohub.update.available import Available
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.check import Change
from picohub.update.config import UpdateConfig
from picohub.update.holds import Holds
from picohub.update.http import DownloadError
from picohub.update.journal import Origin
from picohub.update.plan import PlanRefused
from picohub.update.unit import IN_UNIT, UNIT
from tests.unit.conftest import INSTALLED_VERSION, closed_port

NEW = "2.0.0"


@pytest.fixture
def hub(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A hub whose last check found release 2.0.0, downloaded ahead; GitHub unreachable
    (the window's run must not need it)."""
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path / "update"))
    here = replace(
        settings,
        update_state_dir=tmp_path / "update",
        update_config=tmp_path / "update" / "update.conf",
    )
    here.update_state_dir.mkdir()
    url = f"http://127.0.0.1:{closed_port()}"
    here.update_config.write_text(f"[github]\ndownload_url = {url}\napi_url = {url}/api\n")
    found = Available(
        NEW, (Change("picohub", INSTALLED_VERSION, NEW),), None, "2026-12-02T01:00:00Z"
    )
    here.update_available.write_text(json.dumps(found.to_json()))
    monkeypatch.setattr(auto, "_cached", lambda _settings, available: available.version == NEW)
    monkeypatch.setattr(auto, "is_running", lambda: False)  # no update unit on this host
    return here


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], Origin]]:
    done: list[tuple[str, list[str], Origin]] = []

    def install(
        _config: UpdateConfig,
        _settings: Settings,
        version: str,
        names: Sequence[str],
        origin: Origin,
    ) -> int:
        done.append((version, list(names), origin))
        return 0

    monkeypatch.setattr(auto, "install_downloaded", install)
    return done


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    argvs: list[Sequence[str]] = []

    def start(argv: Sequence[str], *, wait: bool) -> int:
        assert not wait
        argvs.append(argv)
        return 0

    monkeypatch.setattr(auto, "start_in_unit", start)
    return argvs


def test_in_the_unit_the_release_downloaded_ahead_is_installed_without_the_network(
    hub: Settings,
    installs: list[tuple[str, list[str], Origin]],
    started: list[Sequence[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(IN_UNIT, "1")
    assert auto.run_automatic(hub, Origin.TIMER) == 0
    assert installs == [(NEW, ["picohub"], Origin.TIMER)]
    assert started == []
    last = read_last_run(hub)
    assert last is not None and (last.action, last.version) == ("install", NEW)


def test_outside_the_unit_the_run_starts_the_unit_which_decides_again(
    hub: Settings,
    installs: list[tuple[str, list[str], Origin]],
    started: list[Sequence[str]],
) -> None:
    assert auto.run_automatic(hub, Origin.NETWORK) == 0
    assert started == [["auto", "--origin=network"]]
    assert installs == []


def test_a_hold_set_since_the_download_stops_the_windows_install(
    hub: Settings,
    installs: list[tuple[str, list[str], Origin]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(IN_UNIT, "1")
    Holds(hub.update_hold).hold(None, by="page")
    # Not to install: it checks the channel as any run (here GitHub is out of reach).
    with pytest.raises(DownloadError):
        auto.run_automatic(hub, Origin.TIMER)
    assert installs == []


def test_rules_that_turned_automatic_installs_off_since_install_nothing(
    hub: Settings, installs: list[tuple[str, list[str], Origin]]
) -> None:
    hub.update_config.write_text(hub.update_config.read_text() + "[update]\nautomatic = off\n")
    assert auto.run_automatic(hub, Origin.TIMER) == 0
    assert installs == []


def test_a_release_installed_by_hand_since_is_not_installed_again(hub: Settings) -> None:
    status = hub.dpkg_admin_dir / "status"
    status.write_text(status.read_text().replace(INSTALLED_VERSION, NEW))
    assert auto.downloaded_ahead(UpdateConfig(), hub, datetime.now().astimezone()) is None


def test_a_release_not_in_the_cache_is_not_installed_ahead(hub: Settings) -> None:
    found = Available("3.0.0", (Change("picohub", INSTALLED_VERSION, "3.0.0"),), None, "x")
    hub.update_available.write_text(json.dumps(found.to_json()))
    assert auto.downloaded_ahead(UpdateConfig(), hub, datetime.now().astimezone()) is None


def test_the_windows_timer_starts_the_automatic_run_in_the_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands: list[list[str]] = []
    monkeypatch.setattr(auto, "run", lambda argv, **_: commands.append(list(argv)))
    monkeypatch.setenv("PICOHUB_CACHE_DIR", "/srv/cache")
    auto._wake_at(datetime(2026, 12, 3, 2, 0).astimezone())
    stop, arm = commands
    assert stop == ["systemctl", "stop", "picohub-update-window.timer"]
    assert "--on-calendar=2026-12-03 02:00:00" in arm
    inner = arm[arm.index("/usr/bin/systemd-run") :]
    assert (
        f"--unit={UNIT}" in inner
        and "--property=ExecStopPost=-/usr/bin/picohub-update after-run" in inner
    )
    assert f"--setenv={IN_UNIT}=1" in inner and "--setenv=PICOHUB_CACHE_DIR=/srv/cache" in inner
    assert inner[-3:] == ["/usr/bin/picohub-update", "auto", "--origin=timer"]


def test_the_run_ahead_prepares_apts_lists_and_plan(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = Fetched(NEW, hub.cache_dir / "releases" / NEW, (), 0)
    monkeypatch.setattr(ReleaseCache, "load", lambda _cache, version, names=(): release)
    done: list[str] = []
    monkeypatch.setattr(auto, "apt_sources", lambda fetched, *_, **__: done.append("lists"))

    def planned(fetched: Fetched, names: Sequence[str], *_: object, **__: object) -> None:
        done.append("plan")
        raise PlanRefused("release 2.0.0 would also install newdep")

    monkeypatch.setattr(auto, "plan_install", planned)
    auto.plan_ahead(hub, NEW, ["picohub"])  # a refusal is said, not raised
    assert done == ["lists", "plan"]
