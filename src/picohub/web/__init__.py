"""The hub's web application (Flask app factory; runs on Flask 2.2 and 3)."""

from __future__ import annotations

import logging

from flask import Flask, Request, request

from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.trigger import MAX_BUNDLE_BYTES
from picohub.web import auth, database, devices, errors, firmware, health, system, update
from picohub.web.errors import ApiError

log = logging.getLogger(__name__)
UPLOAD_BUNDLE = "update.upload_bundle"  # the one endpoint whose body may be large


class HubRequest(Request):
    """Request bodies are small (16 KiB), except an uploaded bundle. Werkzeug 2.2 checks
    the limit when it parses a body, 2.3 and later on the stream itself; both ask here."""

    @property  # type: ignore[misc]
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.endpoint == UPLOAD_BUNDLE:
            return MAX_BUNDLE_BYTES
        return super().max_content_length  # the app's MAX_CONTENT_LENGTH


def _limit_body() -> None:
    """Refuse a body over the limit before anything reads it (werkzeug 2.2 does not check
    the limit when JSON is read), and a body of unknown length (nginx always sends one)."""
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        raise ApiError(411, "length_required", "send the body with a Content-Length")
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        if request.endpoint == UPLOAD_BUNDLE:
            raise update.bundle_too_large(request.content_length or 0)
        raise ApiError(
            413,
            "payload_too_large",
            f"the body has {request.content_length} bytes; at most {limit}",
        )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app: open (and on first start create) the database, register the API."""
    settings = settings or Settings.from_environment()
    app = Flask(__name__)
    app.request_class = HubRequest
    app.before_request(_limit_body)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["PICOHUB_SETTINGS"] = settings
    # Read once: a running process is the version dpkg had installed when it started;
    # dpkg's postinst restarts the service after an upgrade.
    app.config["PICOHUB_VERSION"] = installed_version(PACKAGE, settings.dpkg_admin_dir)

    database.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(devices.blueprint)
    app.register_blueprint(firmware.blueprint)
    app.register_blueprint(system.blueprint)
    app.register_blueprint(update.blueprint)
    log.info(
        "picohub %s ready, state in %s",
        app.config["PICOHUB_VERSION"] or "(not installed by dpkg)",
        settings.state_dir,
    )
    return app
