"""The simulated controllers: picohub's own hawkBit device code in process.

Each controller is a :class:`picohub.update.hawkbit_poll.Device` with a
:class:`~picohub.update.hawkbit.DdiClient` of its own (its token, its requests session),
so it polls, sends its attributes, fetches the deployment, downloads and verifies the
artifact (size and SHA-256, to a cache folder of its own) and posts feedback exactly as a
hub does; only the install is a no-op that says it installed (and the attributes then say
the new version). No thread per controller: one scheduler holds every controller's next
poll time, and a small pool carries out the polls that are due. After each poll the
controller's connection is closed: at a polling time of minutes a hub's connection does
not live from one poll to the next, so each poll costs a connection.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from picohub.errors import PicohubError
from picohub.update.hawkbit import DdiClient, Server
from picohub.update.hawkbit_model import Deployment
from picohub.update.hawkbit_poll import Device

log = logging.getLogger("bench-fleet")


@dataclass
class Simulated:
    controller_id: str
    device: Device
    versions: dict[str, str]
    failures: list[str] = field(default_factory=list)


def simulated(
    url: str,
    tenant: str,
    tokens: dict[str, str],
    cache: Path,
    old_version: str,
    new_version: str,
    seed: int = 1,
) -> list[Simulated]:
    made = []
    for index, (controller_id, token) in enumerate(sorted(tokens.items())):
        versions = {
            "picohub": old_version,
            "picohub-web": old_version,
            "picohub-firmware": old_version,
            "debian_release": "bookworm",
            "architecture": "arm64",
        }

        def install(
            deployment: Deployment, paths: Sequence[Path], versions: dict[str, str] = versions
        ) -> str:
            for name in ("picohub", "picohub-web", "picohub-firmware"):
                versions[name] = new_version
            return f"installed {new_version} (simulated: {len(paths)} artifact(s) verified)"

        device = Device(
            DdiClient(Server(url, tenant, controller_id), token),
            cache_dir=cache / controller_id,
            attributes=versions.copy,
            install=install,
            rng=random.Random(seed + index),  # noqa: S311 (jitter, not a secret)
        )
        made.append(Simulated(controller_id, device, versions))
    return made


class Fleet:
    """Drives ``controllers``: each polls when due, then again after the delay the poll
    answer gave (the server's polling time, +-10 %)."""

    def __init__(self, controllers: list[Simulated], workers: int, spread_s: float) -> None:
        self.controllers = controllers
        self.workers = workers
        self.spread_s = spread_s
        self.stop = threading.Event()
        self.polls = 0
        self.errors = 0
        self.late_s = 0.0  # the worst lateness of a poll behind its due time
        self._lock = threading.Lock()
        self._due: list[tuple[float, int]] = []

    def run(self) -> None:
        """Until :attr:`stop` is set. Call it in the thread whose network the controllers
        use: the pool's threads are started from it (and inherit its network namespace)."""
        rng = random.Random(0)  # noqa: S311 (first polls spread over the polling time)
        now = time.monotonic()
        with self._lock:
            self._due = [
                (now + rng.uniform(0, self.spread_s), i) for i in range(len(self.controllers))
            ]
            heapq.heapify(self._due)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sim") as pool:
            while not self.stop.is_set():
                with self._lock:
                    now = time.monotonic()
                    ready = []
                    while self._due and self._due[0][0] <= now:
                        ready.append(heapq.heappop(self._due))
                    wait = self._due[0][0] - now if self._due else 0.05
                for due, index in ready:
                    pool.submit(self._poll, index, due)
                self.stop.wait(min(max(wait, 0.005), 0.05))

    def _poll(self, index: int, due: float) -> None:
        controller = self.controllers[index]
        started = time.monotonic()
        delay = 10.0
        try:
            delay = controller.device.poll_once().delay
        except PicohubError as exc:
            controller.failures.append(exc.message)
            with self._lock:
                self.errors += 1
            log.debug("%s: %s", controller.controller_id, exc.message)
        except Exception as exc:  # noqa: BLE001 (a bench: count it, keep polling)
            controller.failures.append(repr(exc))
            with self._lock:
                self.errors += 1
            log.warning("%s: %r", controller.controller_id, exc)
        finally:
            controller.device.client.session.close()
        with self._lock:
            self.polls += 1
            self.late_s = max(self.late_s, started - due)
            heapq.heappush(self._due, (time.monotonic() + delay, index))
