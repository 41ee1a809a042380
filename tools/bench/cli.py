"""``python -m tools.bench``: the options, the checks before anything starts, the errors."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import tools.bench
from picohub.errors import UsageError
from tools.bench.run import run_bench
from tools.bench.settings import TOOLS, VARIANTS
from tools.preflight import need_root_and_tools, run_tool


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description=tools.bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each variant (default 5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--variants",
        type=_variants,
        default=VARIANTS,
        metavar="A,B",
        help=f"the variants to run, in this order in the first round (default: all, "
        f"{','.join(VARIANTS)}); compare figures only within one run",
    )
    parser.add_argument("--debug", action="store_true", help="log every command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")

    def action() -> None:
        need_root_and_tools("bench", TOOLS)
        if args.runs < 1:
            raise UsageError("--runs must be at least 1")
        run_bench(args.runs, args.out, args.variants)

    return run_tool(action, debug=args.debug)


def _variants(text: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown variant {', '.join(unknown) or '(none)'}; the variants: {', '.join(VARIANTS)}"
        )
    return tuple(dict.fromkeys(chosen))
