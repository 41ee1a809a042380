"""Logging, configured once per process: plain text to stderr (journald adds the time)."""

from __future__ import annotations

import logging
import sys

# The device code and the release tool (a separate top-level package).
LOGGERS = ("picohub", "picohub_release")


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if logger.handlers:  # already configured in this process
            continue
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
