"""The one way picohub runs a subprocess.

argv lists only, a clean C.UTF-8 environment, stdin from /dev/null, the command logged at
debug level, and a failure turned into plain words in a :class:`CommandError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from picohub.errors import CommandError

log = logging.getLogger(__name__)

# What a child may inherit from us; everything else is dropped so results do not depend on
# the caller's shell (locale, PYTHONPATH, DEBIAN_FRONTEND of a user's terminal...).
_INHERITED = ("PATH", "HOME", "TERM", "SOURCE_DATE_EPOCH", "TMPDIR", "CI")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env["LANG"] = "C.UTF-8"
    env["LC_ALL"] = "C.UTF-8"
    if extra:
        env.update(extra)
    return env


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return its result; raise :class:`CommandError` when it fails.

    Output is captured as text. ``env`` adds to the clean environment.
    """
    args = [os.fspath(arg) for arg in argv]
    log.debug("running %s", shlex.join(args))
    try:
        # Its own process group, so a timeout ends everything it started (apt's dpkg,
        # a maintainer script), not just the command itself.
        process = subprocess.Popen(
            args,
            env=clean_environment(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if input_text is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandError(args, f"{args[0]}: command not found") from exc
    with process:
        try:
            stdout, stderr = process.communicate(input_text, timeout=timeout)
        except BaseException as exc:  # the timeout, or an interrupt of our own
            _kill_group(process)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise CommandError(
                    args, f"{shlex.join(args)}: timed out after {timeout} s"
                ) from exc
            raise
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        last = f": {detail[-1]}" if detail else ""
        raise CommandError(
            args,
            f"{shlex.join(args)} failed ({describe_returncode(result.returncode)}){last}",
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return result


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # Whatever left the group (a daemon) may hold the pipes: do not wait for it for ever.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=10)
