"""The firmware the hub offers its Pico boards: the manifest and the image itself.

Both are read from disk on every request, so upgrading picohub-firmware alone changes
what the boards get without restarting the app.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from picohub.errors import PicohubError
from picohub.firmware.manifest import Manifest, from_json
from picohub.settings import Settings
from picohub.web.auth import from_nginx
from picohub.web.errors import ApiError

blueprint = Blueprint("firmware", __name__, url_prefix="/api/firmware")
# The last zero bytes: a range that selects nothing (RFC 9110, 14.1.2), which werkzeug
# 2.2 reads as the whole file and 3.x ignores.
EMPTY_SUFFIX = re.compile(r"bytes=[ \t]*-[ \t]*0+[ \t]*")
# nginx's internal location for the firmware folder (picohub-web's site).
NGINX_FIRMWARE_LOCATION = "/_picohub/firmware/"
ACCEL_REDIRECT = "X-Accel-Redirect"


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
    if _asks_for_nothing(offered.sha256):
        raise RequestedRangeNotSatisfiable(length=path.stat().st_size)
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
    if from_nginx() and response.status_code in (200, 206):
        return _sent_by_nginx(response, offered.image)
    return response


def _sent_by_nginx(response: Response, image: str) -> Response:
    """Let nginx send the image's bytes from the file (X-Accel-Redirect): a board on slow
    Wi-Fi then holds neither one of the app's few workers nor a copy of the image in
    nginx's temporary files on the SD card. The app has judged the request (404, 304,
    416); nginx serves the range itself, judging If-Range by the ETag named here."""
    response.close()
    redirected = Response(status=200, mimetype="application/octet-stream")
    for name in ("ETag", "Last-Modified", "Cache-Control", "Content-Disposition"):
        if name in response.headers:
            redirected.headers[name] = response.headers[name]
    redirected.headers[ACCEL_REDIRECT] = f"{NGINX_FIRMWARE_LOCATION}{quote(image)}"
    return redirected


def _asks_for_nothing(etag: str) -> bool:
    """Whether the request's Range is the empty suffix, and applies (no If-Range, or one
    naming the image's ETag: otherwise the whole image is sent)."""
    if not EMPTY_SUFFIX.fullmatch(request.headers.get("Range", "")):
        return False
    return "If-Range" not in request.headers or request.if_range.etag == etag
