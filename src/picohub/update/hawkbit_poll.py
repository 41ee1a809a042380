"""What picohub does with each hawkBit poll answer, and the loop that polls.

The decisions are pure functions, tested alone: :func:`steps_for` (which of config data,
deployment and cancel a poll answer calls for), :func:`decide` (download, install or wait,
from the deployment's handling, its maintenance window and the owner's policy),
:func:`cancel_answer` and :func:`next_delay`. :class:`Device` carries them out with a
:class:`~picohub.update.hawkbit.DdiClient`; the install itself is a callback (the wiring
hands the downloaded bundle to the updater's bundle apply, which verifies it against the
pinned key, so hawkBit's hashes only prove the transfer).

Handling, as hawkBit describes it (``DdiDeployment``): ``download: skip`` means "not yet":
nothing is fetched. ``update: skip`` (a download-only action) and a maintenance window
that is ``unavailable`` fetch the artifacts and report ``downloaded``, no install; the
action stays open and is installed on a later poll once the window opens. ``attempt``
installs when the owner's policy allows unattended installs; ``forced`` installs.

An install handed to the updater by a process before a restart (the upgrade restarts
this service) is awaited and reported at the start of the next poll, whether or not the
server still offers its deployment: goosebit stops offering it once the config data
carry the new version (``sw_version``), and it would then never hear how it ended.

Every failure ends in a reported state: an install that fails (or rolls back) closes the
action with ``failure`` and the reason; an artifact whose bytes are wrong closes it at once;
a download that breaks (or finds too little free space) is resumed on the next polls and
closes the action with ``failure`` after :data:`MAX_DOWNLOAD_TRIES` tries.
"""

from __future__ import annotations

import logging
import random
import shlex
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from picohub.errors import PicohubError
from picohub.installed import installed_versions
from picohub.process import run
from picohub.settings import PACKAGE, RELEASE_PACKAGES
from picohub.update.fetch import check_free_space
from picohub.update.hawkbit import ArtifactRefused, DdiClient
from picohub.update.hawkbit_model import (
    ControllerBase,
    Deployment,
    Execution,
    Finished,
    Handling,
    Window,
    feedback_body,
)

log = logging.getLogger(__name__)

DEFAULT_SLEEP = 300  # seconds, when the server names no polling time (hawkBit's default)
MIN_SLEEP = 10
MAX_SLEEP = 24 * 3600
JITTER = 0.10
MAX_DOWNLOAD_TRIES = 3
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
NOT_INSTALLED = "not installed"


class Step(StrEnum):
    CONFIG_DATA = "config-data"
    CANCEL = "cancel"
    DEPLOYMENT = "deployment"


class Plan(StrEnum):
    WAIT = "wait"  # neither download nor install yet
    DOWNLOAD = "download"  # download and report it, do not install
    INSTALL = "install"


@dataclass(frozen=True)
class Decision:
    plan: Plan
    reason: str


def steps_for(base: ControllerBase, *, attributes_changed: bool) -> tuple[Step, ...]:
    """What a poll answer calls for, in order. Config data goes when the server asks (its
    ``configData`` link) or when the attributes changed since they were last sent. A
    cancel comes before a deployment (hawkBit offers the cancel while it cancels)."""
    steps = []
    if base.links.config_data is not None or attributes_changed:
        steps.append(Step.CONFIG_DATA)
    if base.links.cancel_action is not None:
        steps.append(Step.CANCEL)
    elif base.links.deployment_base is not None:
        steps.append(Step.DEPLOYMENT)
    return tuple(steps)


def decide(deployment: Deployment, *, allow_attempt: bool) -> Decision:
    """Whether to download and whether to install ``deployment`` now."""
    if deployment.download is Handling.SKIP:
        return Decision(Plan.WAIT, "the server asks not to download yet")
    if deployment.window is Window.UNAVAILABLE:
        return Decision(Plan.DOWNLOAD, "downloaded; the maintenance window is not open")
    if deployment.update is Handling.SKIP:
        return Decision(Plan.DOWNLOAD, "downloaded; the server asks for no install")
    if deployment.update is Handling.ATTEMPT and not allow_attempt:
        return Decision(
            Plan.DOWNLOAD,
            "downloaded; this hub installs only forced updates by itself (its policy)",
        )
    return Decision(Plan.INSTALL, f"installing ({deployment.update.value})")


def cancel_answer(stop_id: str, installing: str | None) -> tuple[Execution, Finished, str]:
    """The answer to a cancel of action ``stop_id``: confirmed unless its install began."""
    if installing is not None and installing == stop_id:
        return Execution.REJECTED, Finished.NONE, "the install has started; it cannot stop"
    return Execution.CLOSED, Finished.SUCCESS, "canceled before the install started"


def next_delay(sleep: int | None, rng: random.Random | None = None) -> float:
    """Seconds until the next poll: the server's time, ±10 %, within 10 s and 24 h."""
    base = DEFAULT_SLEEP if sleep is None else sleep
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return min(max(base * factor, MIN_SLEEP), MAX_SLEEP)


# -- this hub's attributes ---------------------------------------------------------------


def os_release_codename(path: Path) -> str:
    """``VERSION_CODENAME`` of ``/etc/os-release``; "unknown" when it says none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return "unknown"
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME":
            try:
                words = shlex.split(value)
            except ValueError:
                return "unknown"
            return words[0] if words else "unknown"
    return "unknown"


def device_attributes(dpkg_admin_dir: Path, os_release: Path) -> dict[str, str]:
    """The attributes this hub reports: its release's package versions (as dpkg has
    them), the Debian release and dpkg's architecture.

    ``sw_version`` repeats the ``picohub`` package's version under the name SWUpdate's
    suricatta gives it: goosebit reads only ``sw_version``, ``hw_boardname`` and
    ``hw_revision`` from config data, overwrites its record with them (a missing key makes
    its version unknown, and an assigned release is offered again), and offers nothing
    whose version equals ``sw_version``. ``hw_boardname`` is not sent: goosebit files
    the device under that board and then assigns only software whose sw-description
    lists it as compatible; a picohub ``.swu`` lists none (goosebit's "default"), and
    dpkg's architecture is not a board name anyway."""
    versions = installed_versions(RELEASE_PACKAGES, dpkg_admin_dir)
    attributes = {name: version or NOT_INSTALLED for name, version in versions.items()}
    attributes["sw_version"] = attributes[PACKAGE]
    attributes["debian_release"] = os_release_codename(os_release)
    arch = run(["dpkg", "--print-architecture"], timeout=30).stdout.strip()
    attributes["architecture"] = arch or "unknown"
    return attributes


# -- the device --------------------------------------------------------------------------

# Installs the downloaded artifacts of a deployment; raises PicohubError when it fails
# or rolled back (the message is the reason hawkBit shows); returns a line for hawkBit.
Installer = Callable[[Deployment, Sequence[Path]], str]


@dataclass
class Memory:
    """What the device remembers between polls (in this process)."""

    attributes: dict[str, str] | None = None
    started: set[str] = field(default_factory=set)  # actions told "proceeding"
    downloaded: set[str] = field(default_factory=set)  # actions told "downloaded"
    tries: dict[str, int] = field(default_factory=dict)  # failed downloads per action
    installing: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one poll did: the steps, the deployment's decision, and the next delay."""

    steps: tuple[Step, ...]
    decision: Decision | None
    delay: float
    closed: Finished | None = None


class Device:
    """picohub as one hawkBit target: :meth:`poll_once` and the loop :meth:`run`."""

    def __init__(
        self,
        client: DdiClient,
        *,
        cache_dir: Path,
        attributes: Callable[[], Mapping[str, str]],
        install: Installer,
        allow_attempt: Callable[[], bool] = lambda: False,
        max_artifact_bytes: int = MAX_ARTIFACT_BYTES,
        rng: random.Random | None = None,
        handed_over: Callable[[str], bool] = lambda _action: False,
        closed: Callable[[str], None] = lambda _action: None,
        pending: Callable[[], str | None] = lambda: None,
        result: Callable[[str], str] | None = None,
    ) -> None:
        """``handed_over(action)``: whether the install of ``action`` was already handed
        to the updater (by a process before a restart): its result is awaited, whatever
        the deployment's handling now says, and a cancel of it is rejected. ``closed
        (action)``: called once the server has the final feedback of ``action``.
        ``pending()``: the action handed over before, if any; ``result(action)`` awaits
        its end and says how it went (raises PicohubError when it failed), reported at
        the start of each poll that brings no cancel (see the module docstring)."""
        self.client = client
        self.cache_dir = cache_dir
        self.attributes = attributes
        self.install = install
        self.allow_attempt = allow_attempt
        self.max_artifact_bytes = max_artifact_bytes
        self.handed_over = handed_over
        self.closed = closed
        self.pending = pending
        self.result = result
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self.memory = Memory()

    def poll_once(self) -> Outcome:
        base = self.client.poll()
        closed = None
        pending = self.pending() if self.result is not None else None
        if pending is not None and self.result is not None and base.links.cancel_action is None:
            closed = self._report_handed_over(pending, self.result)
            base = self.client.poll()  # what the server has, now that it knows
        attributes = dict(self.attributes())
        steps = steps_for(base, attributes_changed=attributes != self.memory.attributes)
        decision = None
        for step in steps:
            if step is Step.CONFIG_DATA:
                self.client.put_config_data(attributes)
                self.memory.attributes = attributes
            elif step is Step.CANCEL and base.links.cancel_action is not None:
                self._cancel(base.links.cancel_action)
            elif step is Step.DEPLOYMENT and base.links.deployment_base is not None:
                deployment = self.client.deployment(base.links.deployment_base)
                if self.handed_over(deployment.action_id):
                    decision = Decision(Plan.INSTALL, "the install under way is awaited")
                else:
                    decision = decide(deployment, allow_attempt=self.allow_attempt())
                closed = self._carry_out(deployment, decision)
        return Outcome(steps, decision, next_delay(base.sleep, self.rng), closed)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; a failed poll is logged and tried again later."""
        delay = next_delay(None, self.rng)
        while not stop.is_set():
            try:
                delay = self.poll_once().delay
            except PicohubError as exc:
                log.warning("hawkBit: %s", exc)
            stop.wait(delay)

    # -- steps ---------------------------------------------------------------------------

    def _action_dir(self, action_id: str) -> Path:
        return self.cache_dir / f"action-{action_id}"

    def _cancel(self, link: str) -> None:
        cancel = self.client.cancel(link)
        installing = self.memory.installing
        if installing is None and self.handed_over(cancel.stop_id):
            installing = cancel.stop_id
        execution, finished, detail = cancel_answer(cancel.stop_id, installing)
        log.info("hawkBit cancels action %s: %s", cancel.stop_id, detail)
        self.client.cancel_feedback(
            cancel.action_id, feedback_body(execution, finished, details=[detail])
        )
        if execution is Execution.CLOSED:
            self._forget(cancel.stop_id)

    def _forget(self, action_id: str) -> None:
        shutil.rmtree(self._action_dir(action_id), ignore_errors=True)
        self.memory.started.discard(action_id)
        self.memory.downloaded.discard(action_id)
        self.memory.tries.pop(action_id, None)

    def _close(self, action_id: str, finished: Finished, details: Sequence[str]) -> Finished:
        self.client.feedback(action_id, feedback_body(Execution.CLOSED, finished, details=details))
        self._forget(action_id)
        self.closed(action_id)
        return finished

    def _carry_out(self, deployment: Deployment, decision: Decision) -> Finished | None:
        action = deployment.action_id
        if decision.plan is Plan.WAIT:
            return None
        artifacts = deployment.artifacts
        if not artifacts:
            return self._close(action, Finished.FAILURE, ["the deployment has no artifact"])
        if action not in self.memory.started:
            size = sum(artifact.size for artifact in artifacts)
            self._tell(
                action,
                Execution.PROCEEDING,
                [f"downloading {len(artifacts)} artifact(s), {size} bytes"],
                progress=(0, len(artifacts)),
            )
            self.memory.started.add(action)
        paths = self._download(deployment)
        if paths is None or isinstance(paths, Finished):
            return paths
        if decision.plan is Plan.DOWNLOAD:
            if action not in self.memory.downloaded:
                self._tell(
                    action,
                    Execution.DOWNLOADED,
                    [decision.reason],
                    progress=(len(paths), len(paths)),
                )
                self.memory.downloaded.add(action)
            return None
        return self._install(deployment, paths, decision)

    def _download(self, deployment: Deployment) -> list[Path] | Finished | None:
        """The verified artifacts; None to try again later; Finished when closed."""
        action = deployment.action_id
        directory = self._action_dir(action)
        paths = []
        try:
            missing = [a for a in deployment.artifacts if not (directory / a.filename).is_file()]
            check_free_space(directory, sum(artifact.size for artifact in missing))
            for artifact in deployment.artifacts:
                paths.append(
                    self.client.download(
                        artifact,
                        directory,
                        max_bytes=self.max_artifact_bytes,
                    )
                )
        except ArtifactRefused as exc:
            return self._close(action, Finished.FAILURE, _lines(exc))
        except PicohubError as exc:
            tries = self.memory.tries.get(action, 0) + 1
            self.memory.tries[action] = tries
            if tries >= MAX_DOWNLOAD_TRIES:
                return self._close(
                    action, Finished.FAILURE, [f"download failed {tries} times", *_lines(exc)]
                )
            log.info("hawkBit: download of action %s stopped; resuming later: %s", action, exc)
            self._tell(
                action,
                Execution.PROCEEDING,
                [f"download stopped (try {tries}); it resumes", *_lines(exc)],
            )
            return None
        return paths

    def _report_handed_over(self, action: str, result: Callable[[str], str]) -> Finished:
        """Await the install a process before a restart handed over; close its action."""
        log.info("hawkBit action %s: awaiting the update handed over before", action)
        return self._installed(action, lambda: result(action))

    def _install(self, deployment: Deployment, paths: list[Path], decision: Decision) -> Finished:
        action = deployment.action_id
        self._tell(
            action, Execution.PROCEEDING, [decision.reason], progress=(len(paths), len(paths))
        )
        return self._installed(action, lambda: self.install(deployment, paths))

    def _installed(self, action: str, install: Callable[[], str]) -> Finished:
        """Close ``action`` with how ``install`` ended (a cancel meanwhile is rejected)."""
        self.memory.installing = action
        try:
            detail = install()
        except PicohubError as exc:
            log.warning("hawkBit: action %s failed: %s", action, exc)
            return self._close(action, Finished.FAILURE, _lines(exc))
        finally:
            self.memory.installing = None
        return self._close(action, Finished.SUCCESS, [detail])

    def _tell(
        self,
        action: str,
        execution: Execution,
        details: list[str],
        progress: tuple[int, int] | None = None,
    ) -> None:
        """Feedback on an action still open (nothing finished yet)."""
        self.client.feedback(
            action, feedback_body(execution, Finished.NONE, progress=progress, details=details)
        )


def _lines(exc: PicohubError) -> list[str]:
    return [exc.message] + ([f"hint: {exc.hint}"] if exc.hint else [])
