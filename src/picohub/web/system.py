"""What the system page shows: the installed version of each package of a release, and
what the updater does or last did."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from picohub.installed import installed_versions
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.available import read_available
from picohub.update.history import History
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
    available = read_available(settings)
    return {
        "status": status.to_json(),
        "busy": status.busy,
        "ended": status.ended,
        "available": None if available is None else available.without_installed(packages).to_json(),
        # The newest first, as the page lists them.
        "history": [e.to_json() for e in reversed(History(settings.update_history).read()[-20:])],
    }
