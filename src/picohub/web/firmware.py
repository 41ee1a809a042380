"""The firmware the hub offers its Pico boards: the manifest, its signature, the image.

All are read from disk on every request, so upgrading picohub-firmware alone changes
what the boards get without restarting the app. The manifest and its signature are sent
as the files' exact bytes: a board checks the signature over those bytes. A board that
names itself (``?device=ID``) gets the manifest only when the rollout offers it the
image (``picohub.firmware.rollout``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from picohub.errors import PicohubError
from picohub.firmware.manifest import SIGNATURE_NAME, Manifest, ManifestError, from_json
from picohub.firmware.rollout import Hold, RolloutConfigError, read_config
from picohub.settings import Settings
from picohub.web import rollout
from picohub.web.auth import from_nginx
from picohub.web.database import get_db, write_transaction
from picohub.web.errors import ApiError
from picohub.web.heartbeat import HeartbeatError, check_device_id

blueprint = Blueprint("firmware", __name__, url_prefix="/api/firmware")
# The last zero bytes: a range that selects nothing (RFC 9110, 14.1.2), which werkzeug
# 2.2 reads as the whole file and 3.x ignores.
EMPTY_SUFFIX = re.compile(r"bytes=[ \t]*-[ \t]*0+[ \t]*")
# nginx's internal location for the firmware folder (picohub-web's site).
NGINX_FIRMWARE_LOCATION = "/_picohub/firmware/"
ACCEL_REDIRECT = "X-Accel-Redirect"
# Why a board that named itself is not offered the image: waiting, halted, reverted.
ROLLOUT_HEADER = "X-Picohub-Rollout"


@dataclass(frozen=True)
class InstalledManifest:
    raw: bytes  # manifest.json's bytes, as the signature covers them
    manifest: Manifest


def installed_manifest(settings: Settings) -> InstalledManifest | None:
    """The installed manifest, checked strictly; None when picohub-firmware is not
    installed. Raises ManifestError when it does not read."""
    try:
        raw = settings.firmware_manifest.read_bytes()
    except FileNotFoundError:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"firmware manifest is not UTF-8: {exc}") from None
    return InstalledManifest(raw, from_json(text))


def offered_manifest(settings: Settings) -> Manifest | None:
    """The installed manifest, or None when picohub-firmware is not installed."""
    installed = installed_manifest(settings)
    return None if installed is None else installed.manifest


def _installed_or_404() -> InstalledManifest:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    try:
        installed = installed_manifest(settings)
    except PicohubError as exc:
        raise ApiError(500, "bad_manifest", f"the installed firmware manifest: {exc}") from exc
    if installed is None:
        raise ApiError(
            404,
            "no_firmware",
            "no firmware is installed on this hub: install the picohub-firmware package",
        )
    return installed


def _manifest_or_404() -> Manifest:
    return _installed_or_404().manifest


@blueprint.get("/manifest")
def manifest() -> Response:
    """manifest.json's bytes; to a board naming itself, only when it is offered them."""
    installed = _installed_or_404()
    device = request.args.get("device")
    if device is not None:
        hold = _rollout_hold(device, installed.manifest)
        if hold is not None:
            held = Response(status=204)
            held.headers[ROLLOUT_HEADER] = hold.value
            held.headers["Cache-Control"] = "no-cache"
            return held
    return _verbatim(installed.raw, "application/json")


def _rollout_hold(device: str, offered: Manifest) -> Hold | None:
    """Why the rollout holds the image back from ``device``; None: it is offered it."""
    try:
        check_device_id(device)
    except HeartbeatError as exc:
        raise ApiError(400, "bad_request", f"device: {exc}") from exc
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    try:
        config = read_config(settings.firmware_rollout_config)
    except RolloutConfigError as exc:
        raise ApiError(500, "bad_rollout_config", str(exc)) from exc
    with write_transaction(get_db()) as db:
        _, answer = rollout.offer(db, device, offered, config, rollout.utc_now())
    return None if answer.offered else answer.hold


@blueprint.get("/manifest.sig")
def signature() -> Response:
    """manifest.sig's bytes, verbatim: the signature over the installed manifest.json."""
    _installed_or_404()
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    try:
        data = (settings.firmware_dir / SIGNATURE_NAME).read_bytes()
    except FileNotFoundError:
        raise ApiError(
            404,
            "no_signature",
            f"the installed firmware has no {SIGNATURE_NAME}: it was built without a "
            "signing key, so boards cannot verify its manifest",
        ) from None
    return _verbatim(data, "application/octet-stream")


def _verbatim(data: bytes, mimetype: str) -> Response:
    """A file's bytes as they are, with their SHA-256 as the ETag: boards poll with
    If-None-Match and get 304 while nothing changed."""
    etag = hashlib.sha256(data).hexdigest()
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(data, mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


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
