"""The relay agent: a TCP relay to the fake GitHub that keeps both byte streams, and
the HTTP/1.1 exchanges read back from them (bytes downloaded, counted on the wire).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any


class Relay:
    """A TCP relay from RELAY_PORT to the fake GitHub that keeps both byte streams."""

    def __init__(self, port: int, upstream: int) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.streams: list[tuple[bytearray, bytearray]] = []
        self.server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        assert request["op"] == "take"
        with self.lock:
            streams, self.streams = self.streams, []
        return {"exchanges": [x for up, down in streams for x in _exchanges(up, down)]}

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            up, down = bytearray(), bytearray()
            with self.lock:
                self.streams.append((up, down))
            done = threading.Barrier(2, action=_closer(client, server))
            for source, target, record in ((client, server, up), (server, client, down)):
                threading.Thread(
                    target=_pump, args=(source, target, record, done), daemon=True
                ).start()


def _closer(*sockets: socket.socket) -> Callable[[], None]:
    def close() -> None:
        for each in sockets:
            each.close()

    return close


def _pump(
    source: socket.socket, target: socket.socket, record: bytearray, done: threading.Barrier
) -> None:
    try:
        while chunk := source.recv(1 << 16):
            record.extend(chunk)  # before the peer can have it: nothing delivered is unseen
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        done.wait()


def _head(data: bytes | bytearray, start: int) -> tuple[list[str], int, int] | None:
    """The header lines of the message at ``start``, where its body starts, its length."""
    end = data.find(b"\r\n\r\n", start)
    if end == -1:
        return None
    lines = data[start:end].decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return lines, end + 4, length


def _exchanges(up: bytes | bytearray, down: bytes | bytearray) -> list[dict[str, Any]]:
    """The HTTP/1.1 requests on one connection, each with its answer's status and bytes."""
    asked: list[tuple[str, str]] = []
    position = 0
    while (request := _head(up, position)) is not None:
        method, path, _ = request[0][0].split(" ", 2)
        asked.append((method, path))
        position = request[1] + request[2]
    found: list[dict[str, Any]] = []
    position = 0
    for method, path in asked:
        answer = _head(down, position)
        if answer is None:  # the connection ended before the answer did
            found.append({"method": method, "path": path, "status": None, "bytes": 0, "wire": 0})
            break
        lines, body_start, length = answer
        status = int(lines[0].split(" ", 2)[1])
        if method == "HEAD" or status in (204, 304):
            length = 0  # no body, whatever the headers say
        end = body_start + length
        found.append(
            {
                "method": method,
                "path": path,
                "status": status,
                "bytes": max(0, min(end, len(down)) - body_start),
                "wire": min(end, len(down)) - position,
            }
        )
        position = end
    return found
