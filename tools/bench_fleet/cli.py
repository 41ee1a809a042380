"""``python -m tools.bench_fleet``: the options, the checks before anything starts, the
errors."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import tools.bench_fleet
from picohub.errors import UsageError
from tools.bench_fleet.run import run_bench_fleet
from tools.bench_fleet.settings import CONTROLLERS, TOOLS
from tools.preflight import need_root_and_tools, run_tool

MAX_CONTROLLERS = 5000


def sizes(text: str) -> tuple[int, ...]:
    """``--controllers 100,1000``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--controllers takes numbers separated by commas, not {text!r}") from None
    if not values or not all(1 <= value <= MAX_CONTROLLERS for value in values):
        raise UsageError(f"--controllers: each 1-{MAX_CONTROLLERS}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench_fleet",
        description=tools.bench_fleet.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--controllers",
        default=",".join(str(n) for n in CONTROLLERS),
        help="simulated controllers, a round each (%(default)s)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/fleet.json"))
    parser.add_argument("--debug", action="store_true", help="log every command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    # A thousand devices' requests log at INFO ("fetching ..."): the bench's own lines only.
    logging.getLogger("picohub").setLevel(logging.DEBUG if args.debug else logging.WARNING)

    def action() -> None:
        need_root_and_tools("bench-fleet", TOOLS)
        run_bench_fleet(sizes(args.controllers), args.out)

    return run_tool(action, debug=args.debug)
