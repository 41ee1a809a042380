"""The fake hawkBit (tests.fakehawkbit) with every exchange counted on the server's side:
its handler's reads and writes are wrapped, so what a controller costs the server is
measured where the server is, whatever the client is."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.fakehawkbit import FakeHawkbit
from tests.fakehawkbit.handler import Handler
from tools.bench_fleet.figures import Exchange, kind_of


class Counted:
    """A handler's rfile or wfile, counting the bytes through it."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.count = 0

    def readline(self, *args: Any) -> bytes:
        line: bytes = self.raw.readline(*args)
        self.count += len(line)
        return line

    def read(self, *args: Any) -> bytes:
        data: bytes = self.raw.read(*args)
        self.count += len(data)
        return data

    def write(self, data: bytes) -> int:
        written: int = self.raw.write(data)
        self.count += len(data)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class CountingHandler(Handler):
    _status = 0

    def setup(self) -> None:
        super().setup()
        self.rfile = Counted(self.rfile)  # type: ignore[assignment]
        self.wfile = Counted(self.wfile)  # type: ignore[assignment]

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def handle_one_request(self) -> None:
        reader: Counted = self.rfile  # type: ignore[assignment]
        writer: Counted = self.wfile  # type: ignore[assignment]
        received, sent = reader.count, writer.count
        self._controller = None
        self._status = 0
        super().handle_one_request()
        if writer.count == sent:
            return  # the connection ended: no request
        fake: CountingHawkbit = self.server.fake  # type: ignore[attr-defined]
        fake.record(
            Exchange(
                at=time.monotonic(),
                controller=self._controller,
                kind=kind_of(self.command, self.path, fake.tenant),
                status=self._status,
                received=reader.count - received,
                sent=writer.count - sent,
            )
        )


class CountingHawkbit(FakeHawkbit):
    """:class:`FakeHawkbit` whose every exchange lands in :attr:`exchanges`."""

    handler = CountingHandler

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exchanges: list[Exchange] = []
        self._exchanges_lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        with self._exchanges_lock:
            self.exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        with self._exchanges_lock:
            return list(self.exchanges)
