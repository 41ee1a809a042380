from __future__ import annotations

import time
from pathlib import Path

import pytest

from picohub.errors import CommandError
from picohub.process import run


def test_output_is_captured_in_a_clean_utf8_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOHUB_SECRET_FROM_SHELL", "leak")
    monkeypatch.setenv("LANG", "de_DE.ISO-8859-1")
    env = dict(line.split("=", 1) for line in run(["env"]).stdout.splitlines())
    assert env["LANG"] == "C.UTF-8"
    assert "PICOHUB_SECRET_FROM_SHELL" not in env


def test_stdin_is_empty() -> None:
    assert run(["cat"], timeout=5).stdout == ""


def test_a_failure_names_the_command_its_exit_code_and_last_error_line() -> None:
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", "echo first >&2; echo 'no space left' >&2; exit 3"])
    error = caught.value
    assert error.returncode == 3
    assert error.argv[0] == "sh"
    assert "exit code 3" in str(error) and str(error).endswith("no space left")
    assert "first" in error.stderr


def test_a_signal_is_reported_in_words() -> None:
    with pytest.raises(CommandError, match="killed by SIGKILL"):
        run(["sh", "-c", "kill -KILL $$"])


def test_a_missing_program_is_reported_as_not_found() -> None:
    with pytest.raises(CommandError, match="no-such-program-here: command not found"):
        run(["no-such-program-here"])


def test_a_hung_command_times_out() -> None:
    with pytest.raises(CommandError, match=r"timed out after 0\.2 s"):
        run(["sleep", "5"], timeout=0.2)


def test_check_false_returns_the_failure() -> None:
    assert run(["false"], check=False).returncode == 1


def test_a_timeout_ends_everything_the_command_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    with pytest.raises(CommandError, match=r"timed out after 0\.5 s"):
        run(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], timeout=0.5)
    grandchild = int(pid_file.read_text())

    def gone() -> bool:
        try:
            state = Path(f"/proc/{grandchild}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        return state in "ZX"  # killed; not yet reaped by whoever adopted it

    deadline = time.monotonic() + 5
    while not gone():
        assert time.monotonic() < deadline, "the command's child outlived the timeout"
        time.sleep(0.05)
