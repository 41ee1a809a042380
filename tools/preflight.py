"""What the demo and the benchmark need of this machine before they start."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from picohub.errors import UsageError


def need_root_and_tools(tool: str, tools: Sequence[str]) -> None:
    """Refuse, saying how to do better, unless this runs as root with ``tools`` on PATH:
    ``tool`` ("demo", "bench") mounts an overlay and boots a container."""
    if os.geteuid() != 0:
        raise UsageError(
            f"make {tool} needs root: it mounts an overlay and boots a container with "
            "systemd-nspawn",
            hint=f"run it as root: sudo make {tool}",
        )
    missing = [name for name in tools if shutil.which(name) is None]
    if missing:
        raise UsageError(
            f"make {tool} needs {', '.join(missing)}",
            hint=f"make {tool} installs them (packaging/dev/bootstrap)",
        )
