"""The bench's fixed figures: its ports, the probe's period, its waits."""

from __future__ import annotations

VARIANTS = ("restart", "picohub", "automatic", "naive", "apt", "apt_live")
WEB_PORT = 8780
RELAY_PORT = 8001
PROBE_PERIOD_S = 0.020
PROBE_TIMEOUT_S = 2.0
LEAD_S = 1.0  # probing before the trigger
TAIL_S = 1.0  # probing after the new version answered
UPDATE_TIMEOUT_S = 300.0
WATCH_PERIOD_S = 0.010
DEBS_IN_CONTAINER = "/root/bench"
TOOLS = ("systemd-nspawn", "nsenter", "debootstrap", "dpkg-buildpackage", "git")
