"""What the demo and the benchmarks need of this machine before they start, and how they
run: their errors reported as every picohub command reports them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from picohub.cli import run_command
from picohub.errors import PicohubError, UsageError
from tests.system.container import Container, booted
from tests.system.rootfs import ensure_root


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


def run_tool(action: Callable[[], object], *, debug: bool = False) -> int:
    """picohub's ``run_command`` for a tool: a container or a hub that did not come up in
    time (``wait_for``'s TimeoutError) is reported as an error too, not a traceback."""

    def action_with_timeouts() -> object:
        try:
            return action()
        except TimeoutError as exc:
            raise PicohubError(str(exc)) from exc

    return run_command(action_with_timeouts, debug=debug)


@contextmanager
def booted_bookworm(work: Path) -> Iterator[Container]:
    """A bookworm booted on the cached root (built on first use), under ``work``."""
    with booted(ensure_root("bookworm"), work / "container") as container:
        yield container
