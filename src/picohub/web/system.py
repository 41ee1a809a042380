"""What the system page shows: the installed version of each package of a release."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from picohub.installed import installed_versions
from picohub.settings import RELEASE_PACKAGES, Settings

blueprint = Blueprint("system", __name__, url_prefix="/api/system")


@blueprint.get("")
def system() -> tuple[Response, int]:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    return jsonify(
        running=current_app.config["PICOHUB_VERSION"],
        packages=installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir),
        # The updater comes with a later release; the page leaves room for it.
        update=None,
    ), 200
