"""The fleet benchmark's fixed figures: the polling times, the windows, the waits. The
fleet sizes have a command-line option; these do not."""

from __future__ import annotations

CONTROLLERS = (100, 1000)  # simulated controllers, one round each

# hawkBit's default polling time (its tenant configuration ``pollingTime``, 00:05:00):
# what the derived figures are worked out at.
DEFAULT_SLEEP = "00:05:00"
# The polling time the bench's server asks for: picohub's Device polls no more often than
# every 10 s (hawkbit_poll.MIN_SLEEP), so 10 s is the shortest that is honoured as asked.
MEASURED_SLEEP = "00:00:10"
JITTER = 0.10  # a device waits the polling time +-10 % (hawkbit_poll.JITTER)

WARMUP_S = 12.0  # after every controller's first poll and config data, before the window
WINDOW_S = 30.0  # the idle polling load is measured over this many seconds
TAIL_S = 12.0  # after the rollout: every controller polls again (its new attributes)
WORKERS = 8  # threads that carry out the simulated controllers' polls when due
REGISTER_TIMEOUT_S = 90.0  # the hub's first poll and attributes
HUB_TIMEOUT_S = 420.0  # from its group's start to the hub's result, else marked failed
ROLLOUT_TIMEOUT_S = 900.0
WATCH_PERIOD_S = 0.1

TENANT = "DEFAULT"
SIMULATED_PREFIX = "sim-"  # sim-0000 ...; the hub's picohub-<machine id> sorts first
SERVICE = "picohub-hawkbit.service"
DEBS_IN_CONTAINER = "/root/bench-fleet"
TOOLS = ("systemd-nspawn", "nsenter", "debootstrap", "dpkg-buildpackage", "git")

# GitHub on the timer (docs/updater.md, sections 2 and 3): picohub-update-auto.timer runs
# daily (OnCalendar=daily, RandomizedDelaySec=4h, FixedRandomDelay), and a check that
# finds nothing new is one conditional request for the latest release's InRelease asset
# (a 304), no API call.
GITHUB_CHECKS_PER_DAY = 1
GITHUB_SPREAD_S = 4 * 3600
README_HUBS = 10_000
