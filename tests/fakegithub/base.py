"""The base of the fake's request handler: the fake, authorisation, answers and the request
log, shared by the REST API and the transfers."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tests.fakegithub.answers import Answer, message
from tests.fakegithub.records import Budget, LoggedRequest

if TYPE_CHECKING:
    from tests.fakegithub.server import FakeGitHub


class HandlerBase(BaseHTTPRequestHandler):
    """What the API and the transfers share: the fake, authorisation, answers, the log."""

    # The request's query and path as sent, set by the handler's dispatch.
    _query = ""
    _logged_path = ""
    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub"
    timeout = 30  # a client that stops sending mid-request does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs cost 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def fake(self) -> FakeGitHub:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        return fake

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests_log is the record; stderr stays quiet

    def _auth(self) -> bool | None:
        """True: authorised; False: anonymous; None: a token that is not valid."""
        if self.fake.token is None:
            return True
        header = self.headers.get("Authorization")
        if header is None:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip() == self.fake.token:
            return True
        return None

    def _query_value(self, name: str) -> str | None:
        values = parse_qs(self._query).get(name)
        return values[0] if values else None

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- responses -------------------------------------------------------------------------

    def _respond(self, kind: str, authorized: bool, answer: Answer, body: bytes = b"") -> None:
        if answer.payload is not None:
            body = json.dumps(answer.payload, indent=1).encode()
            answer.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._log(kind, authorized, answer.status)  # before the client can see the answer
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and answer.status not in (204, 304):
            self.wfile.write(body)

    def _log(self, kind: str, authorized: bool, status: int) -> None:
        entry = LoggedRequest(
            self.command, self._logged_path, self._query, status, authorized, kind
        )
        with self.fake.lock:
            self.fake.requests_log.append(entry)

    def _rate_headers(self, budget: Budget) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(budget.limit),
            "X-RateLimit-Remaining": str(max(budget.remaining, 0)),
            "X-RateLimit-Used": str(budget.limit - max(budget.remaining, 0)),
            "X-RateLimit-Reset": str(int(budget.reset)),
            "X-RateLimit-Resource": "core",
        }

    def _rate_limited(self, budget: Budget, authorized: bool) -> Answer:
        who = "user ID 1" if authorized else self.client_address[0]
        answer = Answer(budget.status, message(f"API rate limit exceeded for {who}."))
        answer.headers.update(self._rate_headers(budget))
        if budget.retry_after is not None:
            answer.headers["Retry-After"] = str(budget.retry_after)
        return answer
