"""What the system page shows: the installed version of each package of a release, and
what the updater does or last did."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, current_app, jsonify

from picohub.installed import installed_versions
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.available import read_available
from picohub.update.status import Phase, read_status

# The updater is at work in these phases (the page shows progress, Install is refused).
BUSY = frozenset({Phase.CHECKING, Phase.DOWNLOADING, Phase.INSTALLING})

blueprint = Blueprint("system", __name__, url_prefix="/api/system")


@blueprint.get("")
def system() -> tuple[Response, int]:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    return jsonify(
        running=current_app.config["PICOHUB_VERSION"],
        packages=installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir),
        update=_update(settings),
    ), 200


def _update(settings: Settings) -> dict[str, object]:
    """What the updater does or last did, and the last check's answer: open to all on
    the LAN, like the rest of the page (the actions need the administrator)."""
    status = read_status(settings.update_status)
    return {
        "status": asdict(status),
        "busy": status.phase in BUSY,
        "available": read_available(settings),
    }
