"""A booted Debian system for the system tests: an overlay over the cached root, booted
with systemd as PID 1 by ``systemd-nspawn``, commands run inside with ``nsenter``.

Each container has a private network (loopback only), so containers run side by side
without port clashes and nothing inside reaches the outside world.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picohub.errors import CommandError, PicohubError
from picohub.process import run
from tests.system import cgroups

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def wait_for(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str
) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


AUTOMATIC_TIMER = "picohub-update-auto.timer"


class Container:
    def __init__(self, lower: Path, scratch: Path, *, private_network: bool = True) -> None:
        self.lower = lower
        self.scratch = scratch
        # The demo shares the host's network, so its frontend can be opened from the host.
        self.private_network = private_network
        self.name = f"picohub-{uuid.uuid4().hex[:8]}"
        self.root = scratch / "merged"
        self.leader: int | None = None
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._console = scratch / "console.log"
        self._cgroups: list[Path] = []

    # -- lifecycle -------------------------------------------------------------------
    def start(self, boot_timeout: float = 60) -> None:
        self.mount()
        self.boot(boot_timeout)

    def mount(self) -> None:
        """Mount this container's overlay on the shared root, not booted yet."""
        for part in ("upper", "work", "merged"):
            (self.scratch / part).mkdir(parents=True, exist_ok=True)
        options = (
            f"lowerdir={self.lower},upperdir={self.scratch / 'upper'},"
            f"workdir={self.scratch / 'work'}"
        )
        run(["mount", "-t", "overlay", "overlay", "-o", options, self.root])
        # Masked as an administrator would: no test hub updates itself at midnight in the
        # middle of another test. The automatic-update tests unmask it.
        masked = self.root / "etc" / "systemd" / "system" / AUTOMATIC_TIMER
        masked.parent.mkdir(parents=True, exist_ok=True)
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")

    def run_unbooted(self, argv: Sequence[str], timeout: float = 600) -> None:
        """Run ``argv`` in the mounted root with no systemd running in it, as a system
        image is built (mount() first, boot() after)."""
        assert self.leader is None, "the container is booted"
        nspawn = [
            "systemd-nspawn",
            "--register=no",
            "--keep-unit",
            "--quiet",
            "--private-network",
            f"--directory={self.root}",
            "--setenv=DEBIAN_FRONTEND=noninteractive",
            *argv,
        ]
        run(cgroups.entering(self._own_cgroups(), nspawn), timeout=timeout)

    def _own_cgroups(self) -> list[Path]:
        if not self._cgroups:
            self._cgroups = cgroups.own_cgroups(self.name)
        return self._cgroups

    def boot(self, boot_timeout: float = 60) -> None:
        """Boot systemd on the mounted overlay and wait until it has started up."""
        nspawn = [
            "systemd-nspawn",
            "--register=no",
            "--keep-unit",
            *(["--private-network"] if self.private_network else []),
            f"--machine={self.name}",
            f"--directory={self.root}",
            "--boot",
        ]
        with self._console.open("ab") as console:
            self._nspawn = subprocess.Popen(
                cgroups.entering(self._own_cgroups(), nspawn),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.leader = wait_for(self._find_leader, timeout=boot_timeout, what="the container's init")
        state = wait_for(self._booted, timeout=boot_timeout, what="the container to boot")
        if state not in ("running", "degraded"):
            raise PicohubError(f"container {self.name} booted into state {state!r}")

    def _find_leader(self) -> int | None:
        assert self._nspawn is not None
        if self._nspawn.poll() is not None:
            log = self._console.read_text(errors="replace")[-2000:]
            raise PicohubError(f"systemd-nspawn exited with {self._nspawn.returncode}:\n{log}")
        children = Path(f"/proc/{self._nspawn.pid}/task/{self._nspawn.pid}/children")
        for pid in children.read_text().split():
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return int(pid)
        return None

    def _booted(self) -> str | None:
        result = self.run(["systemctl", "is-system-running"], check=False)
        state = result.stdout.strip()
        # "offline": systemctl cannot reach the manager yet (its bus is not up).
        return None if state in ("initializing", "starting", "offline", "") else state

    def power_cut(self) -> None:
        """Kill the container at once, as a power cut would: its PID 1 dies with SIGKILL
        (so does everything in its PID namespace). Nothing is unmounted; boot() again."""
        assert self._nspawn is not None and self.leader is not None
        os.kill(self.leader, signal.SIGKILL)
        self._nspawn.wait(timeout=30)
        self.leader = None

    def stop(self, timeout: float = 30) -> None:
        """Shut the container down cleanly (killed after ``timeout`` s), unmount and delete
        the overlay."""
        if self._nspawn is not None and self._nspawn.poll() is None:
            self._power_off()
            try:
                self._nspawn.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # The container's PID 1 first: its death ends everything in the container
                # (nspawn's own death would not: the container would live on, orphaned).
                if self.leader is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.leader, signal.SIGKILL)
                os.killpg(self._nspawn.pid, signal.SIGKILL)
                self._nspawn.wait(timeout=10)
        cgroups.remove(self._cgroups)
        if os.path.ismount(self.root):
            run(["umount", self.root])
        for part in ("upper", "work", "merged"):
            shutil.rmtree(self.scratch / part, ignore_errors=True)

    def _power_off(self) -> None:
        """Ask the container's systemd to power off. Through systemctl, not the signal
        nspawn would send (SIGRTMIN+3), which qemu-user does not pass on to an emulated
        systemd."""
        assert self._nspawn is not None
        if self.leader is None:
            self._nspawn.send_signal(signal.SIGTERM)
            return
        asked = self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=60)
        if asked.returncode != 0:
            self._nspawn.send_signal(signal.SIGTERM)  # nspawn asks systemd to power off

    # -- use -------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 300,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container, as root, in a clean environment."""
        assert self.leader is not None, "container not started"
        return run(
            [
                "nsenter",
                f"--target={self.leader}",
                "--all",
                "--",
                "env",
                "-i",
                f"PATH={CONTAINER_PATH}",
                "LANG=C.UTF-8",
                "DEBIAN_FRONTEND=noninteractive",
                *argv,
            ],
            check=check,
            timeout=timeout,
            input_text=input_text,
        )

    def sh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["sh", "-ec", script], check=check)

    def put(self, source: Path, directory: str) -> str:
        """Copy a host file into the container; return its path inside."""
        target = self.root / directory.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)
        return f"{directory.rstrip('/')}/{source.name}"

    def request(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """An HTTP request made from inside the container; a refused connection is 0.
        ``body`` is sent as JSON, or as it is when it is text or bytes."""
        raw = base64.b64encode(body).decode() if isinstance(body, bytes) else None
        spec = json.dumps(
            {
                "method": method,
                "url": url,
                "body": None if raw is not None else body,
                "raw": raw,
                "headers": headers or {},
            }
        )
        result = self.run(["python3", "-c", _HTTP_CLIENT], input_text=spec, check=False)
        if result.returncode != 0:
            raise CommandError(["http", method, url], f"HTTP client failed: {result.stderr}")
        answer = json.loads(result.stdout)
        return Answer(
            status=answer["status"],
            headers={name.lower(): value for name, value in answer["headers"]},
            content=base64.b64decode(answer["content"]),
        )

    def http(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """An HTTP request from inside the container; returns (status, JSON body or text)."""
        answer = self.request(method, url, body, headers)
        try:
            return answer.status, json.loads(answer.content)
        except ValueError:
            return answer.status, answer.content.decode(errors="replace")

    def unit_property(self, unit: str, name: str) -> str:
        return self.run(["systemctl", "show", f"--property={name}", "--value", unit]).stdout.strip()

    def journal_cursor(self) -> str:
        entries = self.run(["journalctl", "--lines=1", "--output=json", "--no-pager"]).stdout
        cursor: str = json.loads(entries.splitlines()[-1])["__CURSOR"]
        return cursor

    def journal(self, after: str | None = None, **fields: str) -> list[dict[str, Any]]:
        """Journal entries after the cursor whose fields equal ``fields``.

        Filtered here, not with journalctl matches: with ``--after-cursor`` journalctl
        seeks to the first *matching* entry and skips it as if it were the cursor's.
        """
        argv = ["journalctl", "--output=json", "--no-pager"]
        if after is not None:
            argv.append(f"--after-cursor={after}")
        out = self.run(argv).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [e for e in entries if all(e.get(k) == v for k, v in fields.items())]

    def journal_messages(self, after: str | None = None, **fields: str) -> list[str]:
        return [str(entry.get("MESSAGE")) for entry in self.journal(after, **fields)]


@contextmanager
def booted(
    root: Path, scratch: Path, boot_timeout: float = 60, stop_timeout: float = 30
) -> Iterator[Container]:
    """A container booted on the cached ``root``; shut down, its scratch removed, after."""
    machine = Container(root, scratch)
    try:
        machine.start(boot_timeout)
        yield machine
    finally:
        machine.stop(stop_timeout)
        shutil.rmtree(machine.scratch, ignore_errors=True)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


# Runs inside the container with its python3 (standard library only): one request, the
# answer as JSON on stdout; a refused connection is status 0.
_HTTP_CLIENT = r"""
import base64, json, sys, urllib.request, urllib.error
spec = json.load(sys.stdin)
data = None if spec["body"] is None else (
    spec["body"].encode() if isinstance(spec["body"], str) else json.dumps(spec["body"]).encode())
headers = dict(spec["headers"])
if data is not None:
    headers.setdefault("Content-Type", "application/json")
if spec["raw"] is not None:
    data = base64.b64decode(spec["raw"])
request = urllib.request.Request(spec["url"], data=data, method=spec["method"], headers=headers)
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        status, headers, raw = answer.status, answer.getheaders(), answer.read()
except urllib.error.HTTPError as error:
    status, headers, raw = error.code, error.headers.items(), error.read()
except (ConnectionError, urllib.error.URLError):
    status, headers, raw = 0, [], b"null"
content = base64.b64encode(raw).decode()
json.dump({"status": status, "headers": list(headers), "content": content}, sys.stdout)
"""
