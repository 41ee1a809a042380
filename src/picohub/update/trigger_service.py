"""``picohub-update trigger``: the root side of the web app's update trigger.

systemd runs this as root for each connection to ``picohub-update-trigger.socket``
(``Accept=yes``; the connection is standard input and output). It reads one request
(:mod:`picohub.trigger`), refuses anything outside the allowed form, and either runs a
check or starts the update in the transient unit ``picohub-update`` and answers at once.
The socket is the privilege boundary: polkit cannot narrow ``systemd-run``
(docs/updater.md, "Privileges"), so the app gets this one door instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from debian.debian_support import Version

from picohub.errors import PicohubError, UsageError
from picohub.files import atomic_file
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.trigger import (
    CHECK_DEADLINE_S,
    FINISHING_WAIT_S,
    LOCK_WAIT_S,
    MAX_BUNDLE_BYTES,
    MAX_REQUEST_BYTES,
    Action,
    RequestRefused,
    TriggerReply,
    TriggerRequest,
    parse_request,
    read_line,
)
from picohub.update.available import record_check
from picohub.update.cache import CacheBusy, cache_lock
from picohub.update.config import UpdateConfig, load_config
from picohub.update.holds import Holds, parse_until
from picohub.update.http import open_session, shared_deadline
from picohub.update.journal import Origin
from picohub.update.releases import check_channel
from picohub.update.status import ENDED, Phase, Status, read_status, write_status
from picohub.update.unit import is_running, start_in_unit

log = logging.getLogger(__name__)

# How long a client may take to send its whole request (the app sends it at once), and
# to take the answer.
REQUEST_TIMEOUT_S = 5.0
_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
# The transaction's journal names who started a run.
PAGE = f"--origin={Origin.PAGE}"


def serve_connection(connection: socket.socket, settings: Settings) -> None:
    """Answer the one request on ``connection``."""
    try:
        request = parse_request(_read_request(connection))
        log.info("request: %s", request.encode().decode().strip())
        reply = handle(request, settings)
    except RequestRefused as exc:
        log.warning("refused a request: %s", exc)
        reply = TriggerReply(False, str(exc), "refused")
    except (PicohubError, OSError) as exc:
        log.error("%s", exc)
        reply = TriggerReply(False, str(exc), "failed")
    connection.settimeout(REQUEST_TIMEOUT_S)
    try:
        connection.sendall(reply.encode())
    except OSError as exc:
        log.warning("the client went away before the answer: %s", exc)


def _read_request(connection: socket.socket) -> bytes:
    """The request's bytes; one too long or too slow is refused, and answered."""
    try:
        return read_line(connection, MAX_REQUEST_BYTES, within=REQUEST_TIMEOUT_S)
    except TimeoutError as exc:
        raise RequestRefused(str(exc), hint="send the whole request at once") from exc
    except PicohubError as exc:
        raise RequestRefused(str(exc)) from exc


def _status_data(settings: Settings) -> dict[str, Any]:
    return read_status(settings.update_status).to_json()


def handle(request: TriggerRequest, settings: Settings) -> TriggerReply:
    if request.action in (Action.HOLD, Action.RELEASE_HOLD):
        return _hold(request, settings)  # touches no release: not in the unit's way
    config = load_config(settings.update_config)
    if not _unit_free_for(request, settings):
        return _running(settings)
    # The cache's lock makes two requests at once (two pages, or a page and a shell) take
    # turns: the second sees the unit the first started, and never empties the incoming
    # folder under the first one's bundle.
    try:
        with cache_lock(settings, LOCK_WAIT_S):
            if is_running() and not _beside_a_finishing_run(request, settings):
                return _running(settings)
            return _dispatch(request, config, settings)
    except CacheBusy:
        return _running(settings, "another picohub-update is using the cache; try again soon")


def _beside_a_finishing_run(request: TriggerRequest, settings: Settings) -> bool:
    """A check may run while the unit's after-run follows a run that recorded its end:
    after-run then changes nothing."""
    return request.action is Action.CHECK and read_status(settings.update_status).phase in ENDED


def _unit_free_for(request: TriggerRequest, settings: Settings) -> bool:
    """Whether ``request`` may go on: no unit, a check beside a finishing run, or a run
    that ended and whose unit goes within FINISHING_WAIT_S (its after-run, a moment
    after the page saw the end)."""
    if not is_running():
        return True
    if read_status(settings.update_status).phase not in ENDED:
        return False
    if request.action is Action.CHECK:
        return True  # beside a finishing run (see _beside_a_finishing_run)
    deadline = time.monotonic() + FINISHING_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.2)  # the unit's state, polled: systemctl offers no wait for a stop
        if not is_running():
            return True
    return False


def _dispatch(request: TriggerRequest, config: UpdateConfig, settings: Settings) -> TriggerReply:
    if config.managed_by_hawkbit and request.action in (Action.CHECK, Action.APPLY):
        # The server's rollout decides; a bundle by hand and a rollback still go.
        raise RequestRefused(f"{config.managed_by}: the server decides what is installed")
    if request.action is Action.CHECK:
        with open_session() as session, shared_deadline("a check", CHECK_DEADLINE_S):
            result = check_channel(config, settings, session)
        available = record_check(settings, result)
        return TriggerReply(True, available.message, data=available.to_json())
    if request.action is Action.APPLY:
        _refuse_older(settings, request.version)
        argv = ["apply", PAGE, *([request.version] if request.version else [])]
        return _start(settings, argv, f"update to {request.version or 'the newest release'}")
    if request.action is Action.APPLY_BUNDLE and request.bundle is not None:
        bundle = take_upload(settings, request.bundle)
        return _start(settings, ["apply", PAGE, "--bundle", str(bundle)], "update from the bundle")
    if request.action is Action.ROLLBACK:
        return _start(settings, ["rollback", PAGE], "rollback")
    raise RequestRefused(f"{request.action} needs a bundle")


def _hold(request: TriggerRequest, settings: Settings) -> TriggerReply:
    holds = Holds(settings.update_hold)
    if request.action is Action.RELEASE_HOLD:
        released = holds.release()
        return TriggerReply(True, "the hold is released" if released else "there was no hold")
    moment = datetime.now(UTC)
    try:
        end = None if request.until is None else parse_until(request.until, moment)
    except UsageError as exc:
        raise RequestRefused(str(exc)) from exc
    hold = holds.hold(end, by=Origin.PAGE)
    return TriggerReply(True, f"automatic updates are {hold.description}", data=hold.to_json())


def _running(settings: Settings, message: str | None = None) -> TriggerReply:
    status = _status_data(settings)
    if message is None:
        # An ended status while the unit is there: its after-run is finishing.
        message = (
            "the last update is finishing; try again in a few seconds"
            if status["phase"] in ENDED
            else "an update is already running"
        )
    return TriggerReply(False, message, "running", data=status)


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
    every step below the state folder (the app owns the folders it could swap), and the
    upload folder is held open so the upload is removed from the folder it was read from."""
    try:
        state = os.open(settings.state_dir, _NO_FOLLOW | os.O_DIRECTORY)
        try:
            uploads = os.open(settings.upload_dir.name, _NO_FOLLOW | os.O_DIRECTORY, dir_fd=state)
        finally:
            os.close(state)
    except OSError as exc:
        raise RequestRefused(f"there is no upload folder: {exc.strerror}") from exc
    try:
        target = _copy_upload(settings, uploads, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=uploads)
        return target
    finally:
        os.close(uploads)


def _copy_upload(settings: Settings, uploads: int, name: str) -> Path:
    """Copy the regular file ``name`` in the folder ``uploads`` to ``incoming/name``,
    exactly the bytes it had when it was opened."""
    try:
        source = os.open(name, _NO_FOLLOW | os.O_NONBLOCK, dir_fd=uploads)
    except OSError as exc:
        raise RequestRefused(f"there is no uploaded bundle {name!r}: {exc.strerror}") from exc
    incoming = settings.incoming_dir
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
        target = incoming / name
        with atomic_file(target, mode=0o600, prefix=".upload.") as copy:
            copy_exactly(stream, copy, info.st_size, name)
    return target


def copy_exactly(source: BinaryIO, target: BinaryIO, size: int, name: str) -> None:
    """Copy ``size`` bytes; an upload that grows or shrinks meanwhile is refused (the app
    owns the file and could keep writing to it)."""
    left = size
    while left:
        chunk = source.read(min(left, _CHUNK))
        if not chunk:
            raise RequestRefused(f"the upload {name!r} became shorter while it was read")
        target.write(chunk)
        left -= len(chunk)
    if source.read(1):
        raise RequestRefused(f"the upload {name!r} grew while it was read")


def serve_standard_input(settings: Settings) -> None:
    """Serve the connection systemd passed as standard input (``Accept=yes``)."""
    with socket.socket(fileno=os.dup(0)) as connection:
        serve_connection(connection, settings)
