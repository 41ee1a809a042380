"""``picohub-update``: check for, and fetch, picohub releases (runs as root).

Exit codes: 0 done (``check``: up to date), 100 (``check``: an update is available),
1 failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict

from picohub import logs
from picohub.cli import run_command
from picohub.errors import ExitCode, PicohubError
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.update.apply import in_unit, rollback, start_in_unit, update
from picohub.update.check import CheckResult, check
from picohub.update.config import load_config
from picohub.update.fetch import VERSION, fetch
from picohub.update.http import open_session
from picohub.update.status import Phase, Status, read_status, write_status

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picohub-update", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="log every request and command")
    commands = parser.add_subparsers(dest="command", required=True)
    check_command = commands.add_parser("check", help="is a newer release available?")
    check_command.add_argument("--json", action="store_true", help="machine-readable output")
    fetch_command = commands.add_parser("fetch", help="download and verify, install nothing")
    fetch_command.add_argument(
        "version", nargs="?", type=_version, help="a release's version (default newest)"
    )
    apply = commands.add_parser(
        "apply", help="fetch if needed and install, in the transient unit picohub-update"
    )
    apply.add_argument(
        "version", nargs="?", type=_version, help="a release's version (default newest)"
    )
    apply.add_argument("--wait", action="store_true", help="follow the unit until it ends")
    back = commands.add_parser("rollback", help="install the previous release from the cache")
    back.add_argument("--wait", action="store_true", help="follow the unit until it ends")
    status = commands.add_parser("status", help="what the updater is doing or last did")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _describe(result: CheckResult) -> str:
    if not result.update_available:
        return f"up to date: release {result.version} changes nothing installed here"
    changes = ", ".join(
        f"{c.package} {c.installed or '(not installed)'} -> {c.offered}" for c in result.changes
    )
    return f"release {result.version} is available: {changes}"


def _check(settings: Settings, as_json: bool) -> int:
    config = load_config(settings.update_config)
    with open_session() as session:
        result = check(config, settings, session)
    message = _describe(result)
    if as_json:
        print(
            json.dumps(
                {
                    "version": result.version,
                    "update_available": result.update_available,
                    "not_modified": result.not_modified,
                    "changes": [asdict(change) for change in result.changes],
                },
                indent=2,
            )
        )
    else:
        print(message)
    return ExitCode.UPDATE_AVAILABLE if result.update_available else ExitCode.OK


def _fetch(settings: Settings, version: str | None) -> None:
    config = load_config(settings.update_config)
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    tag = None if version is None else f"v{version}"
    write_status(
        settings.update_status,
        Status(Phase.DOWNLOADING, "fetching the release index", installed=installed),
    )
    try:
        with open_session() as session:
            result = check(config, settings, session, tag=tag, allow_older=version is not None)
            fetched = fetch(result, settings, session, max_bytes=config.max_download_bytes)
    except PicohubError as exc:
        write_status(settings.update_status, Status(Phase.FAILED, str(exc), installed=installed))
        raise
    message = (
        f"release {fetched.version}: {len(fetched.debs)} package(s) verified in "
        f"{fetched.directory} ({fetched.downloaded_bytes} bytes downloaded)"
    )
    write_status(
        settings.update_status,
        Status(Phase.DOWNLOADED, message, 1.0, installed=installed, target=fetched.version),
    )
    print(message)


def _apply(settings: Settings, version: str | None, wait: bool) -> int:
    if not in_unit():
        return start_in_unit(["apply", *([version] if version else [])], wait=wait)
    return update(load_config(settings.update_config), settings, version)


def _status(settings: Settings, as_json: bool) -> None:
    status = read_status(settings.update_status)
    if as_json:
        print(json.dumps(asdict(status), indent=2))
        return
    print(f"{status.phase}: {status.message or '(nothing yet)'}")
    if status.installed or status.target:
        print(f"installed {status.installed or '-'}, target {status.target or '-'}")


def _version(text: str) -> str:
    """A VERSION argument: a plain release version, nothing a path or URL could abuse."""
    if not VERSION.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a release version (digits, letters, '.' and '-')"
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    settings = Settings.from_environment()

    def action() -> int | None:
        if args.command == "check":
            return _check(settings, args.json)
        if args.command == "apply":
            return _apply(settings, args.version, args.wait)
        if args.command == "rollback":
            if not in_unit():
                return start_in_unit(["rollback"], wait=args.wait)
            return rollback(load_config(settings.update_config), settings)
        if args.command == "fetch":
            _fetch(settings, args.version)
        elif args.command == "status":
            _status(settings, args.json)
        return None

    return run_command(action, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
