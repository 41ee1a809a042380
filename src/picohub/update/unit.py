"""The transient unit ``picohub-update.service`` every update, rollback and recovery
runs in: its own cgroup, so it survives dpkg stopping and restarting picohub.service;
its name is the lock (systemd refuses a second unit of that name)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from picohub.errors import CommandError, UsageError
from picohub.process import run

UNIT = "picohub-update.service"
IN_UNIT = "PICOHUB_UPDATE_IN_UNIT"
# The transient unit's limits, in seconds: for a run (a backstop above the sum of its
# steps' own bounds, about 3½ hours with four packages), and for after-run putting the
# hub back (dpkg --configure -a, then up to two releases installed and checked).
RUN_LIMIT_S = 4 * 3600
AFTER_RUN_LIMIT_S = 90 * 60
# In the unit, a check or fetch from a shell holding the cache is waited for, this long.
UNIT_WAIT_S = 60.0


def in_unit() -> bool:
    return os.environ.get(IN_UNIT) == "1"


def unit_command(argv: Sequence[str], *, wait: bool = False) -> list[str]:
    """The command that runs ``picohub-update ARGV`` as the transient unit (this process's
    ``PICOHUB_*`` settings passed on): what :func:`start_in_unit` runs, and what the
    maintenance window's timer runs at its time (:mod:`picohub.update.auto`).

    Each step inside is bounded (downloads, apt, the health check); the unit's run-time
    limit is a backstop above their sum. However the run ends (done, killed, timed out,
    stopped), ``picohub-update after-run`` runs next in the unit: a run that did not
    end its transaction is converged there (:func:`picohub.update.recover.after_run`).
    """
    passed = [f"--setenv={k}={v}" for k, v in os.environ.items() if k.startswith("PICOHUB_")]
    return [
        "/usr/bin/systemd-run",
        f"--unit={UNIT}",
        "--description=picohub update",
        "--collect",
        "--service-type=exec",
        f"--property=RuntimeMaxSec={RUN_LIMIT_S}",
        f"--property=TimeoutStopSec={AFTER_RUN_LIMIT_S}",
        # "-": a release from before after-run existed (a rollback to it) fails it harmlessly.
        "--property=ExecStopPost=-/usr/bin/picohub-update after-run",
        f"--setenv={IN_UNIT}=1",
        *passed,
        *(["--wait", "--quiet"] if wait else []),
        "/usr/bin/picohub-update",
        *argv,
    ]


def start_in_unit(argv: Sequence[str], *, wait: bool) -> int:
    """Run ``picohub-update ARGV`` again as the transient unit (:func:`unit_command`);
    return its exit code (with ``wait``) or 0 once it started."""
    command = unit_command(argv, wait=wait)
    limit = RUN_LIMIT_S + AFTER_RUN_LIMIT_S + 60
    result = run(command, check=False, timeout=limit if wait else 60)
    if result.returncode != 0 and is_running():
        raise UsageError(
            "an update is already running",
            hint="follow it with: picohub-update status, or journalctl -u picohub-update",
        )
    if result.returncode != 0 and not wait:
        raise CommandError(command, f"systemd-run failed: {result.stderr.strip()}")
    return result.returncode


def is_running() -> bool:
    """Whether an update (the transient unit) is running now."""
    state = run(["systemctl", "is-active", UNIT], check=False).stdout.strip()
    return state in ("active", "activating", "deactivating")


def last_error_since(started: float) -> str | None:
    """The last error the unit's run reported since ``started`` (a time.time()), as
    every picohub command reports one ("error: ..."): what a run that refused before
    recording any status said."""
    shown = run(
        ["journalctl", f"--unit={UNIT}", f"--since=@{int(started)}", "--output=cat",
         "--no-pager", "--quiet"],
        check=False,
        timeout=30,
    )  # fmt: skip
    errors = [line for line in shown.stdout.splitlines() if line.startswith("error: ")]
    return errors[-1].removeprefix("error: ").strip() if errors else None
