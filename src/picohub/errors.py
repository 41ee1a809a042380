"""The one exception hierarchy of picohub and the exit codes the commands use.

Only command-line entry points catch :class:`PicohubError`; they print ``error: ...`` and
the hint, and exit with the error's code. systemd units and scripts rely on the codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of picohub's commands (documented in the README)."""

    OK = 0
    FAILURE = 1  # the operation failed; the message says why
    USAGE = 2  # bad command line or bad input; nothing was changed
    UPDATE_AVAILABLE = 100  # picohub-update check: a newer release is there (as dnf does)


class PicohubError(Exception):
    """An error with a message for the user and, where it helps, a hint what to do."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class UsageError(PicohubError):
    """The caller asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class CommandError(PicohubError):
    """A subprocess could not be started or ended with a failure."""

    def __init__(
        self,
        argv: list[str],
        message: str,
        *,
        returncode: int | None = None,
        stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
