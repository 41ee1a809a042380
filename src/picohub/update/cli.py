"""``picohub-update``: check for, and fetch, picohub releases (runs as root).

Exit codes: 0 done (``check``: up to date, or the newer release is phased and this hub's
turn has not come), 100 (``check``: an update is available to this hub), 1 failed, 2 bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from picohub import logs
from picohub.cli import run_command
from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.installed import installed_version
from picohub.settings import PACKAGE, Settings
from picohub.update.apply import rollback, update
from picohub.update.auto import run_automatic, stop_on_sigterm
from picohub.update.available import record_check
from picohub.update.bundle import bundle_release
from picohub.update.bundle_apply import apply_bundle
from picohub.update.cache import cache_lock
from picohub.update.check import check
from picohub.update.config import load_config
from picohub.update.fetch import fetch
from picohub.update.hawkbit_service import poll_once, run_service
from picohub.update.history import History
from picohub.update.holds import Holds, parse_until
from picohub.update.http import open_session
from picohub.update.journal import AUTOMATIC, Origin
from picohub.update.recover import after_run, recover
from picohub.update.releases import channel_tag, check_channel
from picohub.update.status import ENDED, Phase, Status, read_status, write_status
from picohub.update.trigger_service import serve_standard_input
from picohub.update.unit import UNIT_WAIT_S, in_unit, last_error_since, start_in_unit
from picohub.versions import is_release_version, tag_of

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
    _origin_option(apply)
    apply.add_argument(
        "--bundle", type=Path, metavar="FILE", help="install from an offline bundle, no network"
    )
    apply.add_argument(
        "--accept-new-dependencies",
        action="store_true",
        help="install, upgrade or remove the other packages the release asks for (refused "
        "otherwise, with their list)",
    )
    bundle = commands.add_parser(
        "bundle", help="pack a cached release as an offline bundle (a plain tar file)"
    )
    bundle.add_argument("version", type=_version, help="a release's version in the cache")
    bundle.add_argument("file", type=Path, help="the bundle to write (never overwritten)")
    back = commands.add_parser("rollback", help="install the previous release from the cache")
    back.add_argument("--wait", action="store_true", help="follow the unit until it ends")
    _origin_option(back)
    commands.add_parser(
        "recover", help="finish or undo an update a power cut interrupted (run at boot)"
    )
    commands.add_parser(
        "after-run",
        help="put the hub back after a run of the unit that did not end by itself "
        "(run by systemd after each run)",
    )
    commands.add_parser(
        "trigger", help="answer the web app's request on standard input (run by systemd)"
    )
    automatic = commands.add_parser(
        "auto", help="an automatic run under update.conf's rules (run by systemd)"
    )
    automatic.add_argument(
        "--origin",
        type=Origin,
        choices=sorted(AUTOMATIC),
        default=Origin.TIMER,
        help="what started it, recorded in the history (default: timer)",
    )
    hold = commands.add_parser("hold", help="hold automatic installs (manual ones still work)")
    hold.add_argument(
        "--until",
        metavar="WHEN",
        help="a duration (12h, 1d, 2w), a local date (YYYY-MM-DD) or time "
        "(YYYY-MM-DDTHH:MM); default: until released",
    )
    commands.add_parser("release-hold", help="let automatic installs go on again")
    history = commands.add_parser("history", help="how the last updates ended, oldest first")
    history.add_argument("--json", action="store_true", help="machine-readable output")
    status = commands.add_parser("status", help="what the updater is doing or last did")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    hawkbit = commands.add_parser(
        "hawkbit", help="this hub as a hawkBit target (update.conf's [fleet])"
    )
    hawkbit_commands = hawkbit.add_subparsers(dest="hawkbit_command", required=True)
    hawkbit_commands.add_parser(
        "run", help="poll and install what is assigned, until stopped (run by systemd)"
    )
    hawkbit_commands.add_parser("poll-once", help="poll once and say what was done")
    return parser


def _origin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--origin",
        type=Origin,
        choices=list(Origin),
        default=Origin.SHELL,
        help="who asks, recorded in the transaction's journal (default: shell)",
    )


def _check(settings: Settings, as_json: bool) -> int:
    config = load_config(settings.update_config)
    with open_session() as session:
        result = check_channel(config, settings, session)
    # The system page shows it, as if checked from there.
    available = record_check(settings, result)
    if as_json:
        print(json.dumps(available.to_json(), indent=2))
    elif available.update_available and available.notes:
        print(f"{available.message}\n\nrelease notes:\n{available.notes}")
    else:
        print(available.message)
    # 100 only for a release this hub takes: a phased one whose turn has not come here
    # is said (with the percentage at which it does), and exits 0.
    return ExitCode.UPDATE_AVAILABLE if available.offered_here else ExitCode.OK


def _fetch(settings: Settings, version: str | None) -> None:
    config = load_config(settings.update_config)
    installed = installed_version(PACKAGE, settings.dpkg_admin_dir)
    write_status(
        settings.update_status,
        Status(Phase.DOWNLOADING, "fetching the release index", installed=installed),
    )
    try:
        with open_session() as session:
            # No version: the newest release of the configured channel.
            tag = tag_of(version) if version else channel_tag(config, settings, session)
            result = check(config, settings, session, tag=tag, allow_older=version is not None)
            fetched = fetch(result, settings, session, max_bytes=config.max_download_bytes)
    except (PicohubError, KeyboardInterrupt) as exc:
        # Ctrl-C too: a status left "downloading" would keep the page waiting for ever.
        said = str(exc) if isinstance(exc, PicohubError) else "the fetch was interrupted"
        write_status(settings.update_status, Status(Phase.FAILED, said, installed=installed))
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


def _in_unit(settings: Settings, argv: list[str], *, wait: bool) -> int:
    """Start the run in the transient unit; having waited for it, say how it ended (its
    output went to the journal): on stdout when it succeeded, on stderr when not."""
    before, started = _written(settings.update_status), time.time()
    code = start_in_unit(argv, wait=wait)
    if not wait:
        return code
    status = read_status(settings.update_status)
    # A run refused before it began records no status: what it logged says why. Whether
    # it wrote one is told by the file (replaced on every write), not by what it says: two
    # runs refused alike within a second write the same status.
    wrote = _written(settings.update_status) != before
    said = f"{status.phase}: {status.message}" if wrote and status.message else None
    if code == 0:
        if said:
            print(said)
        return code
    said = said or last_error_since(started) or f"the run ended with exit code {code}"
    print(f"error: {said}", file=sys.stderr)
    print("hint: journalctl -u picohub-update tells more", file=sys.stderr)
    return code


def _written(path: Path) -> tuple[int, int] | None:
    """Which write of the status file this is: write_status replaces it (a new inode)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _apply(
    settings: Settings,
    version: str | None,
    wait: bool,
    bundle: Path | None,
    origin: Origin,
    accept: bool,
) -> int:
    passed = [f"--origin={origin}", *(["--accept-new-dependencies"] if accept else [])]
    if bundle is None:
        if not in_unit():
            argv = ["apply", *passed, *([version] if version else [])]
            return _in_unit(settings, argv, wait=wait)
        with cache_lock(settings, UNIT_WAIT_S):
            config = load_config(settings.update_config)
            return update(config, settings, version, origin, accept_new_dependencies=accept)
    if version is not None:
        raise UsageError("give a VERSION or --bundle FILE, not both")
    if not in_unit():
        if not bundle.is_file():
            raise UsageError(f"the bundle {bundle} is not a file")
        # The unit runs in /: it gets the absolute path.
        return _in_unit(settings, ["apply", *passed, "--bundle", str(bundle.resolve())], wait=wait)
    with cache_lock(settings, UNIT_WAIT_S):
        config = load_config(settings.update_config)
        return apply_bundle(config, settings, bundle, origin, accept_new_dependencies=accept)


def _bundle(settings: Settings, version: str, file: Path) -> None:
    made = bundle_release(settings, version, file)
    print(f"release {made.version}: {', '.join(made.members)} ({made.size} bytes) in {made.path}")


def _status(settings: Settings, as_json: bool) -> None:
    status = read_status(settings.update_status)
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
        return
    print(f"{status.phase}: {status.message or '(nothing yet)'}")
    if status.installed or status.target:
        print(f"installed {status.installed or '-'}, target {status.target or '-'}")
    last = status.last_result
    if last is not None and status.phase not in ENDED:
        print(f"last result ({last.at}): {last.phase}: {last.message}")


def _history(settings: Settings, as_json: bool) -> None:
    entries = History(settings.update_history).read()
    if as_json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
        return
    if not entries:
        print("no update has ended on this hub yet")
    for e in entries:
        took = "" if e.duration_s is None else f" in {e.duration_s:.0f} s"
        print(
            f"{e.at}  {e.kind} by {e.origin}, {e.from_release or '-'} -> {e.to_release or '-'}: "
            f"{e.result}{took}, {e.downloaded_bytes} bytes downloaded\n    {e.message}"
        )


def _automatic(settings: Settings, origin: Origin) -> int:
    if not in_unit():  # in the unit, a stop is after-run's to put right, as for apply
        stop_on_sigterm()
    return run_automatic(settings, origin)


def _hold(settings: Settings, until: str | None) -> None:
    moment = datetime.now(UTC)
    end = None if until is None else parse_until(until, moment)
    hold = Holds(settings.update_hold).hold(end, by=Origin.SHELL)
    print(f"automatic updates are {hold.description}; installing by hand still works")


def _release_hold(settings: Settings) -> None:
    released = Holds(settings.update_hold).release()
    print("the hold is released" if released else "there was no hold")


def _version(text: str) -> str:
    """A VERSION argument: a plain release version, nothing a path or URL could abuse."""
    if not is_release_version(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a release version (digits, letters, '.' and '-')"
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    settings = Settings.from_environment()

    def locked(action: Callable[[], int | None], wait_s: float = 0.0) -> Callable[[], int | None]:
        def run_locked() -> int | None:
            with cache_lock(settings, wait_s):
                return action()

        return run_locked

    def rollback_command() -> int | None:
        if not in_unit():
            return _in_unit(settings, ["rollback", f"--origin={args.origin}"], wait=args.wait)
        config = load_config(settings.update_config)
        return locked(lambda: rollback(config, settings, origin=args.origin), UNIT_WAIT_S)()

    commands: dict[str, Callable[[], int | None]] = {
        "check": locked(lambda: _check(settings, args.json)),
        "fetch": locked(lambda: _fetch(settings, args.version)),
        "apply": lambda: _apply(
            settings,
            args.version,
            args.wait,
            args.bundle,
            args.origin,
            args.accept_new_dependencies,
        ),
        "bundle": locked(lambda: _bundle(settings, args.version, args.file)),
        "rollback": rollback_command,
        "recover": locked(
            lambda: recover(load_config(settings.update_config), settings), UNIT_WAIT_S
        ),
        # It takes the cache only when there is something to put back.
        "after-run": lambda: after_run(load_config(settings.update_config), settings, os.environ),
        "trigger": lambda: serve_standard_input(settings),
        "status": lambda: _status(settings, args.json),
        "history": lambda: _history(settings, args.json),
        "auto": lambda: _automatic(settings, args.origin),
        "hold": lambda: _hold(settings, args.until),
        "release-hold": lambda: _release_hold(settings),
        "hawkbit": lambda: (
            run_service(settings) if args.hawkbit_command == "run" else poll_once(settings)
        ),
    }
    return run_command(commands[args.command], debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
