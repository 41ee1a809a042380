"""``python -m picohub_release``: the release tool's command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from picohub import logs
from picohub.errors import ExitCode, PicohubError
from picohub_release.build import build_debs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picohub-release", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="log every command run")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the Debian packages into dist/")
    build.add_argument("--source", type=Path, default=Path.cwd(), help="source tree")
    build.add_argument("--dist", type=Path, default=Path("dist"), help="output directory")
    build.add_argument("--work", type=Path, default=Path("build"), help="scratch directory")
    build.add_argument("--version", help="stamp this version (test builds only)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    try:
        if args.command == "build":
            result = build_debs(
                args.source.resolve(),
                args.dist.resolve(),
                args.work.resolve(),
                version=args.version,
            )
            for deb in result.debs:
                print(deb)
    except PicohubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        if args.debug and exc.__cause__ is not None:
            raise
        return exc.exit_code
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
