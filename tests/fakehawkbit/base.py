"""The base of the fake hawkBit's handler: the fake, answers, bodies and the request log."""

from __future__ import annotations

import base64
import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.fakehawkbit.records import LoggedRequest

if TYPE_CHECKING:
    from tests.fakehawkbit.server import FakeHawkbit


def error_json(code: str, message: str) -> dict[str, Any]:
    """hawkBit's error answer (``ExceptionInfo``)."""
    return {
        "exceptionClass": "org.eclipse.hawkbit.exception.FakeHawkbitException",
        "errorCode": code,
        "message": message,
        "parameters": [],
    }


class HandlerBase(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHawkbit"
    timeout = 30
    _controller: str | None = None

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def fake(self) -> FakeHawkbit:
        fake: FakeHawkbit = self.server.fake  # type: ignore[attr-defined]
        return fake

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests_log is the record

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def json_body(self) -> Any:
        raw = self.body()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def log_request_done(self, status: int) -> None:
        entry = LoggedRequest(
            self.command, self.path, status, self.headers.get("Range"), self._controller
        )
        with self.fake.lock:
            self.fake.requests_log.append(entry)

    def send_json(
        self, status: int, payload: Any = None, content_type: str = "application/hal+json"
    ) -> None:
        body = b"" if payload is None else json.dumps(payload, indent=1).encode()
        self.log_request_done(status)
        self.send_response(status)
        if body:
            self.send_header("Content-Type", f"{content_type};charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_error_json(self, status: int, code: str, message: str) -> None:
        self.send_json(status, error_json(code, message), "application/json")

    def management_authorised(self) -> bool:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.fake.user, self.fake.password)

    def target_token(self) -> str | None:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        return value.strip() if scheme == "TargetToken" else None
