"""What NetworkManager says of the hub's connection, over D-Bus with systemd's busctl: no
NetworkManager (a hub on systemd-networkd, or ifupdown) is an unmetered connection."""

from __future__ import annotations

import logging

from picohub.errors import CommandError
from picohub.process import run

log = logging.getLogger(__name__)

_NM = ("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager")
# NMMetered: 0 unknown, 1 yes, 2 no, 3 guess-yes, 4 guess-no.
_METERED = {"1", "3"}


def metered() -> bool:
    """Whether NetworkManager's primary connection is metered (set, or guessed from a
    phone's hotspot); False when NetworkManager is not there to ask."""
    try:
        result = run(["busctl", "get-property", *_NM, _NM[0], "Metered"], check=False, timeout=10)
    except CommandError as exc:  # busctl missing or hung: nothing to go by
        log.warning("NetworkManager not asked about metering: %s", exc)
        return False
    if result.returncode != 0:
        log.debug("NetworkManager not asked about metering: %s", result.stderr.strip())
        return False
    words = result.stdout.split()  # "u 1"
    return len(words) == 2 and words[1] in _METERED
