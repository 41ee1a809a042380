"""A hawkBit deployment handed to the updater, and remembered across a restart.

The install callback of :class:`~picohub.update.hawkbit_poll.Device` runs
``picohub-update apply --origin=fleet --bundle FILE`` in the transient unit
(:mod:`picohub.update.unit`), as a person applying an offline bundle would: the bundle is
verified against the pinned release keys there (hawkBit's hashes only prove the
transfer), installed, checked and rolled back when it fails. The result is read from the
update history, which the unit's transaction ends with, not from the unit's exit code:
the same way serves a process that started the unit and one that started after it.

Before the unit starts, the action is written to a state file of root's
(:attr:`Settings.hawkbit_state`, 0600). The upgrade the unit installs restarts
``picohub-hawkbit.service`` (dpkg, through debhelper's postinst): the process that
handed the action over is stopped (:class:`Stopped`), and the one that starts finds the
action in the file, waits for the unit to end and reports how the update ended. The file
is removed once the server has the final feedback, so an action is never installed twice.

The artifact is the bundle itself (hawkBit), or an SWUpdate image holding it (goosebit
takes nothing else): the bundle is then taken out of the image into the action's folder
of the hawkBit cache (:func:`picohub.update.swu.extract_bundle`) and that is applied.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picohub.errors import PicohubError
from picohub.files import write_atomically
from picohub.settings import Settings
from picohub.update.hawkbit_model import Deployment
from picohub.update.history import Entry, History
from picohub.update.journal import Kind, Origin, Result
from picohub.update.status import now
from picohub.update.swu import extract_bundle, is_swu
from picohub.update.unit import is_running, start_in_unit

log = logging.getLogger(__name__)

STATE_FORMAT = 1
# How often the end of an update handed over before a restart is looked for.
WAIT_POLL_S = 5.0
# Where, next to a downloaded SWUpdate image, the bundle taken out of it goes.
SWU_BUNDLE_DIR = "bundle"


class InstallFailed(PicohubError):
    """The update of a hawkBit action failed or was rolled back; the message says why."""


class Stopped(Exception):
    """The service is stopping while an update it handed over runs on; the state file
    remembers the action for the next start. Not a PicohubError: nothing is reported."""


@dataclass(frozen=True)
class Pending:
    """An action whose install was handed to the transient unit."""

    action_id: str
    bundle: str
    handed_at: str  # picohub.update.status.now() just before the unit was asked for

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "action_id": self.action_id,
            "bundle": self.bundle,
            "handed_at": self.handed_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Pending:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not a hawkBit state of format 1")
        try:
            return cls(str(data["action_id"]), str(data["bundle"]), str(data["handed_at"]))
        except KeyError as exc:
            raise ValueError(f"the hawkBit state has no {exc}") from exc


@dataclass(frozen=True)
class HandoffState:
    path: Path

    def read(self) -> Pending | None:
        try:
            return Pending.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("the hawkBit state %s cannot be read (%s); ignored", self.path, exc)
            return None

    def write(self, pending: Pending) -> None:
        write_atomically(self.path, json.dumps(pending.to_json(), indent=2) + "\n", mode=0o600)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def outcome(history: Sequence[Entry], pending: Pending) -> tuple[bool, str]:
    """Whether the update handed over for ``pending`` succeeded, and what hawkBit is told:
    the newest fleet bundle transaction that started after the handoff (or, when there is
    none, whatever transaction did: a recovery at boot after a power cut)."""
    later = [entry for entry in history if entry.at >= pending.handed_at]
    ours = [e for e in later if e.origin == Origin.FLEET and e.kind == Kind.BUNDLE] or later
    if not ours:
        return False, (
            "the update recorded no result (it was refused before it began; "
            "journalctl -u picohub-update tells why)"
        )
    entry = ours[-1]
    if entry.result == Result.DONE:
        return True, entry.message
    if entry.result == Result.ROLLED_BACK:
        return False, f"rolled back: {entry.message}"
    return False, f"{entry.result}: {entry.message}"


def _bundle_of(artifact: Path) -> Path:
    """The bundle to apply: ``artifact``, or the one inside it when it is a ``.swu``."""
    if not is_swu(artifact):
        return artifact
    return extract_bundle(artifact, artifact.parent / SWU_BUNDLE_DIR)


class Handoff:
    """The :data:`~picohub.update.hawkbit_poll.Installer` of a hub: see the module."""

    def __init__(
        self, settings: Settings, stop: threading.Event, wait_poll_s: float | None = None
    ) -> None:
        self.settings = settings
        self.state = HandoffState(settings.hawkbit_state)
        self.stop = stop
        self.wait_poll_s = WAIT_POLL_S if wait_poll_s is None else wait_poll_s

    def handed_over(self, action_id: str) -> bool:
        pending = self.state.read()
        return pending is not None and pending.action_id == action_id

    def closed(self, action_id: str) -> None:
        """The server has the action's final feedback: forget it."""
        pending = self.state.read()
        if pending is not None and pending.action_id == action_id:
            self.state.clear()

    def pending(self) -> str | None:
        """The action whose install was handed over (by this or an earlier process)."""
        pending = self.state.read()
        return None if pending is None else pending.action_id

    def result(self, action: str) -> str:
        """Await the end of the install handed over for ``action``; what hawkBit is told
        (:class:`InstallFailed` when it failed or rolled back)."""
        pending = self.state.read()
        if pending is None or pending.action_id != action:
            raise InstallFailed(f"no update was handed over for hawkBit action {action}")
        return self._result(pending)

    def __call__(self, deployment: Deployment, paths: Sequence[Path]) -> str:
        action = deployment.action_id
        pending = self.state.read()
        if pending is not None and pending.action_id == action:
            log.info("hawkBit action %s: awaiting the update handed over before", action)
        else:
            pending = self._hand_over(action, paths)
        return self._result(pending)

    def _result(self, pending: Pending) -> str:
        self._wait(pending)
        succeeded, said = outcome(History(self.settings.update_history).read(), pending)
        log.info("hawkBit action %s: %s", pending.action_id, said)
        if not succeeded:
            raise InstallFailed(said, hint="picohub-update history tells more")
        return said

    def _hand_over(self, action: str, paths: Sequence[Path]) -> Pending:
        if len(paths) != 1:
            raise InstallFailed(
                f"the deployment has {len(paths)} artifacts; a picohub release is one, "
                "its offline bundle",
                hint="assign a software module with the release's .bundle.tar only",
            )
        bundle = str(_bundle_of(paths[0]).resolve())
        if self.stop.is_set():
            raise Stopped
        pending = Pending(action, bundle, now())
        self.state.write(pending)
        log.info("hawkBit action %s: installing the bundle %s", action, bundle)
        try:
            start_in_unit(["apply", f"--origin={Origin.FLEET}", "--bundle", bundle], wait=True)
        except PicohubError:
            if self.stop.is_set():  # systemd-run, stopped with us, left the unit running
                raise Stopped from None
            self.state.clear()  # it did not start: another update runs, or systemd refused
            raise
        return pending

    def _wait(self, pending: Pending) -> None:
        """Until the unit ended; :class:`Stopped` when the service is asked to stop."""
        while True:
            if self.stop.is_set():
                raise Stopped
            if not is_running():
                return
            log.debug("hawkBit action %s: the update still runs", pending.action_id)
            self.stop.wait(self.wait_poll_s)
