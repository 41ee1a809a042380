"""When a hawkBit ``attempt`` (soft) deployment installs by itself: within the owner's
rules for automatic installs, as a GitHub hub's automatic run would."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from picohub.settings import Settings
from picohub.update.config import UpdateConfig
from picohub.update.hawkbit_service import allow_attempt
from picohub.update.holds import Holds
from picohub.update.policy import ANY_TIME, Mode, Window


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(update_state_dir=tmp_path / "update")


def _closed_now() -> Window:
    """A one-hour window that opens an hour from now (local time)."""
    opening = datetime.now().astimezone() + timedelta(hours=1)
    return Window.parse(f"{opening:%H:%M}-{opening + timedelta(hours=1):%H:%M}")


def test_an_attempt_installs_when_the_owner_lets_automatic_runs_install(
    settings: Settings,
) -> None:
    assert allow_attempt(UpdateConfig(automatic=Mode.INSTALL, window=ANY_TIME), settings)


@pytest.mark.parametrize("mode", [Mode.OFF, Mode.NOTIFY, Mode.DOWNLOAD])
def test_an_attempt_waits_when_automatic_runs_do_not_install(
    settings: Settings, mode: Mode
) -> None:
    assert not allow_attempt(UpdateConfig(automatic=mode), settings)


def test_an_attempt_waits_for_the_maintenance_window(settings: Settings) -> None:
    assert not allow_attempt(UpdateConfig(window=_closed_now()), settings)


def test_an_attempt_waits_while_a_hold_is_in_force(settings: Settings) -> None:
    settings.update_state_dir.mkdir()
    holds = Holds(settings.update_hold)
    holds.hold(None, "shell")
    assert not allow_attempt(UpdateConfig(), settings)
    holds.release()
    assert allow_attempt(UpdateConfig(), settings)
