"""``picohub-update trigger``: the root side of the web app's update trigger.

systemd runs this as root for each connection to ``picohub-update-trigger.socket``
(``Accept=yes``; the connection is standard input and output). It reads one request
(:mod:`picohub.trigger`), refuses anything outside the allowed form, and either runs a
check or starts the update in the transient unit ``picohub-update`` and answers at once.
The socket is the privilege boundary: polkit cannot narrow ``systemd-run`` (DESIGN.md,
"Privileges"), so the app gets this one door instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from debian.debian_support import Version

from picohub.errors import PicohubError, UsageError
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.trigger import (
    MAX_BUNDLE_BYTES,
    MAX_REQUEST_BYTES,
    Action,
    RequestRefused,
    TriggerReply,
    TriggerRequest,
    parse_request,
    read_line,
)
from picohub.update.apply import is_running, start_in_unit
from picohub.update.available import record_check
from picohub.update.config import load_config
from picohub.update.http import open_session
from picohub.update.lock import cache_lock
from picohub.update.releases import check_channel
from picohub.update.status import Phase, Status, read_status, write_status

log = logging.getLogger(__name__)

# How long a client may take to send its request.
REQUEST_TIMEOUT_S = 10


def serve_connection(connection: socket.socket, settings: Settings) -> None:
    """Answer the one request on ``connection``."""
    connection.settimeout(REQUEST_TIMEOUT_S)
    try:
        request = parse_request(read_line(connection, MAX_REQUEST_BYTES))
        log.info("request: %s", request.encode().decode().strip())
        reply = handle(request, settings)
    except RequestRefused as exc:
        log.warning("refused a request: %s", exc)
        reply = TriggerReply(False, str(exc), "refused")
    except (PicohubError, OSError) as exc:
        log.error("%s", exc)
        reply = TriggerReply(False, str(exc), "failed")
    connection.sendall(reply.encode())


def _status_data(settings: Settings) -> dict[str, Any]:
    return asdict(read_status(settings.update_status))


def handle(request: TriggerRequest, settings: Settings) -> TriggerReply:
    config = load_config(settings.update_config)
    if request.action is Action.CHECK:
        if is_running():
            return _running(settings)
        with cache_lock(settings), open_session() as session:
            result = check_channel(config, settings, session)
        available = record_check(settings, result)
        return TriggerReply(True, available["message"], data=available)
    if is_running():
        return _running(settings)
    if request.action is Action.APPLY:
        _refuse_older(settings, request.version)
        argv = ["apply", *([request.version] if request.version else [])]
        return _start(settings, argv, f"update to {request.version or 'the newest release'}")
    if request.action is Action.APPLY_BUNDLE and request.bundle is not None:
        bundle = take_upload(settings, request.bundle)
        return _start(settings, ["apply", "--bundle", str(bundle)], "update from the bundle")
    if request.action is Action.ROLLBACK:
        return _start(settings, ["rollback"], "rollback")
    raise RequestRefused(f"{request.action} needs a bundle")


def _running(settings: Settings) -> TriggerReply:
    return TriggerReply(
        False, "an update is already running", "running", data=_status_data(settings)
    )


def _refuse_older(settings: Settings, version: str | None) -> None:
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    if version and installed and Version(version) < Version(installed):
        raise RequestRefused(
            f"release {version} is older than the installed {installed}",
            hint="going back is a rollback",
        )


def _start(settings: Settings, argv: list[str], what: str) -> TriggerReply:
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    # Shown until the unit reports its first step, so a page never shows the last result.
    write_status(
        settings.update_status, Status(Phase.CHECKING, f"starting the {what}", None, installed)
    )
    try:
        start_in_unit(argv, wait=False)
    except UsageError:
        if is_running():
            return _running(settings)
        raise
    except PicohubError as exc:
        write_status(
            settings.update_status,
            Status(Phase.FAILED, f"the {what} did not start: {exc}", None, installed),
        )
        raise
    return TriggerReply(True, f"the {what} started", data=_status_data(settings))


def take_upload(settings: Settings, name: str) -> Path:
    """Move the uploaded bundle ``name`` out of the app's reach, into a root-only folder,
    so that the app cannot change it after it is checked. Symbolic links are refused at
    every step below the state folder (the app owns the folders it could swap)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        state = os.open(settings.state_dir, flags | os.O_DIRECTORY)
        try:
            uploads = os.open(settings.upload_dir.name, flags | os.O_DIRECTORY, dir_fd=state)
        finally:
            os.close(state)
        try:
            source = os.open(name, flags | os.O_NONBLOCK, dir_fd=uploads)
        finally:
            os.close(uploads)
    except OSError as exc:
        raise RequestRefused(f"there is no uploaded bundle {name!r}: {exc.strerror}") from exc
    incoming = settings.cache_dir / "incoming"
    with os.fdopen(source, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RequestRefused(f"the upload {name!r} is not a regular file")
        if info.st_size > MAX_BUNDLE_BYTES:
            raise RequestRefused(
                f"the upload {name!r} has {info.st_size} bytes, more than a bundle can have"
            )
        # Only the newest bundle is kept: the release it holds is moved into the cache.
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=0o700, parents=True)
        handle, temporary = tempfile.mkstemp(dir=incoming, prefix=".upload.")
        with os.fdopen(handle, "wb") as copy:
            shutil.copyfileobj(stream, copy)
            copy.flush()
            os.fsync(copy.fileno())
    target = incoming / name
    Path(temporary).replace(target)
    (settings.upload_dir / name).unlink(missing_ok=True)
    return target


def serve_standard_input(settings: Settings) -> None:
    """Serve the connection systemd passed as standard input (``Accept=yes``)."""
    with socket.socket(fileno=os.dup(0)) as connection:
        serve_connection(connection, settings)
