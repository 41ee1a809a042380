"""``picohub-update auto``: an automatic run, started by ``picohub-update-auto.timer``
or by NetworkManager's dispatcher when the hub gets online (``picohub-update-auto@ORIGIN``).

It checks the channel, then does what the owner's rules allow (:mod:`picohub.update.policy`):
show what is available, download it, wait for the maintenance window (a transient timer
wakes it then), or install it through the same transaction as every other entry point:
``picohub-update apply`` in the transient unit. A release whose install was rolled back
is skipped until a newer one appears; a hold stops the install, not the download; a
phased release whose turn has not come for this hub (:mod:`picohub.update.phasing`) is
neither downloaded nor installed.

What it found and did is written for the page (``automatic.json``), and every run that
installed nothing leaves one history entry (repeats folded into one).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.files import flock_within, write_atomically
from picohub.installed import installed_version, installed_versions
from picohub.process import run
from picohub.settings import PACKAGE, RELEASE_PACKAGES, Settings
from picohub.update.apply import fetch_previous, install_downloaded, update
from picohub.update.available import Available, read_available, record_check
from picohub.update.cache import CacheBusy, ReleaseCache, cache_lock
from picohub.update.check import CheckResult
from picohub.update.config import UpdateConfig, load_config
from picohub.update.fetch import fetch
from picohub.update.history import Entry, History, duration
from picohub.update.holds import Holds
from picohub.update.http import DownloadError, RateLimited, ServerError, open_session
from picohub.update.journal import AUTOMATIC, Kind, Origin, Result
from picohub.update.network import metered
from picohub.update.packages import apt_sources, is_downgrade
from picohub.update.plan import PlanRefused, is_refused_plan, plan_install
from picohub.update.policy import Action, Circumstances, Decision, Mode, decide
from picohub.update.releases import check_channel
from picohub.update.status import Phase, Status, now, write_status
from picohub.update.unit import UNIT_WAIT_S, in_unit, is_running, start_in_unit, unit_command

log = logging.getLogger(__name__)

# A check or fetch from a shell holding the cache is waited for this long, then the run
# leaves it to the next one.
LOCK_WAIT_S = 30.0
# Another automatic run (the window's, beside the network's) is waited for this long: the
# second then checks again, cheaply, and does what is left (the unit's limit is 2 h).
RUN_WAIT_S = 3600.0
CHECK = "check"  # the history's kind for an automatic run that installed nothing
# After GitHub limited or failed a check, the next automatic runs wait (a flapping link
# must not turn a rate limit into a request every few minutes).
BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MOST = timedelta(hours=6)
WINDOW_TIMER = "picohub-update-window"


@dataclass(frozen=True)
class AutomaticRun:
    """What the last automatic run found and did: the page shows it."""

    at: str
    origin: str
    action: str  # policy.Action, or "error"
    message: str
    version: str | None = None
    # Checks that failed in a row (the network, GitHub), and when the next may try.
    failures: int = 0
    retry_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "origin": self.origin,
            "action": self.action,
            "message": self.message,
            "version": self.version,
            "failures": self.failures,
            "retry_at": self.retry_at,
        }

    @classmethod
    def from_json(cls, data: object) -> AutomaticRun:
        if not isinstance(data, dict):
            raise ValueError("an automatic run is a JSON object")
        try:
            version, retry_at = data.get("version"), data.get("retry_at")
            return cls(
                str(data["at"]),
                str(data["origin"]),
                str(data["action"]),
                str(data["message"]),
                None if version is None else str(version),
                int(data.get("failures", 0)),
                None if retry_at is None else str(retry_at),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an automatic run: {exc}") from exc


def read_last_run(settings: Settings) -> AutomaticRun | None:
    try:
        return AutomaticRun.from_json(
            json.loads(settings.update_automatic.read_text(encoding="utf-8"))
        )
    except (OSError, ValueError):
        return None


def run_automatic(settings: Settings, origin: Origin) -> int:
    """One automatic run; its exit code (a bad ``update.conf`` is 2, and recorded)."""
    if origin not in AUTOMATIC:
        raise UsageError(f"an automatic run's origin is one of {', '.join(AUTOMATIC)}")
    started = now()
    recorder = _Recorder(settings, origin, started)
    try:
        config = load_config(settings.update_config)
    except UsageError as exc:
        recorder.error(str(exc))
        raise
    if config.managed_by_hawkbit:
        # picohub-hawkbit.service installs what the server assigns; nothing else may.
        recorder.note(Decision(Action.NOTHING, f"{config.managed_by} (update.conf [fleet])"))
        return ExitCode.OK
    if config.automatic is Mode.OFF:
        recorder.note(Decision(Action.NOTHING, "automatic updates are off (automatic = off)"))
        return ExitCode.OK
    # In the transient unit (where the maintenance window's timer starts it) it waits
    # for another automatic run only briefly: that one sees this unit and leaves it be.
    wait_s = UNIT_WAIT_S if in_unit() else RUN_WAIT_S
    with _one_at_a_time(settings, wait_s) as alone:
        if not alone:
            log.info("another automatic run went on for %.0f s; this one gives up", wait_s)
            return ExitCode.OK
        if not in_unit() and is_running():
            recorder.note(Decision(Action.NOTHING, "an update is running; nothing to do"))
            return ExitCode.OK
        try:
            return _run(config, settings, origin, recorder)
        except CacheBusy:
            recorder.note(
                Decision(
                    Action.NOTHING,
                    "another picohub-update is using the cache; the next automatic run looks again",
                )
            )
            return ExitCode.OK
        except (RateLimited, ServerError) as exc:  # GitHub asks us to come back later
            recorder.turned_away(exc, datetime.now(UTC))
            raise
        except PicohubError as exc:
            recorder.error(str(exc))
            raise


def retry_after(failures: int, moment: datetime, asked: datetime | None = None) -> datetime:
    """When the next automatic run may check after ``failures`` failed checks in a row:
    5 minutes, doubling up to 6 hours (the daily timer still finds the next day free),
    and never before the time the server asked for."""
    backoff: timedelta = min(BACKOFF_FIRST * 2 ** min(failures - 1, 16), BACKOFF_MOST)
    earliest = moment + backoff
    return asked if asked is not None and asked > earliest else earliest


def stop_on_sigterm() -> None:
    """systemctl stop or the unit's time limit unwinds the run (SystemExit), so what it
    recorded stays true (a download is not left "downloading")."""
    signal.signal(signal.SIGTERM, _stop)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run(config: UpdateConfig, settings: Settings, origin: Origin, recorder: _Recorder) -> int:
    moment = datetime.now().astimezone()
    with cache_lock(settings, LOCK_WAIT_S):
        # The page may have started an update before this run took the cache.
        if not in_unit() and is_running():
            recorder.note(Decision(Action.NOTHING, "an update is running; nothing to do"))
            return ExitCode.OK
        ahead = downloaded_ahead(config, settings, moment)
        if ahead is not None:
            log.info("automatic run (%s): %s, downloaded ahead", origin, ahead[1].reason)
        if ahead is not None and in_unit():
            release, decision = ahead
            recorder.started_install(decision, release.version)
            return install_downloaded(config, settings, release.version, release.packages, origin)
    if ahead is not None:  # the unit decides again, and installs
        return _start_install(["auto", f"--origin={origin}"], recorder, *ahead)
    if recorder.backing_off(datetime.now(UTC)):
        return ExitCode.OK
    return _check_and_act(config, settings, origin, recorder, moment)


def _check_and_act(
    config: UpdateConfig, settings: Settings, origin: Origin, recorder: _Recorder, moment: datetime
) -> int:
    """Check the channel, and do what the rules say: download, wait, install."""
    with cache_lock(settings, LOCK_WAIT_S), open_session() as session:
        result = check_channel(config, settings, session)
        available = record_check(settings, result)
        found = circumstances(settings, available, moment)
        decision = decide(config.policy, found)
        log.info("automatic run (%s): %s", origin, decision.reason)
        downloaded = 0
        if decision.action in (Action.DOWNLOAD, Action.WAIT):
            if not found.cached:
                downloaded = _download(config, settings, session, result)
            plan_ahead(settings, available.version, available.packages)
            if decision.action is Action.WAIT and not found.cached:
                # The download may have lasted past the opening: decide at its end.
                later = replace(found, now=datetime.now().astimezone(), cached=True)
                decision = decide(config.policy, later)
    if decision.action is Action.WAIT and decision.wake_at is not None:
        _wake_at(decision.wake_at)
    if decision.action is not Action.INSTALL:
        recorder.note(decision, available.version, downloaded)
        return ExitCode.OK
    # The transaction, its journal and its history entry are apply's, as from the page.
    if in_unit():
        recorder.started_install(decision, available.version)
        with cache_lock(settings, UNIT_WAIT_S):
            return update(config, settings, available.version, origin)
    return _start_install(
        ["apply", f"--origin={origin}", available.version], recorder, available, decision
    )


def downloaded_ahead(
    config: UpdateConfig, settings: Settings, moment: datetime
) -> tuple[Available, Decision] | None:
    """The release the last check found, when it is in the cache, verified, and the
    owner's rules say to install it now; None otherwise. Nothing is asked of the network:
    the maintenance window's run installs what was downloaded for it, even offline."""
    available = read_available(settings)
    if available is None:
        return None
    installed = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    available = available.without_installed(installed)  # installed by hand since
    found = circumstances(settings, available, moment)
    if not found.cached:
        return None
    decision = decide(config.policy, found)
    return (available, decision) if decision.action is Action.INSTALL else None


def plan_ahead(settings: Settings, version: str, packages: Sequence[str]) -> None:
    """Prepare the install now: apt's private lists of the release brought up to date,
    and apt's plan simulated (an install reuses both while nothing they come from
    changes: :func:`picohub.update.plan.simulated`; a plan kept from before needs no
    lists). A plan that will be refused is said now too (the install ends with it)."""
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    try:
        fetched = ReleaseCache(settings).load(version, packages)
        apt_sources(fetched, settings.archive_keyring, settings)
        plan_install(
            fetched,
            packages,
            settings,
            downgrade=is_downgrade(installed, version),
            accept_new_dependencies=False,
        )
    except PlanRefused as exc:
        log.warning("release %s will not be installed automatically: %s", version, exc)
    except PicohubError as exc:
        log.warning("apt's plan for release %s could not be simulated ahead: %s", version, exc)


def _start_install(
    argv: Sequence[str], recorder: _Recorder, available: Available, decision: Decision
) -> int:
    """``picohub-update ARGV`` in the transient unit: its transaction installs."""
    try:
        started = start_in_unit(argv, wait=False)
    except UsageError:  # the page or a shell started one since: that one goes on
        recorder.note(Decision(Action.NOTHING, "an update started meanwhile; nothing to do"))
        return ExitCode.OK
    recorder.started_install(decision, available.version)
    return started


def circumstances(settings: Settings, available: Available, moment: datetime) -> Circumstances:
    version = available.version if available.update_available else None
    hold = Holds(settings.update_hold).current(moment.astimezone(UTC))
    cached = version is not None and _cached(settings, available)
    return Circumstances(
        now=moment,
        version=version,
        cached=cached,
        held_until=None if hold is None else (hold.until or ""),
        skipped_because=None if version is None else skipped_because(settings, version),
        # Metering only bounds downloads: NetworkManager is not asked for a cached release.
        metered=version is not None and not cached and metered(),
        date_refusal=None if version is None else available.date_refusal,
        not_this_hubs_turn=None if version is None else available.not_this_hubs_turn,
    )


def _cached(settings: Settings, available: Available) -> bool:
    try:
        ReleaseCache(settings).load(available.version, [c.package for c in available.changes])
    except PicohubError:
        return False
    return True


def skipped_because(settings: Settings, version: str) -> str | None:
    """Why ``version`` is not installed automatically: its last install (automatic or by
    hand) was rolled back or refused for what it asks beyond picohub, or someone rolled it
    back on request since. None when it may be; installing it by hand clears it."""
    attempts = [
        entry
        for entry in History(settings.update_history).read()
        if (entry.kind in (Kind.UPDATE, Kind.BUNDLE) and entry.to_release == version)
        or (entry.kind == Kind.ROLLBACK and entry.from_release == version)
    ]
    if not attempts:
        return None
    last = attempts[-1]
    # A requested rollback ends rolled-back (healthy on the older release).
    if last.kind == Kind.ROLLBACK and last.result != Result.FAILED:
        return f"it was rolled back on request on {last.at}"
    if last.kind != Kind.ROLLBACK and last.result == Result.ROLLED_BACK:
        who = "automatic " if last.origin in AUTOMATIC else ""
        return f"its {who}install on {last.at} was rolled back ({last.message})"
    if (
        last.kind != Kind.ROLLBACK
        and last.result == Result.FAILED
        and is_refused_plan(last.message)
    ):
        return f"its install on {last.at} was refused ({last.message})"
    return None


def _download(
    config: UpdateConfig, settings: Settings, session: requests.Session, result: CheckResult
) -> int:
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    status = settings.update_status
    write_status(
        status,
        Status(Phase.DOWNLOADING, f"downloading release {result.version}", 0.0, installed),
    )
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction < 1.0 and time.monotonic() - last[0] < 0.5:
            return  # each write is an fsync
        last[0] = time.monotonic()
        message = f"downloading release {result.version}: {fraction:.0%}"
        write_status(status, Status(Phase.DOWNLOADING, message, fraction, installed))

    keep = [v for v in (installed, result.version) if v]
    packages = [change.package for change in result.changes]
    try:
        # The rollback copy too, as apply fetches it: the window's run then fetches
        # nothing, and pays only dpkg and the handover.
        previous = fetch_previous(config, settings, session, installed, packages, keep)
        fetched = fetch(
            result,
            settings,
            session,
            keep=keep,
            max_bytes=config.max_download_bytes,
            progress=progress,
        )
    except PicohubError as exc:
        write_status(status, Status(Phase.FAILED, f"the download failed: {exc}", None, installed))
        raise
    except BaseException:  # stopped (SIGTERM, the unit's time limit): never left "downloading"
        stopped = "the download was stopped; the next automatic run resumes it"
        write_status(status, Status(Phase.FAILED, stopped, None, installed))
        raise
    write_status(
        status,
        Status(
            Phase.DOWNLOADED,
            f"release {result.version} is downloaded and verified",
            1.0,
            installed,
            result.version,
        ),
    )
    return fetched.downloaded_bytes + (0 if previous is None else previous.downloaded_bytes)


def _wake_at(moment: datetime) -> None:
    """A transient timer that starts the next automatic run when the window opens; it
    replaces the one an earlier run set. Lost at a reboot: the daily timer is not.

    The run starts in the transient unit itself (:func:`picohub.update.unit.unit_command`):
    it decides there, with the rules as they are then, and installs the release
    downloaded ahead in the same process. A unit already running (an update from the
    page) makes this start fail, and that update goes on."""
    run(["systemctl", "stop", f"{WINDOW_TIMER}.timer"], check=False)
    run(
        [
            "systemd-run",
            f"--unit={WINDOW_TIMER}",
            "--description=picohub: install the downloaded release in the maintenance window",
            f"--on-calendar={moment:%Y-%m-%d %H:%M:%S}",
            "--timer-property=AccuracySec=1s",
            "--collect",
            *unit_command(["auto", f"--origin={Origin.TIMER}"]),
        ]
    )
    log.info("the next automatic run is at %s, when the maintenance window opens", moment)


@contextmanager
def _one_at_a_time(settings: Settings, wait_s: float) -> Iterator[bool]:
    """Whether this run got the automatic runs' lock, waiting up to ``wait_s`` for it."""
    settings.update_state_dir.mkdir(parents=True, exist_ok=True)
    with flock_within(settings.update_state_dir / "automatic.lock", wait_s, 0.5) as held:
        yield held


@dataclass(frozen=True)
class _Recorder:
    """Writes what a run found and did: for the page, and into the history."""

    settings: Settings
    origin: Origin
    started: str

    def note(self, decision: Decision, version: str | None = None, downloaded: int = 0) -> None:
        self._last_run(decision.action, decision.reason, version)
        installed = installed_version(PACKAGE, self.settings.dpkg_admin_dir)
        self._history(Result.DONE, decision.reason, installed, version, downloaded)

    def started_install(self, decision: Decision, version: str) -> None:
        self._last_run(decision.action, decision.reason, version)

    def error(self, message: str) -> None:
        self._last_run("error", message, None)
        installed = installed_version(PACKAGE, self.settings.dpkg_admin_dir)
        self._history(Result.FAILED, message, installed, None, 0)

    def turned_away(self, exc: DownloadError, moment: datetime) -> None:
        """GitHub limited or failed the check: the next runs wait, longer each time. (A
        network that went away does not make them wait: the next online event is the
        news that it is back, and the dispatcher starts at most one run in 5 minutes.)"""
        last = read_last_run(self.settings)
        failures = (last.failures if last is not None else 0) + 1
        asked = exc.retry_at if isinstance(exc, RateLimited) else None
        retry_at = retry_after(failures, moment, asked)
        self._last_run("error", str(exc), None, failures, retry_at.isoformat())
        installed = installed_version(PACKAGE, self.settings.dpkg_admin_dir)
        self._history(Result.FAILED, str(exc), installed, None, 0)
        log.info("%d failed checks in a row; the next automatic run checks after %s",
                 failures, retry_at)  # fmt: skip

    def backing_off(self, moment: datetime) -> bool:
        """Whether an earlier failure asks this run to wait; then it does nothing (the
        page shows that failure and when the next check may be)."""
        last = read_last_run(self.settings)
        if last is None or last.retry_at is None:
            return False
        try:
            retry_at = datetime.fromisoformat(last.retry_at)
        except ValueError:
            return False
        if moment >= retry_at:
            return False
        log.info(
            "GitHub turned away the last %d check(s) (%s); the next is after %s",
            last.failures,
            last.message,
            retry_at,
        )
        return True

    def _last_run(
        self,
        action: str,
        message: str,
        version: str | None,
        failures: int = 0,
        retry_at: str | None = None,
    ) -> None:
        record = AutomaticRun(
            self.started, self.origin.value, action, message, version, failures, retry_at
        )
        write_atomically(self.settings.update_automatic, json.dumps(record.to_json()) + "\n")

    def _history(
        self,
        result: Result,
        message: str,
        installed: str | None,
        version: str | None,
        downloaded: int,
    ) -> None:
        entry = Entry(
            at=self.started,
            origin=self.origin.value,
            kind=CHECK,
            from_release=installed,
            to_release=version,
            result=result.value,
            message=message,
            duration_s=duration(self.started, now()),
            downloaded_bytes=downloaded,
        )
        History(self.settings.update_history).append(entry, fold_repeat=True)
