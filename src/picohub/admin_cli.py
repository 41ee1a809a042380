"""``picohub``: the hub's administration command, run by root.

``picohub admin-password init|show|reset``: the password the web page asks for before an
update (see :mod:`picohub.admin` for where it is kept and why).
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import sys
from collections.abc import Callable, Sequence

from picohub import admin, logs
from picohub.cli import run_command
from picohub.errors import PicohubError
from picohub.settings import Settings

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picohub", description="administer the picohub hub")
    parser.add_argument("--debug", action="store_true", help="show debug output and tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    password = commands.add_parser(
        "admin-password", help="the administrator password of the web page"
    )
    actions = password.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("init", help="make the password unless there is one (the package does this)")
    actions.add_parser("show", help="print the password")
    actions.add_parser("reset", help="replace the password with a new one and end every session")
    return parser


def _require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise PicohubError(
            "only root can manage the administrator password",
            hint=f"run: sudo picohub admin-password {action}",
        )


def _service_owner(settings: Settings) -> tuple[int, int]:
    try:
        user = pwd.getpwnam(settings.service_user)
    except KeyError:
        raise PicohubError(
            f"the user {settings.service_user} does not exist",
            hint="it is made when the package is configured: sudo dpkg --configure -a",
        ) from None
    return user.pw_uid, user.pw_gid


def _init(settings: Settings) -> None:
    result = admin.init(settings, _service_owner(settings))
    show = "sudo picohub admin-password show"
    # The password itself is never printed here: postinst output ends up in apt's log.
    if result is admin.InitResult.CREATED:
        print(f"picohub: made the administrator password of the web page; show it with: {show}")
    elif result is admin.InitResult.REHASHED:
        print(
            f"picohub: the administrator password's hash was missing; made it again from "
            f"{settings.admin_password_file}"
        )
    elif result is admin.InitResult.NO_CLEARTEXT:
        print(
            f"warning: the administrator password cannot be shown "
            f"({settings.admin_password_file} is missing or damaged); to get one you can "
            f"show, run: "
            f"sudo picohub admin-password reset",
            file=sys.stderr,
        )


def _show(settings: Settings) -> None:
    password = admin.show(settings)
    print(password)
    if admin.matches(settings, password) is False:
        print(
            f"warning: this is not the password the web page accepts (its hash in "
            f"{settings.admin_credential} differs; an interrupted reset?); run: "
            f"sudo picohub admin-password reset",
            file=sys.stderr,
        )


def _reset(settings: Settings) -> None:
    password = admin.reset(settings, _service_owner(settings))
    print(password)
    print(
        "the administrator password was replaced; sessions opened with the old one have ended",
        file=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    settings = Settings.from_environment()
    actions: dict[str, Callable[[Settings], None]] = {
        "init": _init,
        "show": _show,
        "reset": _reset,
    }

    def command() -> None:
        _require_root(args.action)
        actions[args.action](settings)

    return run_command(command, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
