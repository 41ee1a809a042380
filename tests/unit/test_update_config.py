from __future__ import annotations

from pathlib import Path

import pytest

from picohub.errors import UsageError
from picohub.update.config import Channel, UpdateConfig, load_config
from picohub.update.packages import is_downgrade
from picohub.update.policy import Mode
from picohub.update.status import Phase, Status, read_status, write_status
from tests.conftest import SOURCE


def test_the_shipped_conffile_gives_the_defaults() -> None:
    assert load_config(SOURCE / "packaging" / "update" / "update.conf") == UpdateConfig()


def test_a_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.conf") == UpdateConfig()


def test_settings_are_read_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "update.conf"
    path.write_text(
        "[github]\nowner = acme\nrepo = hub\ntoken_file = /etc/picohub/token\n"
        "[update]\nchannel = prerelease\nhealth_timeout = 12.5\nmax_download_bytes = 1000\n"
    )
    config = load_config(path)
    assert (config.owner, config.repo, config.channel) == ("acme", "hub", Channel.PRERELEASE)
    assert config.token_file == Path("/etc/picohub/token")
    assert (config.health_timeout, config.max_download_bytes) == (12.5, 1000)
    assert config.release_url() == "https://github.com/acme/hub/releases/latest/download/"
    assert config.release_url("v1.2") == "https://github.com/acme/hub/releases/download/v1.2/"


def test_the_automatic_rules_are_read(tmp_path: Path) -> None:
    path = tmp_path / "update.conf"
    path.write_text(
        "[update]\nautomatic = download\nwindow = 02:00-05:00\nmetered_downloads = yes\n"
    )
    policy = load_config(path).policy
    assert (policy.mode, str(policy.window), policy.metered_downloads) == (
        Mode.DOWNLOAD,
        "02:00-05:00",
        True,
    )


def test_a_release_date_is_believed_up_to_a_year_ahead_unless_told(tmp_path: Path) -> None:
    assert UpdateConfig().max_future.days == 365
    path = tmp_path / "update.conf"
    path.write_text("[update]\nmax_future_days = 30\n")
    assert load_config(path).max_future.days == 30


def test_by_default_the_hub_installs_at_any_time_and_not_on_metered_links() -> None:
    policy = UpdateConfig().policy
    rules = (policy.mode, str(policy.window), policy.metered_downloads)
    assert rules == (Mode.INSTALL, "any", False)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[update]\nchannel = nightly\n", "channel must be one of stable, prerelease"),
        ("[update]\nhealth_timeout = -1\n", "health_timeout must be positive"),
        ("[update]\nmax_download_bytes = lots\n", "invalid literal"),
        ("[github]\nowner =\n", "owner must not be empty"),
        ("[gihtub]\nowner = x\n", "unknown section [gihtub]"),
        ("[github]\nuser = x\n", "unknown setting 'user' in [github]"),
        ("owner = x\n", "is not valid"),
        ("[update]\nautomatic = always\n", "must be one of off, notify, download, install"),
        ("[update]\nwindow = nights\n", "window must be 'any' or HH:MM-HH:MM"),
        ("[update]\nmetered_downloads = maybe\n", "metered_downloads must be yes or no"),
        ("[update]\nmax_future_days = 0\n", "max_future_days must be positive"),
        ("[update]\nmax_future_days = 3000000\n", "max_future_days must be at most 36500"),
    ],
)
def test_bad_settings_name_the_file_and_the_problem(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "update.conf"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and complaint in caught.value.message


def test_an_unreadable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    config = UpdateConfig(token_file=tmp_path / "absent")
    with pytest.raises(UsageError, match="cannot read the token file"):
        config.token()


def test_status_round_trips_and_defaults_to_idle(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(path) == Status()
    written = write_status(path, Status(Phase.DOWNLOADING, "half way", 0.5, "1.0", "1.1"))
    assert written.updated_at.endswith("Z")
    assert read_status(path) == written
    assert oct(path.stat().st_mode & 0o777) == "0o644"  # the web app reads it
    path.write_text("{not json")
    assert read_status(path) == Status()


@pytest.mark.parametrize(
    ("installed", "target", "downgrade"),
    [(None, "1.0", False), ("1.0", "1.1", False), ("1.10", "1.9", True), ("1.0", "1.0", False)],
)
def test_a_downgrade_is_told_by_debian_version_order(
    installed: str | None, target: str, downgrade: bool
) -> None:
    assert is_downgrade(installed, target) is downgrade
