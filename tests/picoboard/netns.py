"""Run code in a container's network namespace from the test process: threads that
``setns(2)`` into it first, so a board client on the host reaches the hub at the
container's own 127.0.0.1 (its private network has nothing else)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _enter(leader: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{leader}/ns/net", os.O_RDONLY)
    try:
        # setns moves only the calling thread: the test process's own threads stay.
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {leader}'s network: {os.strerror(errno)}")
    finally:
        os.close(fd)


class ContainerNetwork:
    """A pool of threads inside the network namespace of the process ``leader``."""

    def __init__(self, leader: int, threads: int = 4) -> None:
        self._pool = ThreadPoolExecutor(threads, initializer=_enter, initargs=(leader,))

    def call(self, function: Callable[[], T]) -> T:
        return self._pool.submit(function).result()

    def map(self, function: Callable[[T], object], items: list[T]) -> list[object]:
        return list(self._pool.map(function, items))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
