"""The updater's configuration, ``/etc/picohub/update.conf`` (a conffile, INI syntax)."""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from picohub.errors import UsageError
from picohub.update.http import is_loopback
from picohub.update.policy import ANY_TIME, Mode, Policy, Window

# Where the target's security token is, when update.conf names no other file (root's, 0600).
HAWKBIT_TOKEN_FILE = Path("/etc/picohub/hawkbit.token")


class Fleet(StrEnum):
    """Who decides what this hub installs."""

    GITHUB = "github"  # the hub itself: automatic runs under [update]'s rules
    HAWKBIT = "hawkbit"  # an Eclipse hawkBit server (picohub-hawkbit.service)


class Channel(StrEnum):
    STABLE = "stable"  # the newest published release that is not a pre-release
    PRERELEASE = "prerelease"  # pre-releases too


@dataclass(frozen=True)
class UpdateConfig:
    owner: str = "picohub"
    repo: str = "picohub"
    # Release assets are downloaded from here (not API calls: no rate limit applies).
    download_url: str = "https://github.com"
    # The API is asked only for pre-release channels and release notes.
    api_url: str = "https://api.github.com"
    channel: Channel = Channel.STABLE
    token_file: Path | None = None
    health_timeout: float = 90.0
    max_download_bytes: int = 256 * 1024 * 1024
    # The owner's rules for automatic runs (the timer, NetworkManager's dispatcher).
    automatic: Mode = Mode.INSTALL
    window: Window = ANY_TIME
    metered_downloads: bool = False
    # How far beyond the hub's time floor a release may be dated and still be believed
    # (and installed automatically): picohub.update.timefloor.
    max_future_days: int = 365
    # [fleet]: with hawkbit, the automatic runs do nothing and picohub-hawkbit.service
    # installs what the server assigns (picohub.update.hawkbit_service).
    fleet: Fleet = Fleet.GITHUB
    hawkbit_url: str | None = None
    hawkbit_tenant: str = "DEFAULT"
    hawkbit_token_file: Path = HAWKBIT_TOKEN_FILE
    # The hub's name in hawkBit; None: picohub- and the machine id's first 16 digits.
    hawkbit_controller_id: str | None = None

    @property
    def managed_by_hawkbit(self) -> bool:
        return self.fleet is Fleet.HAWKBIT

    @property
    def managed_by(self) -> str:
        """What the automatic runs, the CLI and the page say of a hub hawkBit manages."""
        return f"this hub is managed by hawkBit at {self.hawkbit_url}"

    @property
    def max_future(self) -> timedelta:
        return timedelta(days=self.max_future_days)

    @property
    def policy(self) -> Policy:
        return Policy(self.automatic, self.window, self.metered_downloads)

    def release_url(self, tag: str | None = None) -> str:
        """Where a release's assets are: the latest one's, or the one tagged ``tag``."""
        where = "latest/download" if tag is None else f"download/{tag}"
        return f"{self.download_url.rstrip('/')}/{self.owner}/{self.repo}/releases/{where}/"

    def token(self) -> str | None:
        if self.token_file is None:
            return None
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UsageError(f"cannot read the token file {self.token_file}: {exc}") from exc


def _text(key: str, raw: str) -> str:
    if not raw:
        raise ValueError(f"{key} must not be empty")
    return raw


def _channel(key: str, raw: str) -> Channel:
    if raw not in {channel.value for channel in Channel}:
        allowed = ", ".join(c.value for c in Channel)
        raise ValueError(f"{key} must be one of {allowed}, not {raw!r}")
    return Channel(raw)


def _fleet(key: str, raw: str) -> Fleet:
    if raw not in {fleet.value for fleet in Fleet}:
        raise ValueError(f"{key} must be one of {', '.join(f.value for f in Fleet)}, not {raw!r}")
    return Fleet(raw)


def _server_url(key: str, raw: str) -> str:
    """An http(s) URL with a host; plain http only to this machine (the tests' server):
    the target's token and the deployments must not travel in clear."""
    try:
        parts = urlsplit(raw)
        host, _port = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        raise ValueError(f"{key} must be an https URL, not {raw!r}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{key} must be an https URL, not {raw!r}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(
            f"{key} must be an https URL (plain http only to a loopback address), not {raw!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{key} must be a plain URL, without credentials, query or #, not {raw!r}")
    return raw


def _url_segment(key: str, raw: str) -> str:
    if not raw or "/" in raw or not raw.isprintable() or raw != raw.strip():
        raise ValueError(f"{key} must be one non-empty name without '/', not {raw!r}")
    return raw


# hawkBit's controller ids: letters, digits, '.', '_', '-' (they go into URL paths).
CONTROLLER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _controller_id(key: str, raw: str) -> str:
    if not CONTROLLER_ID.fullmatch(raw):
        raise ValueError(
            f"{key} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit, not {raw!r}"
        )
    return raw


def _file(key: str, raw: str) -> Path:
    if not raw.startswith("/"):
        raise ValueError(f"{key} must be an absolute path, not {raw!r}")
    return Path(raw)


def _mode(key: str, raw: str) -> Mode:
    if raw not in {mode.value for mode in Mode}:
        raise ValueError(f"{key} must be one of {', '.join(m.value for m in Mode)}, not {raw!r}")
    return Mode(raw)


def _window(_key: str, raw: str) -> Window:
    return Window.parse(raw)


_BOOLEANS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


def _boolean(key: str, raw: str) -> bool:
    if raw.lower() not in _BOOLEANS:
        raise ValueError(f"{key} must be yes or no, not {raw!r}")
    return _BOOLEANS[raw.lower()]


def _path(_key: str, raw: str) -> Path | None:
    return Path(raw) if raw else None


def _positive_float(key: str, raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{key} must be positive, not {raw}")
    return value


def _positive_int(key: str, raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"{key} must be positive, not {raw}")
    return value


def _bounded_int(key: str, raw: str, most: int) -> int:
    value = _positive_int(key, raw)
    if value > most:
        raise ValueError(f"{key} must be at most {most}, not {raw}")
    return value


# section -> setting -> how to read it
_SETTINGS: dict[str, dict[str, Callable[[str, str], object]]] = {
    "github": {
        "owner": _text,
        "repo": _text,
        "download_url": _text,
        "api_url": _text,
        "token_file": _path,
    },
    "update": {
        "channel": _channel,
        "health_timeout": _positive_float,
        "max_download_bytes": _positive_int,
        "automatic": _mode,
        "window": _window,
        "metered_downloads": _boolean,
        "max_future_days": lambda key, raw: _bounded_int(key, raw, 36500),
    },
    "fleet": {
        "fleet": _fleet,
        "hawkbit_url": _server_url,
        "hawkbit_tenant": _url_segment,
        "hawkbit_token_file": _file,
        "hawkbit_controller_id": _controller_id,
    },
}


def load_config(path: Path) -> UpdateConfig:
    """Read ``path``; a missing file means the defaults. Unknown settings are errors."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise UsageError(f"{path} is not valid: {exc}") from exc
    values: dict[str, object] = {}
    for section in parser.sections():
        known = _SETTINGS.get(section)
        if known is None:
            raise UsageError(
                f"{path}: unknown section [{section}]", hint=f"known: {', '.join(_SETTINGS)}"
            )
        for key, raw in parser.items(section):
            if key not in known:
                raise UsageError(
                    f"{path}: unknown setting {key!r} in [{section}]",
                    hint=f"known: {', '.join(known)}",
                )
            try:
                values[key] = known[key](key, raw.strip())
            except ValueError as exc:
                raise UsageError(f"{path}: [{section}] {exc}") from exc
    if values.get("fleet") is Fleet.HAWKBIT and "hawkbit_url" not in values:
        raise UsageError(
            f"{path}: [fleet] fleet = hawkbit needs hawkbit_url",
            hint="the hawkBit server's address, e.g. hawkbit_url = https://hawkbit.example.org",
        )
    return UpdateConfig(**values)  # type: ignore[arg-type]
