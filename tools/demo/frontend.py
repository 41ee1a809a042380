"""What the page's JavaScript does: log in, post, poll GET /api/system until the end."""

from __future__ import annotations

import time
from typing import Any

import requests

from picohub.errors import PicohubError
from tools.demo.settings import WEB
from tools.demo.timeline import Poll


class Frontend:
    """What the page's JavaScript does: a session cookie, the CSRF token on every change."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.csrf: str | None = None

    def log_in(self, password: str) -> None:
        reply = self._send("POST", "/api/session", {"password": password})
        if reply.status_code != 200:
            raise PicohubError(f"logging in answered {reply.status_code}: {reply.text[:200]}")
        self.csrf = reply.json()["csrf_token"]

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: Any) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        try:
            return self.session.request(
                method, f"{WEB}{path}", json=body, headers=headers, timeout=60
            )
        except requests.RequestException as exc:
            raise PicohubError(f"{method} {path} got no answer: {exc}") from exc

    def poll(self) -> Poll:
        at = time.time()
        try:
            reply = self.session.get(f"{WEB}/api/system", timeout=15)
        except requests.RequestException:
            return Poll(at, 0)
        return Poll(at, reply.status_code, reply.json() if reply.status_code == 200 else None)


FINISHED = ("done", "failed", "rolled-back")


def follow(frontend: Frontend, timeout: float = 600) -> list[Poll]:
    """Poll GET /api/system as the page does until the update has ended."""
    polls: list[Poll] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll = frontend.poll()
        polls.append(poll)
        update = poll.body["update"] if poll.body else None
        if update and not update["busy"] and update["status"]["phase"] in FINISHED:
            return polls
        time.sleep(0.25)
    raise PicohubError(f"the update did not end within {timeout:.0f} s")
