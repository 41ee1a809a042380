"""What the system page shows: the installed version of each package of a release, and
what the updater does or last did."""

from __future__ import annotations

from typing import Any

from debian.debian_support import Version
from flask import Blueprint, Response, current_app, jsonify

from picohub.installed import installed_versions
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.available import read_available
from picohub.update.status import read_status

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
    return {
        "status": status.to_json(),
        "busy": status.busy,
        "ended": status.ended,
        "available": _still_available(read_available(settings), packages),
    }


def _still_available(
    available: dict[str, Any] | None, packages: dict[str, str | None]
) -> dict[str, Any] | None:
    """The last check's answer, without the changes installed since (by an update, or by
    hand): after an update to X, X is no longer offered."""
    if available is None:
        return None
    try:
        changes = [
            change
            for change in available.get("changes", [])
            if packages.get(change["package"]) is None
            or Version(change["offered"]) > Version(str(packages[change["package"]]))
        ]
    except (KeyError, TypeError, ValueError):
        return None  # not what record_check writes: show no offer rather than a wrong one
    if changes == available.get("changes"):
        return available
    message = (
        f"release {available.get('version')} is available"
        if changes
        else f"up to date: release {available.get('version')} changes nothing installed here"
    )
    return {**available, "changes": changes, "update_available": bool(changes), "message": message}
