"""The probe agent: GET /healthz through nginx on a wall-clock schedule; it also makes
the bench's own requests to the web API.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from tools.bench.settings import PROBE_PERIOD_S, PROBE_TIMEOUT_S, WEB_PORT


class Probe:
    """GET /healthz through nginx every PROBE_PERIOD_S; also makes the bench's requests."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=256)
        self.samples: list[list[Any]] = []
        self.pending: list[Future[None]] = []
        self.stopping = threading.Event()
        self.scheduler: threading.Thread | None = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "start":
            self.samples, self.pending = [], []
            self.stopping.clear()
            self.scheduler = threading.Thread(target=self._schedule, daemon=True)
            self.scheduler.start()
            return {"started": time.monotonic()}
        if request["op"] == "stop":
            assert self.scheduler is not None
            self.stopping.set()
            self.scheduler.join()
            wait(self.pending)
            return {"samples": sorted(self.samples)}
        return self._request(request)

    def _schedule(self) -> None:
        start = time.monotonic()
        tick = 0
        while True:
            due = start + tick * PROBE_PERIOD_S
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            self.pending.append(self.pool.submit(self._one, due))
            tick += 1

    def _one(self, due: float) -> None:
        sent = time.monotonic()
        status, version, error = 0, None, None
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=PROBE_TIMEOUT_S)
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            body = answer.read()
            status = answer.status
            if status == 200:
                version = json.loads(body).get("version")
            else:  # what the failure said (the app's 503 names its cause)
                error = body[:300].decode(errors="replace")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = type(exc).__name__
        finally:
            connection.close()
        self.samples.append([due, sent, time.monotonic(), status, version, error])

    def _request(self, spec: dict[str, Any]) -> dict[str, Any]:
        body = None if spec.get("body") is None else json.dumps(spec["body"]).encode()
        headers = dict(spec.get("headers") or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=30)
        try:
            sent = time.monotonic()
            connection.request(spec["method"], spec["path"], body=body, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
            return {
                "sent": sent,
                "done": time.monotonic(),
                "status": answer.status,
                "headers": {name.lower(): value for name, value in answer.getheaders()},
                "body": raw.decode(errors="replace"),
            }
        finally:
            connection.close()
