"""Whether the installed release serves: picohub.service active and ``/healthz`` answering
with the expected version."""

from __future__ import annotations

import json
import time
import urllib.request

from picohub.errors import PicohubError
from picohub.process import run

HEALTHZ = "http://127.0.0.1:8080/healthz"


def wait_healthy(version: str, timeout: float) -> None:
    """Wait until picohub.service is active and /healthz reports ``version``."""
    deadline = time.monotonic() + timeout
    seen = "no answer"
    while time.monotonic() < deadline:
        active = run(["systemctl", "is-active", "picohub.service"], check=False).stdout.strip()
        if active == "active":
            try:
                with urllib.request.urlopen(HEALTHZ, timeout=5) as answer:
                    body = json.loads(answer.read(4096))
                seen = f"version {body.get('version')}"
                if body.get("status") == "ok" and body.get("version") == version:
                    return
            except (OSError, ValueError) as exc:
                seen = str(exc)
        else:
            seen = f"picohub.service is {active}"
        time.sleep(0.5)  # polled: neither systemd nor the app can say when it is ready
    raise PicohubError(f"picohub {version} did not become healthy within {timeout:.0f} s ({seen})")
