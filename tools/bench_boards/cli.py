"""``python -m tools.bench_boards``: the options, the checks before anything starts, the
errors."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import tools.bench_boards
from picohub.errors import UsageError
from tools.bench_boards.boards import Plan
from tools.bench_boards.run import run_bench_boards
from tools.bench_boards.settings import (
    BOARDS,
    DOWNLOADERS,
    HEARTBEAT_PERIOD_S,
    IDLE_S,
    MTU,
    RATE,
    TAIL_S,
    TOOLS,
    WARMUP_S,
)
from tools.preflight import need_root_and_tools, run_tool

MAX_BOARDS = 250 * 256  # source addresses of one block (settings.address)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench_boards",
        description=tools.bench_boards.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--boards", type=int, default=BOARDS, help=f"boards sending heartbeats ({BOARDS})"
    )
    parser.add_argument(
        "--downloaders",
        type=int,
        default=DOWNLOADERS,
        help=f"boards downloading the image in phase 2 ({DOWNLOADERS})",
    )
    parser.add_argument(
        "--rate", type=int, default=RATE, help=f"bytes/s per downloading board ({RATE})"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=IDLE_S,
        help=f"seconds of phase 1, heartbeats only ({IDLE_S:.0f}; the first "
        f"{WARMUP_S:.0f} are not counted)",
    )
    parser.add_argument(
        "--mtu",
        type=int,
        default=MTU,
        help=f"the container's loopback MTU ({MTU}, Wi-Fi's; 0 leaves the loopback's 65536)",
    )
    parser.add_argument(
        "--one-address",
        action="store_true",
        help="every downloading board from 127.0.0.1: nginx's 32 connections per address "
        "then refuses the rest with 429 (to see the limit, not a figure of the hub)",
    )
    parser.add_argument(
        "--debs",
        type=Path,
        help="take picohub's .debs from this folder (make debs writes dist/) instead of "
        "building them from the tree",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/boards.json"))
    parser.add_argument("--debug", action="store_true", help="log every command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")

    def action() -> None:
        need_root_and_tools("bench-boards", TOOLS)
        if not 1 <= args.boards <= MAX_BOARDS or not 0 <= args.downloaders <= MAX_BOARDS:
            raise UsageError(f"--boards must be 1-{MAX_BOARDS}, --downloaders 0-{MAX_BOARDS}")
        if args.rate < 1024:
            raise UsageError("--rate must be at least 1024 bytes/s")
        if args.idle <= WARMUP_S:
            raise UsageError(f"--idle must be more than the {WARMUP_S:.0f} s of warm-up")
        plan = Plan(
            boards=args.boards,
            downloaders=args.downloaders,
            rate=args.rate,
            period_s=HEARTBEAT_PERIOD_S,
            idle_s=args.idle,
            tail_s=TAIL_S,
            one_address=args.one_address,
        )
        if args.mtu and not 576 <= args.mtu <= 65536:
            raise UsageError("--mtu must be 576-65536, or 0 to leave the loopback's")
        run_bench_boards(plan, args.out, args.debs, args.mtu)

    return run_tool(action, debug=args.debug)
