"""``picohub-update hawkbit run | poll-once``: this hub as a hawkBit target, from update.conf.

``run`` is ``picohub-hawkbit.service``: it polls the server named in update.conf's
``[fleet]`` until SIGTERM (checked between polls and while an update runs) and installs
what is assigned through :class:`~picohub.update.hawkbit_install.Handoff`. On a hub whose
``fleet`` is not ``hawkbit`` it says so and ends at once (exit 0: the unit is enabled on
every hub and stays inactive there). ``poll-once`` polls once and says what it did, for
a person looking into a hub.

The controller id is ``picohub-`` and the first 16 hex digits of ``/etc/machine-id``:
stable across reinstalls of the package, unique per installed system, and it gives away
no more of the machine id than hawkBit needs to tell hubs apart.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from picohub.errors import ExitCode, UsageError
from picohub.files import flock_within
from picohub.settings import Settings
from picohub.update.bundle import bundle_limit
from picohub.update.config import UpdateConfig, load_config
from picohub.update.hawkbit import DdiClient, HawkbitError, Server, read_token
from picohub.update.hawkbit_install import Handoff, Stopped
from picohub.update.hawkbit_poll import Device, device_attributes
from picohub.update.holds import Holds
from picohub.update.phasing import read_machine_id
from picohub.update.policy import Mode

log = logging.getLogger(__name__)

CONTROLLER_PREFIX = "picohub-"
MACHINE_ID_DIGITS = 16
HEX = frozenset("0123456789abcdef")


def controller_id(settings: Settings) -> str:
    """This hub's controller id in hawkBit (see the module docstring)."""
    machine_id = (read_machine_id(settings.machine_id) or "").lower()
    if len(machine_id) < MACHINE_ID_DIGITS or not set(machine_id) <= HEX:
        raise HawkbitError(
            f"{settings.machine_id} holds no machine id; hawkBit needs one to know this hub",
            hint="systemd-machine-id-setup makes one",
        )
    return CONTROLLER_PREFIX + machine_id[:MACHINE_ID_DIGITS]


def allow_attempt(config: UpdateConfig, settings: Settings) -> bool:
    """Whether an ``attempt`` deployment (hawkBit's soft update) installs by itself now:
    the owner lets automatic runs install, no hold is in force, and the owner's
    maintenance window (local time) is open. Forced ones always do."""
    if config.automatic is not Mode.INSTALL:
        return False
    if not config.window.contains(datetime.now().astimezone()):
        return False
    return Holds(settings.update_hold).current(datetime.now(UTC)) is None


def make_device(config: UpdateConfig, settings: Settings, stop: threading.Event) -> Device:
    if config.hawkbit_url is None:
        raise UsageError(f"{settings.update_config}: [fleet] has no hawkbit_url")
    name = config.hawkbit_controller_id or controller_id(settings)
    server = Server(config.hawkbit_url, config.hawkbit_tenant, name)
    client = DdiClient(server, read_token(config.hawkbit_token_file))
    handoff = Handoff(settings, stop)
    return Device(
        client,
        cache_dir=settings.hawkbit_cache,
        attributes=lambda: device_attributes(settings.dpkg_admin_dir, settings.os_release),
        install=handoff,
        allow_attempt=lambda: allow_attempt(config, settings),
        max_artifact_bytes=bundle_limit(config),
        handed_over=handoff.handed_over,
        closed=handoff.closed,
        pending=handoff.pending,
        result=handoff.result,
    )


@contextmanager
def _alone(settings: Settings) -> Iterator[None]:
    """One hawkBit agent at a time: the service, or a person's poll-once."""
    settings.update_state_dir.mkdir(parents=True, exist_ok=True)
    with flock_within(settings.update_state_dir / "hawkbit.lock", 0.0) as had:
        if not had:
            raise UsageError(
                "another hawkBit agent runs on this hub",
                hint="systemctl stop picohub-hawkbit, or journalctl -u picohub-hawkbit",
            )
        yield


def _hawkbit_config(settings: Settings) -> UpdateConfig | None:
    config = load_config(settings.update_config)
    return config if config.managed_by_hawkbit else None


def run_service(settings: Settings, stop: threading.Event | None = None) -> int:
    """``hawkbit run``: poll until ``stop`` (SIGTERM when not given)."""
    config = _hawkbit_config(settings)
    if config is None:
        log.info("this hub follows GitHub (update.conf: [fleet] fleet = github); nothing to do")
        return ExitCode.OK
    if stop is None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    with _alone(settings):
        device = make_device(config, settings, stop)
        log.info("%s, as target %s", config.managed_by, device.client.server.controller_id)
        try:
            device.run(stop)
        except Stopped:
            log.info("stopped while an update runs; its result is reported at the next start")
    return ExitCode.OK


def poll_once(settings: Settings) -> int:
    """``hawkbit poll-once``: one poll, and what it did."""
    config = _hawkbit_config(settings)
    if config is None:
        raise UsageError(
            "this hub is not managed by hawkBit (update.conf: [fleet] fleet = github)",
            hint="set fleet = hawkbit and hawkbit_url in [fleet] of update.conf",
        )
    with _alone(settings):
        device = make_device(config, settings, threading.Event())
        server = device.client.server
        print(f"polling {server.base_url} as target {server.controller_id}", flush=True)
        outcome = device.poll_once()
    print(f"steps: {', '.join(outcome.steps) or 'none (nothing assigned)'}")
    if outcome.decision is not None:
        print(f"deployment: {outcome.decision.plan}: {outcome.decision.reason}")
    if outcome.closed is not None:
        print(f"action closed: {outcome.closed}")
    print(f"next poll in {outcome.delay:.0f} s")
    return ExitCode.OK
