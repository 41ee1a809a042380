"""What the system page shows: the installed version of each package of a release, and
what the updater does or last did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from picohub.errors import UsageError
from picohub.installed import installed_versions
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.auto import read_last_run, skipped_because
from picohub.update.available import Available, read_available
from picohub.update.config import load_config
from picohub.update.history import History
from picohub.update.holds import Holds
from picohub.update.status import Phase, read_status

blueprint = Blueprint("system", __name__, url_prefix="/api/system")


@blueprint.get("")
def system() -> tuple[Response, int]:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    packages = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    return jsonify(
        running=current_app.config["PICOHUB_VERSION"],
        packages=packages,
        update=_update(settings, packages),
    ), 200


def _update(settings: Settings, packages: dict[str, str | None]) -> dict[str, object]:
    """What the updater does or last did, and the last check's answer: open to all on
    the LAN, like the rest of the page (the actions need the administrator)."""
    status = read_status(settings.update_status)
    available = read_available(settings)
    if available is not None:
        available = available.without_installed(packages)
    return {
        "status": status.to_json(),
        "busy": status.busy,
        "ended": status.ended,
        "available": None if available is None else available.to_json(),
        "automatic": automatic(settings, available),
        "banner": banner(settings, available),
        # The newest first, as the page lists them.
        "history": [e.to_json() for e in reversed(History(settings.update_history).read()[-20:])],
    }


@blueprint.get("/banner")
def banner_only() -> tuple[Response, int]:
    """What every view's banner shows, alone: cheaper than the whole system view."""
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    packages = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    available = read_available(settings)
    if available is not None:
        available = available.without_installed(packages)
    return jsonify(banner(settings, available)), 200


def banner(settings: Settings, available: Available | None) -> dict[str, Any]:
    """An update available, running, held, or the last one failed: every view says so."""
    status = read_status(settings.update_status)
    hold = Holds(settings.update_hold).current(datetime.now(UTC))
    ended_badly = status.phase in (Phase.FAILED, Phase.ROLLED_BACK)
    return {
        "available": available.version if available and available.update_available else None,
        "busy": status.busy,
        "message": status.message if status.busy or ended_badly else None,
        "failed": ended_badly,
        "hold": None if hold is None else {**hold.to_json(), "description": hold.description},
    }


def automatic(settings: Settings, available: Available | None) -> dict[str, Any]:
    """The owner's rules (update.conf) and the next window, the last automatic run, and
    the release an automatic run skips, if any (the hold is the banner's)."""
    rules: dict[str, Any] | None = None
    fleet: dict[str, Any] | None = None
    error = None
    try:
        config = load_config(settings.update_config)
        if config.managed_by_hawkbit:
            fleet = {
                "kind": "hawkbit",
                "server": config.hawkbit_url,
                "tenant": config.hawkbit_tenant,
            }
        moment = datetime.now().astimezone()
        # Localised again: the offset of the opening's own day (daylight saving time).
        opening = config.window.next_opening(moment).replace(tzinfo=None).astimezone()
        is_open = config.window.contains(moment)
        rules = {
            "mode": config.automatic.value,
            "window": str(config.window),
            "window_open": is_open,
            "next_window": None if is_open else opening.isoformat(),
            "metered_downloads": config.metered_downloads,
        }
    except UsageError as exc:
        error = str(exc)
    last = read_last_run(settings)
    skipped = None
    if available is not None and available.update_available:
        reason = skipped_because(settings, available.version)
        if reason is not None:
            skipped = {"version": available.version, "reason": reason}
    return {
        "rules": rules,
        # A fleet server decides what is installed and when: no Check or Install here.
        "fleet": fleet,
        "config_error": error,
        "last_run": None if last is None else last.to_json(),
        "skipped": skipped,
    }
