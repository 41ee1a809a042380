"""``python -m tests.fakegithub``: serve the fake on a port (see the package's docstring)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.fakegithub.server import FakeGitHub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegithub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--owner", default="picohub")
    parser.add_argument("--repo", default="picohub")
    parser.add_argument("--token", default="test-token", help="the one valid token")
    parser.add_argument("--no-token", action="store_true", help="every request is authorised")
    parser.add_argument("--public-url", help="base URL to put in answers (default: host:port)")
    parser.add_argument(
        "--release",
        action="append",
        default=[],
        metavar="TAG=DIR",
        help="publish a release of the files in DIR (in the order given; the last is latest)",
    )
    parser.add_argument(
        "--hold-debs-while",
        type=Path,
        metavar="FILE",
        help="while FILE exists, downloads of .deb assets stop halfway",
    )
    args = parser.parse_args(argv)
    fake = FakeGitHub(
        args.owner,
        args.repo,
        None if args.no_token else args.token,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
    )
    fake.hold_debs_while = args.hold_debs_while
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    for spec in args.release:
        tag, _, directory = spec.partition("=")
        files = sorted(path for path in Path(directory).iterdir() if path.is_file())
        fake.add_release(tag, {path.name: path.read_bytes() for path in files})
    with fake:
        print(fake.download_base, flush=True)
        while not done.wait(1):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
