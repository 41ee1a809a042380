"""Logging, configured once per process: plain text to stderr (journald adds the time)."""

from __future__ import annotations

import logging
import sys


def configure(level: int = logging.INFO) -> None:
    logger = logging.getLogger("picohub")
    if logger.handlers:  # already configured in this process
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
