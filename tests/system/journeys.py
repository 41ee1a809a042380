"""Steps the system tests share: install with apt, wait for health, read the registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picohub.settings import APP_SOCKETS
from picohub_release.build import Build
from tests.system.container import Container, wait_for

HEALTHZ = "http://127.0.0.1:8080/healthz"
# The app and both of its sockets: stopping the app means stopping all three.
APP_UNITS = (*APP_SOCKETS, "picohub.service")
DEVICES = "http://127.0.0.1:8080/api/devices"
WEB = "http://127.0.0.1:8780"


@dataclass(frozen=True)
class AdminSession:
    """A logged-in administrator, as the page holds it: the session cookie and the CSRF
    token every change must carry."""

    cookie: str
    csrf_token: str

    def headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie, "X-CSRF-Token": self.csrf_token}


def admin_password(container: Container) -> str:
    return container.run(["picohub", "admin-password", "show"]).stdout.strip()


def log_in(container: Container, base: str = WEB) -> AdminSession:
    """Log in as the administrator with the device's password (through nginx, or at
    ``base``)."""
    answer = container.request(
        "POST", f"{base}/api/session", {"password": admin_password(container)}
    )
    assert answer.status == 200, answer.content
    cookie = answer.headers["set-cookie"].split(";", 1)[0]
    return AdminSession(cookie, answer.json()["csrf_token"])


def apt_install(container: Container, build: Build, packages: Sequence[str] = ()) -> None:
    """``apt install ./picohub*.deb`` (all, or the named packages), the documented way,
    with no network at all."""
    debs = [build.deb(name) for name in packages] if packages else list(build.debs)
    paths = [container.put(deb, f"/root/{build.version}") for deb in debs]
    container.run(["apt-get", "install", "--yes", "--no-install-recommends", *paths], timeout=600)


def healthy_version(container: Container, timeout: float = 30) -> str:
    """Wait until /healthz answers 200; return the version it reports."""

    def answer() -> str | None:
        status, body = container.http("GET", HEALTHZ)
        return body["version"] if status == 200 and body["status"] == "ok" else None

    version: str = wait_for(answer, timeout=timeout, what="/healthz to answer 200")
    return version


def heartbeat(container: Container, device: str, firmware: str) -> tuple[int, Any]:
    return container.http(
        "POST",
        f"{DEVICES}/{device}/heartbeat",
        {"firmware_version": firmware, "uptime_s": 42, "readings": {"temperature_c": 21.5}},
    )


def device_ids(container: Container) -> list[str]:
    status, body = container.http("GET", DEVICES)
    assert status == 200, body
    return [device["id"] for device in body["devices"]]


# systemd's catalogue ids of "Started UNIT" and "Stopped UNIT" (sd-messages.h).
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"


def unit_stops_and_starts(container: Container, unit: str, after: str) -> tuple[int, int]:
    """How many times systemd stopped and started ``unit`` since the journal cursor."""
    entries = container.journal(after, UNIT=unit, _PID="1")
    ids = [entry.get("MESSAGE_ID") for entry in entries]
    return ids.count(UNIT_STOPPED), ids.count(UNIT_STARTED)


def never_healthy(tree: Path) -> None:
    """A build patch: the release's app answers /healthz with 503, so an update to it
    fails its health check."""
    health = tree / "src" / "picohub" / "web" / "health.py"
    text = health.read_text()
    assert 'return jsonify(status="ok", version=version), 200' in text
    health.write_text(text.replace(
        'return jsonify(status="ok", version=version), 200',
        'return jsonify(status="error", version=version, message="broken on purpose"), 503',
    ))  # fmt: skip


def history(container: Container) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        container.run(["picohub-update", "history", "--json"]).stdout
    )
    return entries


def wait_for_entry(
    container: Container, matches: Callable[[dict[str, Any]], bool], timeout: float = 240
) -> dict[str, Any]:
    """The newest history entry that ``matches``, once the run's unit is gone too: the
    transaction ends before the unit's after-run does, and a run started meanwhile would
    find an update running."""
    entry: dict[str, Any] = wait_for(
        lambda: next((e for e in reversed(history(container)) if matches(e)), None),
        timeout=timeout,
        what="the update history to show the run",
    )
    wait_for(
        lambda: (
            container.unit_property("picohub-update.service", "ActiveState")
            in ("inactive", "failed")
        ),
        timeout=120,
        what="the update's unit to end",
    )
    return entry
