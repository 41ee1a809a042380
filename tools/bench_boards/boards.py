"""The simulated boards: a host process in the container's network namespace, driven by
one plan (JSON on stdin), answering with every sample (JSON on stdout).

Every board has its own thread and its own source address (settings.address). A
heartbeat board sends ``POST /api/devices/<id>/heartbeat`` every period on a new
connection; a downloading board asks for the manifest, then ``GET /api/firmware/image``
on one blocking socket with a small receive buffer, read a chunk at a time with pauses
that keep it to the rate, hashing what it reads.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from tools.bench_boards.settings import (
    BOARD_VERSION,
    CHUNK,
    DOWNLOAD_BLOCK,
    DOWNLOAD_TIMEOUT_S,
    HEARTBEAT_BLOCK,
    HEARTBEAT_TIMEOUT_S,
    HUB,
    RECEIVE_BUFFER,
    WEB_PORT,
    address,
)


@dataclass(frozen=True)
class Plan:
    boards: int
    downloaders: int
    rate: int  # bytes/s per downloading board
    period_s: float
    idle_s: float
    tail_s: float
    one_address: bool = False  # every downloading board from 127.0.0.1 (shows the 429s)


@dataclass
class Download:
    board: str
    source: str
    started: float = 0.0
    answered: float | None = None  # the image's headers read
    ended: float | None = None
    manifest_status: int = 0
    status: int = 0  # the image's; 0: no HTTP answer
    length: int | None = None  # Content-Length
    received: int = 0  # body bytes
    sha256: str | None = None
    error: str | None = None


def heartbeat_board(
    index: int, start: float, plan: Plan, stop: threading.Event, out: list[list[Any]]
) -> None:
    board = f"board-{index + 1:03d}"
    source = address(HEARTBEAT_BLOCK, index)
    due = start + index * plan.period_s / plan.boards  # spread over the period
    while not stop.wait(max(0.0, due - time.monotonic())):
        body = json.dumps(
            {"firmware_version": BOARD_VERSION, "uptime_s": int(due - start) + 600}
        ).encode()
        sent = time.monotonic()
        status, error = 0, None
        connection = http.client.HTTPConnection(
            HUB, WEB_PORT, timeout=HEARTBEAT_TIMEOUT_S, source_address=(source, 0)
        )
        try:
            connection.request(
                "POST",
                f"/api/devices/{board}/heartbeat",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            answer = connection.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        finally:
            connection.close()
        out.append([board, due, sent, time.monotonic(), status, error])
        due += plan.period_s
        # Later than a whole period: the next at once, none made up, as a board's timer.
        due = max(due, time.monotonic())


def download_board(index: int, plan: Plan, record: Download) -> None:
    record.started = time.monotonic()
    try:
        record.manifest_status = _manifest(record.source)
        _image(record, plan.rate)
    except (OSError, ValueError) as exc:
        record.error = type(exc).__name__
    record.ended = time.monotonic()


def _manifest(source: str) -> int:
    connection = http.client.HTTPConnection(
        HUB, WEB_PORT, timeout=DOWNLOAD_TIMEOUT_S, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/api/firmware/manifest")
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def _image(record: Download, rate: int) -> None:
    """GET the image on a socket with a small window, kept to ``rate`` bytes/s."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.settimeout(DOWNLOAD_TIMEOUT_S)
        sock.bind((record.source, 0))
        sock.connect((HUB, WEB_PORT))
        sock.sendall(
            f"GET /api/firmware/image HTTP/1.1\r\nHost: {HUB}:{WEB_PORT}\r\n"
            f"User-Agent: picohub-bench-board\r\nConnection: close\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(CHUNK)
            if not chunk:
                raise ConnectionResetError("closed before the headers ended")
            head += chunk
        head, _, body = head.partition(b"\r\n\r\n")
        record.answered = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        record.status = int(lines[0].split(" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                record.length = int(value)
        digest = hashlib.sha256(body)
        received = len(body)
        wanted = record.length if record.length is not None else 1 << 40
        started = time.monotonic()
        while received < wanted:
            chunk = sock.recv(min(CHUNK, wanted - received))
            if not chunk:
                break
            digest.update(chunk)
            received += len(chunk)
            ahead = started + received / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        record.received = received
        record.sha256 = digest.hexdigest()


def run_boards(plan: Plan) -> dict[str, Any]:
    """Phase 1: heartbeats only for idle_s; phase 2: the downloads too, until the last
    ends; then tail_s of heartbeats alone."""
    beats: list[list[Any]] = []
    stop = threading.Event()
    start = time.monotonic()
    senders = [
        threading.Thread(target=heartbeat_board, args=(i, start, plan, stop, beats), daemon=True)
        for i in range(plan.boards)
    ]
    for sender in senders:
        sender.start()
    time.sleep(max(0.0, start + plan.idle_s - time.monotonic()))
    downloads_started = time.monotonic()
    records = [
        Download(f"dl-board-{i + 1:03d}", HUB if plan.one_address else address(DOWNLOAD_BLOCK, i))
        for i in range(plan.downloaders)
    ]
    downloaders = [
        threading.Thread(target=download_board, args=(i, plan, records[i]), daemon=True)
        for i in range(plan.downloaders)
    ]
    for downloader in downloaders:
        downloader.start()
    for downloader in downloaders:
        downloader.join()
    downloads_ended = time.monotonic()
    time.sleep(plan.tail_s)
    stop.set()
    for sender in senders:
        sender.join()
    return {
        "start": start,
        "downloads_started": downloads_started,
        "downloads_ended": downloads_ended,
        "stopped": time.monotonic(),
        "beats": sorted(beats, key=lambda beat: beat[2]),
        "downloads": [asdict(record) for record in records],
    }


def main() -> None:
    plan = Plan(**json.load(sys.stdin))
    json.dump(run_boards(plan), sys.stdout)


if __name__ == "__main__":
    main()
