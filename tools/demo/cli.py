"""``python -m tools.demo``: the options, logging, the exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import tools.demo
from picohub import logs
from picohub.cli import run_command
from tools.demo.journey import demo


class _Once(logging.Filter):
    """Lets each message through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description=tools.demo.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the container and the server up until Ctrl-C"
    )
    parser.add_argument("--debug", action="store_true", help="log every command; tracebacks")
    args = parser.parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.WARNING)
    for handler in logging.getLogger("picohub_release").handlers:
        handler.addFilter(_Once())  # the two builds warn alike (a test firmware image)
    try:
        return run_command(lambda: demo(args.keep), debug=args.debug)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
