"""The system page's update actions: check, install, upload a bundle, roll back.

Each needs the administrator (and a CSRF token). The app itself runs as the unprivileged
user picohub: it asks the root-owned update trigger (:mod:`picohub.trigger`) and reads the
updater's status file; the update runs in the transient unit picohub-update, so it goes
on while this app is restarted underneath the page.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, jsonify, request

from picohub.errors import PicohubError, UsageError
from picohub.files import atomic_file
from picohub.settings import Settings
from picohub.trigger import (
    CHECK_ANSWER_S,
    MAX_BUNDLE_BYTES,
    START_ANSWER_S,
    Action,
    TriggerReply,
    TriggerRequest,
    ask,
)
from picohub.update.config import load_config
from picohub.versions import is_release_version
from picohub.web.auth import admin_required
from picohub.web.body import json_object
from picohub.web.errors import ApiError

blueprint = Blueprint("update", __name__, url_prefix="/api/system")

UPLOAD_CHUNK = 1 << 16


def _settings() -> Settings:
    settings: Settings = current_app.config["PICOHUB_SETTINGS"]
    return settings


def _ask(trigger_request: TriggerRequest, timeout: float) -> TriggerReply:
    try:
        return ask(_settings().update_trigger_socket, trigger_request, timeout)
    except PicohubError as exc:
        raise ApiError(503, "updater_unavailable", str(exc)) from exc


def _answer(reply: TriggerReply, success: int) -> tuple[Response, int]:
    if reply.ok:
        return jsonify(message=reply.message, status=reply.data), success
    if reply.error == "running":
        return jsonify(error="update_running", message=reply.message, status=reply.data), 409
    if reply.error == "refused":
        raise ApiError(400, "refused", reply.message)
    raise ApiError(502, "update_failed", reply.message)


def _refuse_when_managed() -> None:
    """A hub a fleet server manages takes its releases from there: the administrator's
    Check and Install would go around the server's rollout."""
    try:
        config = load_config(_settings().update_config)
    except UsageError:
        return  # the trigger reports the broken configuration itself
    if config.managed_by_hawkbit:
        raise ApiError(
            409,
            "managed_by_fleet",
            f"{config.managed_by}: the server decides what is installed and when; "
            "an offline bundle still installs here (and is reported to the server)",
        )


@blueprint.post("/update/check")
@admin_required
def check() -> tuple[Response, int]:
    _refuse_when_managed()
    reply = _ask(TriggerRequest(Action.CHECK), CHECK_ANSWER_S)
    if not reply.ok:
        raise ApiError(502, "check_failed", reply.message)
    return jsonify(message=reply.message, available=reply.data), 200


@blueprint.post("/update")
@admin_required
def install() -> tuple[Response, int]:
    _refuse_when_managed()
    body = json_object()
    unknown = set(body) - {"version"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s): {', '.join(sorted(unknown))}")
    version = body.get("version")
    if version is not None and not is_release_version(version):
        raise ApiError(400, "invalid_version", f"{version!r} is not a release version")
    return _answer(_ask(TriggerRequest(Action.APPLY, version=version), START_ANSWER_S), 202)


@blueprint.post("/rollback")
@admin_required
def rollback() -> tuple[Response, int]:
    if json_object() != {"confirm": True}:
        raise ApiError(
            400, "confirmation_required", 'a rollback must be confirmed: send {"confirm": true}'
        )
    return _answer(_ask(TriggerRequest(Action.ROLLBACK), START_ANSWER_S), 202)


def bundle_too_large(size: int) -> ApiError:
    """The answer to a bundle over the upload limit (nginx's site says the same)."""
    return ApiError(
        413,
        "payload_too_large",
        f"a bundle uploaded here has at most {MAX_BUNDLE_BYTES >> 20} MiB, not {size} bytes;"
        " apply a larger one from a shell: sudo picohub-update apply --bundle FILE",
    )


@blueprint.post("/update/bundle")
@admin_required
def upload_bundle() -> tuple[Response, int]:
    """The body is the bundle itself (a tar file), streamed to the upload folder; the
    root side moves it out of the app's reach and verifies it like a download."""
    size = request.content_length
    if size is None:
        raise ApiError(411, "length_required", "send the bundle with a Content-Length")
    if size > MAX_BUNDLE_BYTES:  # the app's before_request has said so already
        raise bundle_too_large(size)
    uploads = _settings().upload_dir
    uploads.mkdir(mode=0o750, exist_ok=True)
    name = f"bundle-{secrets.token_hex(8)}.tar"
    # Not fsync'ed: the trigger copies it out at once (and fsyncs its copy), then it is removed.
    with atomic_file(uploads / name, mode=0o600, prefix=".upload.", durable=False) as stream:
        received = 0
        while chunk := request.stream.read(UPLOAD_CHUNK):
            received += len(chunk)
            if received > size:
                raise ApiError(400, "too_long", "the body is longer than its Content-Length")
            stream.write(chunk)
        if received != size:
            raise ApiError(400, "truncated", f"received {received} of {size} bytes")
    try:
        reply = _ask(TriggerRequest(Action.APPLY_BUNDLE, bundle=name), START_ANSWER_S)
    finally:
        # Taken by the trigger when it accepted it; removed here when it did not.
        (uploads / name).unlink(missing_ok=True)
    return _answer(reply, 202)


@blueprint.post("/update/hold")
@admin_required
def hold() -> tuple[Response, int]:
    """Hold automatic installs: ``{"until": "1d"}`` (a duration, a date or a time, as
    ``picohub-update hold --until`` takes it), or ``{}`` until released."""
    body = json_object()
    unknown = set(body) - {"until"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field(s): {', '.join(sorted(unknown))}")
    until = body.get("until")
    if until is not None and not isinstance(until, str):
        raise ApiError(400, "invalid_until", "until is a duration, a date or a time, as text")
    reply = _ask(TriggerRequest(Action.HOLD, until=until), START_ANSWER_S)
    if not reply.ok:
        raise ApiError(400 if reply.error == "refused" else 502, "hold_failed", reply.message)
    return jsonify(message=reply.message, hold=reply.data), 200


@blueprint.delete("/update/hold")
@admin_required
def release_hold() -> tuple[Response, int]:
    reply = _ask(TriggerRequest(Action.RELEASE_HOLD), START_ANSWER_S)
    if not reply.ok:
        raise ApiError(502, "hold_failed", reply.message)
    return jsonify(message=reply.message), 200
