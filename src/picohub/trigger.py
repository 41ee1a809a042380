"""The update trigger's protocol: the one way the unprivileged web app asks root to act.

The app connects to ``picohub-update-trigger.socket`` (a Unix socket only root and the
group picohub may use); systemd starts ``picohub-update-trigger@.service`` as root for the
connection, which reads one request, checks it strictly and answers once. A request is
one JSON object on one line and carries at most a version string or the name of an
uploaded bundle: nothing from the web reaches a command line unchecked.
"""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from picohub import jsontext
from picohub.errors import PicohubError
from picohub.versions import is_release_version

MAX_REQUEST_BYTES = 1024
MAX_REPLY_BYTES = 256 * 1024
# An uploaded bundle holds a release's four packages: a few MB (a Pico 2 W image is at
# most 8 MiB as UF2). The bound keeps its two copies on the SD card (the app's, then the
# trigger's) inside gunicorn's 30 s worker timeout and the trigger's 15 s start; a larger
# bundle is applied from a shell. packaging/nginx/picohub says the same.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
# How long the root side may take to answer: the app waits for the sum, which stays below
# gunicorn's 30 s worker timeout, so a slow GitHub gives the page a message, not a 502.
LOCK_WAIT_S = 5.0  # for a check or a fetch from a shell to let go of the cache
CHECK_DEADLINE_S = 15.0  # for all of a check's transfers together
ANSWER_SLACK_S = 5.0  # for the rest: verifying the index, writing, the socket
# For the unit of a run that has ended to go (its after-run); a check does not wait.
FINISHING_WAIT_S = 10.0
CHECK_ANSWER_S = LOCK_WAIT_S + CHECK_DEADLINE_S + ANSWER_SLACK_S
# systemd-run answers once the unit has started.
START_ANSWER_S = FINISHING_WAIT_S + LOCK_WAIT_S + ANSWER_SLACK_S
# How often the app tries again while the trigger's connections are all taken.
RETRY_PAUSE_S = 0.25
# An uploaded bundle: a plain file name in the upload folder, nothing a path could abuse.
BUNDLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.tar")


class Action(StrEnum):
    CHECK = "check"  # ask GitHub whether a newer release exists
    APPLY = "apply"  # install a release (the newest, or the given version)
    APPLY_BUNDLE = "apply-bundle"  # install the release in an uploaded bundle
    ROLLBACK = "rollback"  # install the previous release from the cache
    HOLD = "hold"  # hold automatic installs (until a given end, or until released)
    RELEASE_HOLD = "release-hold"


class RequestRefused(PicohubError):
    """A trigger request that is not in the allowed form; nothing was done."""


@dataclass(frozen=True)
class TriggerRequest:
    action: Action
    version: str | None = None
    bundle: str | None = None
    until: str | None = None  # a hold's end, as ``picohub-update hold --until`` takes it

    def encode(self) -> bytes:
        fields: dict[str, str] = {"action": self.action.value}
        if self.until is not None:
            fields["until"] = self.until
        if self.version is not None:
            fields["version"] = self.version
        if self.bundle is not None:
            fields["bundle"] = self.bundle
        return json.dumps(fields).encode() + b"\n"


# The fields each action may carry (and must, for a bundle).
_ALLOWED: dict[Action, frozenset[str]] = {
    Action.CHECK: frozenset(),
    Action.APPLY: frozenset({"version"}),
    Action.APPLY_BUNDLE: frozenset({"bundle"}),
    Action.ROLLBACK: frozenset(),
    Action.HOLD: frozenset({"until"}),
    Action.RELEASE_HOLD: frozenset(),
}
# A hold's end: a duration or an ISO date or time (checked again by picohub.update.holds).
HOLD_UNTIL = re.compile(r"[0-9][0-9A-Za-z:+.-]{0,39}")


def parse_request(raw: bytes) -> TriggerRequest:
    """Decode one request, refusing anything outside the allowed form."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestRefused(f"the request is longer than {MAX_REQUEST_BYTES} bytes")
    if not raw.strip():
        raise RequestRefused("the request is empty: send one JSON object on one line")
    try:
        data = jsontext.loads(raw)
    except jsontext.JsonRefused as exc:
        raise RequestRefused(f"the request is not acceptable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RequestRefused("the request must be a JSON object")
    known = {a.value: a for a in Action}
    name = data.get("action")
    if not isinstance(name, str) or name not in known:
        raise RequestRefused(f"unknown action {name!r}; known: {', '.join(known)}")
    action = known[name]
    extra = set(data) - {"action"} - _ALLOWED[action]
    if extra:
        raise RequestRefused(f"{action} takes no {', '.join(sorted(extra))}")
    version, bundle = data.get("version"), data.get("bundle")
    if version is not None and not is_release_version(version):
        raise RequestRefused(f"{version!r} is not a release version")
    if action is Action.APPLY_BUNDLE and not (
        isinstance(bundle, str) and BUNDLE_NAME.fullmatch(bundle)
    ):
        raise RequestRefused(f"{bundle!r} is not the name of an uploaded bundle")
    until = data.get("until")
    if until is not None and not (isinstance(until, str) and HOLD_UNTIL.fullmatch(until)):
        raise RequestRefused(f"{until!r} is not a hold's end")
    return TriggerRequest(action, version, bundle, until)


@dataclass(frozen=True)
class TriggerReply:
    ok: bool
    message: str
    error: str | None = None  # "running", "refused" or "failed" when not ok
    data: dict[str, Any] | None = None

    def encode(self) -> bytes:
        fields = {"ok": self.ok, "message": self.message, "error": self.error, "data": self.data}
        return json.dumps(fields).encode() + b"\n"


def decode_reply(raw: bytes) -> TriggerReply:
    try:
        data = json.loads(raw.decode("utf-8"))
        return TriggerReply(
            ok=bool(data["ok"]),
            message=str(data["message"]),
            error=data.get("error"),
            data=data.get("data"),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise PicohubError(f"the update trigger answered something unreadable: {exc}") from exc


def read_line(sock: socket.socket, limit: int, within: float | None = None) -> bytes:
    """One newline-terminated message of at most ``limit`` bytes (or up to EOF), whole
    within ``within`` seconds when given: a client sending a byte now and then cannot hold
    the connection longer (the socket's own timeout counts from the last byte)."""
    deadline = None if within is None else time.monotonic() + within
    late = f"the message did not arrive whole within {within or 0:g} s"
    received = bytearray()
    while b"\n" not in received:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(late)
            sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if deadline is None:
                raise
            raise TimeoutError(late) from None
        if not chunk:
            break
        received += chunk
        if len(received) > limit:
            raise PicohubError(f"a message longer than {limit} bytes")
    return bytes(received.split(b"\n", 1)[0])


def ask(socket_path: Path, request: TriggerRequest, timeout: float) -> TriggerReply:
    """Send ``request`` to the trigger and wait (at most ``timeout`` s in all) for its
    answer. While every connection the socket allows is held (systemd closes one beyond
    MaxConnections at once, and the trigger cuts a slow client off after its request
    timeout), the request is sent again until a place is free or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        raw = _exchange(socket_path, request, deadline)
        if raw:
            return decode_reply(raw)
        if time.monotonic() + RETRY_PAUSE_S >= deadline:
            raise PicohubError(
                "the update trigger closed every connection without an answer for "
                f"{timeout:g} s: all of its connections are taken",
                hint="try again shortly; journalctl -u 'picohub-update-trigger@*' as root "
                "shows who holds them",
            )
        time.sleep(RETRY_PAUSE_S)


def _exchange(socket_path: Path, request: TriggerRequest, deadline: float) -> bytes:
    """One connection: the answer's line, or b"" when the socket closed it unanswered."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            sock.connect(str(socket_path))
            sock.sendall(request.encode())
            sock.shutdown(socket.SHUT_WR)
            return read_line(sock, MAX_REPLY_BYTES)
        except (ConnectionResetError, BrokenPipeError):
            return b""  # closed by systemd before the trigger read it: no place free
        except OSError as exc:
            raise PicohubError(
                f"the update trigger {socket_path} cannot be reached: {exc}",
                hint="is picohub-update-trigger.socket running? systemctl status it as root",
            ) from exc
