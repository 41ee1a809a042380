"""An automatic run on a hub a hawkBit server manages: it does nothing, and says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update import auto
from picohub.update.auto import read_last_run
from picohub.update.history import History
from picohub.update.journal import Origin


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Settings:
    state = tmp_path / "update"
    state.mkdir()
    return replace(settings, update_state_dir=state, update_config=state / "update.conf")


def test_an_automatic_run_leaves_a_hawkbit_hub_to_hawkbit(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.update_config.write_text(
        "[fleet]\nfleet = hawkbit\nhawkbit_url = https://hawkbit.example.org\n"
    )

    def no_github(*_args: object) -> int:
        raise AssertionError("a hawkBit hub asked GitHub")

    monkeypatch.setattr(auto, "_run", no_github)
    said = "this hub is managed by hawkBit at https://hawkbit.example.org (update.conf [fleet])"
    for origin in (Origin.TIMER, Origin.NETWORK, Origin.TIMER):
        assert auto.run_automatic(hub, origin) == 0
    last = read_last_run(hub)
    assert last is not None and (last.action, last.message) == ("nothing", said)
    assert [e.message for e in History(hub.update_history).read()] == [said]


def test_a_github_hub_runs_as_before(hub: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.update_config.write_text("[fleet]\nfleet = github\n")
    ran: list[Origin] = []
    monkeypatch.setattr(auto, "_run", lambda _c, _s, origin, _r: ran.append(origin) or 0)
    assert auto.run_automatic(hub, Origin.TIMER) == 0
    assert ran == [Origin.TIMER]
