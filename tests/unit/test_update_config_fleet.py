"""update.conf's [fleet]: who decides what the hub installs (GitHub or a hawkBit server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from picohub.errors import UsageError
from picohub.update.config import HAWKBIT_TOKEN_FILE, Fleet, UpdateConfig, load_config


def conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "update.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_by_default_the_hub_follows_github() -> None:
    config = UpdateConfig()
    assert (config.fleet, config.managed_by_hawkbit) == (Fleet.GITHUB, False)
    assert (config.hawkbit_url, config.hawkbit_tenant) == (None, "DEFAULT")
    assert config.hawkbit_token_file == HAWKBIT_TOKEN_FILE == Path("/etc/picohub/hawkbit.token")


def test_a_hawkbit_fleet_is_read(tmp_path: Path) -> None:
    config = load_config(
        conf(
            tmp_path,
            "[fleet]\nfleet = hawkbit\nhawkbit_url = https://hawkbit.example.org/api\n"
            "hawkbit_tenant = ACME\nhawkbit_token_file = /etc/picohub/other.token\n",
        )
    )
    assert config.managed_by_hawkbit
    assert config.hawkbit_url == "https://hawkbit.example.org/api"
    assert config.hawkbit_tenant == "ACME"
    assert config.hawkbit_token_file == Path("/etc/picohub/other.token")


def test_plain_http_is_taken_to_this_machine_only(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        path = conf(tmp_path, f"[fleet]\nfleet = hawkbit\nhawkbit_url = {url}\n")
        assert load_config(path).hawkbit_url == url
    path = conf(tmp_path, "[fleet]\nfleet = hawkbit\nhawkbit_url = http://hawkbit.example.org\n")
    with pytest.raises(UsageError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "[fleet] hawkbit_url must be an https URL" in message
    assert "plain http only to a loopback address" in message
    assert "'http://hawkbit.example.org'" in message


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("fleet = mender", "fleet must be one of github, hawkbit, not 'mender'"),
        ("fleet = HawkBit", "fleet must be one of github, hawkbit, not 'HawkBit'"),
        ("hawkbit_url = hawkbit.example.org", "hawkbit_url must be an https URL, not"),
        ("hawkbit_url = ftp://hawkbit.example.org", "hawkbit_url must be an https URL, not"),
        ("hawkbit_url = https://hawkbit.example.org:port", "hawkbit_url must be an https URL"),
        ("hawkbit_url = https://u:p@hawkbit.example.org", "without credentials, query or #"),
        ("hawkbit_url = https://hawkbit.example.org/?a=1", "without credentials, query or #"),
        ("hawkbit_tenant = a/b", "hawkbit_tenant must be one non-empty name without '/'"),
        ("hawkbit_tenant =", "hawkbit_tenant must be one non-empty name without '/', not ''"),
        ("hawkbit_token_file = hawkbit.token", "must be an absolute path, not 'hawkbit.token'"),
        ("hawkbit_controller_id = hub/1", "hawkbit_controller_id must be 1 to 64 letters"),
        ("hawkbit_controller_id = -hub", "starting with a letter or digit, not '-hub'"),
    ],
)
def test_a_malformed_value_names_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, line: str, said: str
) -> None:
    path = conf(tmp_path, f"[fleet]\n{line}\n")
    with pytest.raises(UsageError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: [fleet] ")
    assert said in str(raised.value)


def test_hawkbit_without_its_url_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        load_config(conf(tmp_path, "[fleet]\nfleet = hawkbit\n"))
    assert "fleet = hawkbit needs hawkbit_url" in raised.value.message
    assert raised.value.hint is not None and "hawkbit_url = https://" in raised.value.hint


def test_the_url_alone_does_not_hand_the_hub_over(tmp_path: Path) -> None:
    config = load_config(conf(tmp_path, "[fleet]\nhawkbit_url = https://hawkbit.example.org\n"))
    assert config.fleet is Fleet.GITHUB and not config.managed_by_hawkbit


def test_an_unknown_fleet_setting_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        load_config(conf(tmp_path, "[fleet]\nhawkbit_controller = x\n"))
    assert "unknown setting 'hawkbit_controller' in [fleet]" in raised.value.message
    assert raised.value.hint is not None and "hawkbit_url" in raised.value.hint


def test_the_controller_id_may_be_named(tmp_path: Path) -> None:
    assert UpdateConfig().hawkbit_controller_id is None  # picohub- and the machine id
    config = load_config(conf(tmp_path, "[fleet]\nhawkbit_controller_id = cellar-hub.2\n"))
    assert config.hawkbit_controller_id == "cellar-hub.2"
