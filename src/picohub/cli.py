"""How every picohub command reports an error: ``error: ...`` and a hint on stderr, and
the error's exit code. Only entry points call this; everything else raises."""

from __future__ import annotations

import sys
from collections.abc import Callable

from picohub.errors import ExitCode, PicohubError


def run_command(action: Callable[[], object], *, debug: bool = False) -> int:
    """Run a command's ``action``; turn a PicohubError into words and an exit code.

    An action that returns an int (``picohub-update check``: 100, an update is there)
    gives the exit code. With ``debug`` an error is raised again, with its traceback.
    """
    try:
        result = action()
    except PicohubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        if debug:
            raise
        return exc.exit_code
    return result if isinstance(result, int) else ExitCode.OK
