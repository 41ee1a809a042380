"""The agents: host processes in the container's network namespace (the probe, the
relay), each driven by the bench through JSON lines on its stdin and stdout.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from typing import Any

from picohub.errors import PicohubError
from tests.conftest import SOURCE
from tests.system.conftest import PORT
from tests.system.container import Container
from tools.bench.probe import Probe
from tools.bench.relay import Relay
from tools.bench.settings import RELAY_PORT


def agent_main(role: str) -> None:
    """Serve the bench's requests (JSON lines on stdin, one answer line each on stdout)."""
    agent: Probe | Relay = Probe() if role == "probe" else Relay(RELAY_PORT, PORT)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = agent.handle(request)
        except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


class Agent:
    """The bench's side of an agent process."""

    def __init__(self, container: Container, role: str) -> None:
        self.role = role
        self.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/proc/{container.leader}/ns/net",
                "--",
                sys.executable,
                "-c",
                f"from tools.bench.agents import agent_main; agent_main({role!r})",
            ],
            cwd=SOURCE,
            env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}", "PATH": "/usr/sbin:/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise PicohubError(f"the {self.role} agent exited ({self.process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise PicohubError(f"the {self.role} agent failed: {reply['error']}")
        return reply

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=10)
