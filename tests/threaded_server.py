"""The life of a test's local HTTP server (the fake GitHub, the fake hawkBit): served on
a thread of its own, shut down and joined when stopped, usable as a context manager."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class ThreadedServer:
    """What the fakes share; a fake's ``start`` makes its server and calls :meth:`serve`."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    host: str
    port: int

    def serve(self, server: ThreadingHTTPServer, name: str) -> Self:
        """Answer on ``server`` (it knows this fake as ``server.fake``) until stopped."""
        server.fake = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=name, daemon=True
        )
        self._thread.start()
        return self

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
