"""Converge: bring the hub to a healthy release, the one place that decides what happens
after a failure. A failed install, a health check that times out, a run that was killed
or stopped (after-run), a power cut (the boot-time recovery) and an explicit rollback all
come here.

:func:`plan` decides from the journal and dpkg's state alone (a pure function: its table
is in the unit tests); :func:`converge` carries the plan out and ends the transaction.

    nothing installed yet (started, downloading, verified) and dpkg whole
        -> nothing was changed: end as failed
    otherwise: dpkg --configure -a; whatever dpkg left half done is made whole first from
    the release whose version dpkg names (apt wants that archive before any other); then
    the goals in order, until one is whole and answers /healthz:
        an explicit rollback          -> its goal (the older release), else the other
        an update that failed, or a run that was killed or stopped
                                       -> the release it started from, else its target
        a power cut during an update   -> its target (finish it), else the one before
Going back to the release a snapshot of the app's database was taken under, with the
database's schema now newer than the snapshot's, restores the snapshot first (the newer
database is kept aside, and the message says where).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from debian.debian_support import Version

from picohub.errors import PicohubError
from picohub.installed import installed_version, unfinished_packages, unfinished_versions
from picohub.process import run
from picohub.schema import schema_version
from picohub.settings import APP_SOCKETS, PACKAGE, RELEASE_PACKAGES, Settings
from picohub.update.cache import ReleaseCache
from picohub.update.config import UpdateConfig
from picohub.update.health import wait_healthy
from picohub.update.journal import CHANGING, Journal, Kind, Result, Step, Transaction
from picohub.update.packages import install, is_downgrade, packages_on_hub, repair_dpkg
from picohub.update.snapshot import restore_snapshot

log = logging.getLogger(__name__)

MANUAL_RECOVERY = "recover with: dpkg --configure -a, then apt install ./ of the release's packages"


class Cause(StrEnum):
    """Why converge runs."""

    FAILED = "failed"  # the install or the health check failed in the run
    CUT_OFF = "cut-off"  # the run's unit was killed, stopped or timed out
    POWER_CUT = "power-cut"  # the boot found the transaction open
    REQUESTED = "requested"  # an explicit rollback


@dataclass(frozen=True)
class DpkgFacts:
    """What dpkg says of the release's packages."""

    picohub: str | None  # picohub's version, when its files are whole
    unfinished: frozenset[str]  # packages left half done
    unfinished_versions: frozenset[str]  # the versions dpkg names for those

    @classmethod
    def read(cls, settings: Settings) -> DpkgFacts:
        admin = settings.dpkg_admin_dir
        return cls(
            installed_version(PACKAGE, admin),
            frozenset(unfinished_packages(RELEASE_PACKAGES, admin)),
            frozenset(unfinished_versions(RELEASE_PACKAGES, admin)),
        )


@dataclass(frozen=True)
class Plan:
    nothing_changed: bool = False  # end as failed, touch nothing
    make_whole: tuple[str, ...] = ()  # releases to install first, for what dpkg names
    goals: tuple[str, ...] = ()  # releases to try in turn until one answers


def plan(txn: Transaction, cause: Cause, dpkg: DpkgFacts) -> Plan:
    """What converge does for ``txn``, ended by ``cause``, with dpkg in state ``dpkg``."""
    if txn.step not in CHANGING and txn.step is not Step.ENDED and not dpkg.unfinished:
        return Plan(nothing_changed=True)
    ends = [v for v in (txn.from_release, txn.to_release) if v]
    if txn.kind is Kind.ROLLBACK:
        first = txn.to_release
    elif cause is Cause.POWER_CUT and txn.step is not Step.CONVERGING:
        first = txn.to_release  # finish what the run set out to do
    else:
        first = txn.from_release  # undo
    goals = tuple(dict.fromkeys([*([first] if first else []), *ends]))
    make_whole = tuple(v for v in goals if v in dpkg.unfinished_versions)
    return Plan(make_whole=make_whole, goals=goals)


@dataclass(frozen=True)
class Converger:
    config: UpdateConfig
    settings: Settings

    @property
    def journal(self) -> Journal:
        return Journal(self.settings)

    def converge(
        self,
        txn: Transaction,
        cause: Cause,
        reason: str,
        *,
        services_offline: bool = False,
        confirm: bool = True,
    ) -> Transaction:
        """Carry out :func:`plan` for ``txn`` and end it (with ``confirm``; at boot the app
        cannot start yet, so the transaction is left at CONFIRMING for the unit to end)."""
        decided = plan(txn, cause, DpkgFacts.read(self.settings))
        if decided.nothing_changed:
            return self.journal.end(txn, Result.FAILED, f"{reason}; nothing was changed")
        txn = self.journal.step(
            txn,
            Step.CONVERGING,
            f"{reason}; putting back {' or '.join(decided.goals) or 'a release'}",
            reason=reason,
            installed=self._installed(txn),
        )
        repair_dpkg(services_offline=services_offline)
        for version in decided.make_whole:
            try:
                self._install(version, going_back=True, services_offline=services_offline)
            except PicohubError as exc:
                log.warning("cannot make release %s whole again: %s", version, exc)
        failures = []
        for goal in decided.goals:
            try:
                txn = self._restore_data_for(txn, goal, services_offline)
                now = self._put(goal, services_offline=services_offline)
                if not confirm:
                    return self.journal.step(
                        txn,
                        Step.CONFIRMING,
                        f"{reason}; waiting for picohub {now} to answer{txn.data_note}",
                        installed=now,
                    )
                wait_healthy(now, self.config.health_timeout)
            except PicohubError as exc:
                log.warning("cannot put back release %s: %s", goal, exc)
                failures.append(f"release {goal}: {exc}")
                continue
            return self.end_healthy(txn, now, f"{reason}{txn.data_note}", cause)
        return self.journal.end(
            txn,
            Result.FAILED,
            f"{reason}, and putting the hub back failed: {'; '.join(failures) or 'no release'};"
            f" {MANUAL_RECOVERY}",
            installed=self._installed(txn),
        )

    def end_healthy(self, txn: Transaction, now: str, said: str, cause: Cause) -> Transaction:
        """End ``txn`` with the hub healthy on ``now``: rolled back when that is older
        than where the transaction was going, or where it started."""
        ends = [v for v in (txn.from_release, txn.to_release) if v]
        newest = max(ends, key=Version) if ends else now
        result = Result.ROLLED_BACK if Version(now) < Version(newest) else Result.DONE
        if txn.kind is Kind.ROLLBACK and now != txn.to_release:
            message = f"the rollback to {txn.to_release} failed ({said}); still running {now}"
            return self.journal.end(txn, Result.FAILED, message, installed=now)
        if cause is Cause.REQUESTED and result is Result.ROLLED_BACK:
            message = f"rolled back to {now} {said}"
        elif cause is Cause.FAILED and result is Result.ROLLED_BACK:
            message = f"rolled back to {now} because {said}"
        else:
            message = f"running {now}: {said}"
        return self.journal.end(txn, result, message, installed=now)

    def _installed(self, txn: Transaction) -> str | None:
        return installed_version(PACKAGE, self.settings.dpkg_admin_dir) or txn.from_release

    def _put(self, version: str, *, services_offline: bool) -> str:
        """Install ``version`` from the cache and check dpkg is whole; picohub's version."""
        self._install(version, going_back=True, services_offline=services_offline)
        left = unfinished_packages(RELEASE_PACKAGES, self.settings.dpkg_admin_dir)
        now = installed_version(PACKAGE, self.settings.dpkg_admin_dir)
        if left or now is None:
            raise PicohubError(f"{', '.join(sorted(left)) or 'picohub'} still unfinished")
        if not services_offline:
            # An older release's postinst may not start the socket it stopped.
            run(["systemctl", "start", *APP_SOCKETS], timeout=60, check=False)
        return now

    def _install(self, version: str, *, going_back: bool, services_offline: bool) -> None:
        """Install the cached release ``version`` again, the packages of it the hub has
        (``going_back``: a downgrade, whatever dpkg now names as installed)."""
        fetched = ReleaseCache(self.settings).load(version, copies=True)
        names = packages_on_hub(self.settings, fetched)
        installed = installed_version(PACKAGE, self.settings.dpkg_admin_dir)
        log.info("installing %s %s again from the cache", ", ".join(names), version)
        install(
            fetched,
            names,
            self.settings.archive_keyring,
            self.settings,
            downgrade=going_back or is_downgrade(installed, version),
            services_offline=services_offline,
            reinstall=bool(unfinished_packages(RELEASE_PACKAGES, self.settings.dpkg_admin_dir)),
        )

    def _restore_data_for(self, txn: Transaction, goal: str, services_offline: bool) -> Transaction:
        """Restore the database snapshot when going back to the release it was taken
        under, if the database's schema moved on since (once: the journal says so)."""
        snapshot = txn.snapshot
        if snapshot is None or goal != txn.snapshot_release or txn.kept_aside is not None:
            return txn
        current = schema_version(self.settings.database)
        if current is None or current <= snapshot.schema:
            return txn
        if not services_offline:
            _stop_app()
        aside = restore_snapshot(snapshot, self.settings.database)
        log.warning(
            "restored the database taken before the update (schema %d); the newer one "
            "(schema %d) is kept as %s",
            snapshot.schema,
            current,
            aside,
        )
        return self.journal.step(
            txn,
            txn.step,
            f"the database was restored from before the update (schema {snapshot.schema})",
            kept_aside=str(aside or self.settings.database),
        )


def _stop_app() -> None:
    """Nothing may use the database while it is replaced; the install starts it again."""
    run(
        ["systemctl", "stop", *APP_SOCKETS, "picohub.service", "picohub-handover.service"],
        timeout=120,
        check=False,
    )
