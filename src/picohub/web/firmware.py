"""The firmware the hub offers its Pico boards: the manifest and the image itself.

Both are read from disk on every request, so upgrading picohub-firmware alone changes
what the boards get without restarting the app.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, send_file

from picohub.errors import PicohubError
from picohub.firmware.manifest import Manifest, from_json
from picohub.settings import Settings
from picohub.web.errors import ApiError

blueprint = Blueprint("firmware", __name__, url_prefix="/api/firmware")


def offered_manifest(settings: Settings) -> Manifest | None:
    """The installed manifest, or None when picohub-firmware is not installed."""
    try:
        text = settings.firmware_manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return from_json(text)


def _manifest_or_404() -> Manifest:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    try:
        manifest = offered_manifest(settings)
    except PicohubError as exc:
        raise ApiError(500, "bad_manifest", f"the installed firmware manifest: {exc}") from exc
    if manifest is None:
        raise ApiError(
            404,
            "no_firmware",
            "no firmware is installed on this hub: install the picohub-firmware package",
        )
    return manifest


@blueprint.get("/manifest")
def manifest() -> tuple[Response, int]:
    return jsonify(_manifest_or_404().__dict__), 200


@blueprint.get("/image")
def image() -> Response:
    offered = _manifest_or_404()
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    path = settings.firmware_dir / offered.image
    if not path.is_file():
        raise ApiError(404, "no_firmware", f"the manifest names {offered.image}, which is missing")
    # conditional=True answers If-None-Match with 304 and Range with 206, so a board on
    # flaky Wi-Fi can resume; the ETag is the image's SHA-256 from the manifest.
    response = send_file(
        path,
        mimetype="application/octet-stream",
        conditional=True,
        etag=offered.sha256,
        max_age=0,
        download_name=offered.image,
    )
    response.headers["Accept-Ranges"] = "bytes"
    return response
