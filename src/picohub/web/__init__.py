"""The hub's web application (Flask app factory; runs on Flask 2.2 and 3)."""

from __future__ import annotations

import logging

from flask import Flask

from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.web import database, devices, errors, firmware, health, system

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app: open (and on first start create) the database, register the API."""
    settings = settings or Settings.from_environment()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["PICOHUB_SETTINGS"] = settings
    # Read once: a running process is the version dpkg had installed when it started;
    # dpkg's postinst restarts the service after an upgrade.
    app.config["PICOHUB_VERSION"] = installed_version(PACKAGE, settings.dpkg_admin_dir)

    database.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(devices.blueprint)
    app.register_blueprint(firmware.blueprint)
    app.register_blueprint(system.blueprint)
    log.info(
        "picohub %s ready, state in %s",
        app.config["PICOHUB_VERSION"] or "(not installed by dpkg)",
        settings.state_dir,
    )
    return app
