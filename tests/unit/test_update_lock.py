"""One updater at a time on the cache."""

from __future__ import annotations

import pytest

from picohub.errors import UsageError
from picohub.settings import Settings
from picohub.update.cache import cache_lock
from picohub.update.cli import main


def test_a_second_holder_is_refused_and_named(settings: Settings) -> None:
    with (
        cache_lock(settings),
        pytest.raises(UsageError, match="another picohub-update"),
        cache_lock(settings),
    ):
        pass  # never reached


def test_the_lock_is_free_again_afterwards(settings: Settings) -> None:
    with cache_lock(settings):
        pass
    with cache_lock(settings):
        pass


def test_a_check_while_an_update_holds_the_cache_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PICOHUB_CACHE_DIR", str(settings.cache_dir))
    with cache_lock(settings):
        assert main(["check"]) == 2
    assert "another picohub-update" in capsys.readouterr().err
