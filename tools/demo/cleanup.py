"""Ctrl-C and SIGTERM stop the demo; the scratch folder removed at the end."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.system.container import Container
from tools.demo.steps import say


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def shielded() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the demo (even when started with SIGINT ignored, as a
    background job is); while it cleans up, they are ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        say("==> cleaning up: the container, the server, the scratch folder")


def remove_work(work: Path, container: Container) -> None:
    if os.path.ismount(container.root):  # never walk into a mounted root
        say(f"warning: {container.root} is still mounted; left {work} in place")
        return
    shutil.rmtree(work, ignore_errors=True)
