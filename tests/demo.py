"""``python -m tests.demo [--keep]`` (``make demo``): issue #7's demo, an update from the
web page, end to end, on a stand-in Pi. Run it as root from a clone:

1. builds release 1 (this tree's version) and release 2 (the next version) with the
   release tool, each written as a signed flat apt repository (the local throwaway key,
   the one test builds pin in picohub's keyring);
2. starts a local server answering like GitHub on 127.0.0.1:8000 and publishes both with
   the release tool's ``publish`` (the API: a draft, every asset uploaded, published);
3. boots a Debian bookworm container sharing this machine's network (systemd-nspawn over
   the cached test root) and installs release 1 with apt from its published repository;
4. points the updater at the server, logs in at http://127.0.0.1:8780 as the frontend
   does, checks, installs release 2, follows it through the app's restart, and prints a
   timeline of what happened, taken from the container's journal and the web API.

Everything is removed at the end, on an error and on Ctrl-C. With ``--keep`` the container
and the server stay up, with the frontend to look at, until Ctrl-C.

Exit codes: 0 the update ended on release 2; 1 something failed (the message says what);
2 not run as root, a tool missing or a port busy (nothing was started); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests

from picohub import logs
from picohub.cli import run_command
from picohub.errors import PicohubError, UsageError
from picohub.process import run
from picohub_release.build import Build, build_debs
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import changelog_version
from tests.conftest import SOURCE, next_version
from tests.fakegithub import FakeGitHub
from tests.system.container import Container, wait_for
from tests.system.rootfs import ensure_root, root_path

OWNER, REPO = "picohub", "picohub"  # the fake's defaults, and the updater's
SERVER_PORT = 8000
WEB = "http://127.0.0.1:8780"
TOKEN = "demo-token"  # the fake's one valid token, for publishing
PACKAGES = ("picohub", "picohub-web", "picohub-firmware")
# The container shares this machine's network, so everything it listens on must be free.
PORTS = {
    SERVER_PORT: "the local GitHub-like server",
    8080: "picohub.socket (the app) in the container",
    8780: "the frontend (picohub-web's nginx site) in the container",
    80: "nginx's default site, which Debian's nginx enables when it is installed",
}
TOOLS = ("systemd-nspawn", "nsenter", "mount", "dpkg-buildpackage", "git", "gpg", "apt-get")
KEYRING_IN_CONTAINER = "/etc/apt/keyrings"
# A flat repository, as the README documents it (apt asks for URL/./InRelease).
APT_DIST = "./"


# -- the timeline: journal entries and web observations to lines (pure) -----------------


class Step(StrEnum):
    CHECK = "check"
    TRIGGER = "trigger"
    DOWNLOAD = "download"
    VERIFY = "verify"
    INSTALL = "install"
    RESTART = "restart"
    HEALTH = "health"
    DONE = "done"
    WEB = "web"
    WARNING = "warning"
    FAILED = "failed"


class Key(StrEnum):
    """Events the summary measures between."""

    NONE = ""
    PRESSED_INSTALL = "pressed-install"
    APP_STOPPED = "app-stopped"
    APP_STARTED = "app-started"
    UPDATED = "updated"


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the epoch (the container shares this machine's clock)
    step: Step
    text: str
    key: Key = Key.NONE


@dataclass(frozen=True)
class Poll:
    """One GET /api/system of the frontend while the update ran."""

    at: float
    status: int  # HTTP status; 0: no connection
    body: Mapping[str, Any] | None = None


# systemd's catalogue ids (sd-messages.h), in the messages PID 1 logs about units.
UNIT_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_RELOADED = "7b05ebc668384222baa8881179cfda54"
UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"

_UNIT_EVENTS: dict[tuple[str, str], tuple[Step, Key]] = {
    ("picohub.service", UNIT_STOPPING): (Step.RESTART, Key.NONE),
    ("picohub.service", UNIT_STOPPED): (Step.RESTART, Key.APP_STOPPED),
    ("picohub.service", UNIT_STARTING): (Step.RESTART, Key.NONE),
    ("picohub.service", UNIT_STARTED): (Step.RESTART, Key.APP_STARTED),
    ("picohub.service", UNIT_FAILED): (Step.FAILED, Key.NONE),
    ("nginx.service", UNIT_RELOADED): (Step.INSTALL, Key.NONE),
    ("picohub-update.service", UNIT_STARTED): (Step.TRIGGER, Key.NONE),
    ("picohub-update.service", UNIT_SUCCESS): (Step.DONE, Key.NONE),
    ("picohub-update.service", UNIT_FAILED): (Step.FAILED, Key.NONE),
}
# picohub's logging format under systemd: "LEVEL logger: message" (journald adds the time).
_LOGGED = re.compile(
    r"(?:(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: )?(?P<text>.*)", re.S
)
_FETCHING_PACKAGE = re.compile(
    r"fetching (?P<package>\S+) (?P<version>\S+) \((?P<size>\d+) bytes\)"
)


def _at(entry: Mapping[str, Any]) -> float:
    return int(entry["__REALTIME_TIMESTAMP"]) / 1e6


def _unit_event(entry: Mapping[str, Any]) -> Event | None:
    if entry.get("_PID") != "1":
        return None
    found = _UNIT_EVENTS.get((str(entry.get("UNIT")), str(entry.get("MESSAGE_ID"))))
    if found is None:
        return None
    return Event(_at(entry), found[0], f"systemd: {entry.get('MESSAGE')}", found[1])


def _request_event(at: float, text: str) -> Event:
    """A line of the root-side trigger: the request the web app passed on."""
    try:
        request = json.loads(text.removeprefix("request: "))
    except ValueError:
        request = {}
    if request.get("action") == "check":
        return Event(at, Step.CHECK, "picohub-update-trigger (root) got the app's request: check")
    what = f"{request.get('action', '?')} {request.get('version') or '(the newest release)'}"
    return Event(at, Step.TRIGGER, f"picohub-update-trigger (root) got the app's request: {what}")


class _UpdaterLines:
    """Reads picohub-update's lines in order; the step a line belongs to can depend on
    the lines before it (a line the reader does not know stays in the current step)."""

    def __init__(self, installed: str) -> None:
        self.installed = installed
        self.step = Step.CHECK
        self.fetched: list[int] = []  # the sizes of the new release's packages
        self.verified = False

    def read(self, at: float, level: str | None, text: str) -> list[Event]:
        if text.startswith("request: "):
            return [_request_event(at, text)]
        package = _FETCHING_PACKAGE.fullmatch(text)
        if package is not None:
            return [self._package(at, package)]
        for prefix, handle in (
            ("checking for a release", self._checking),
            ("fetching release ", self._fetching),
            ("verified", self._verified),  # should the updater ever log it itself
            ("installing ", self._installing),
            ("waiting for picohub ", self._waiting),
            ("updated to ", self._updated),
        ):
            if text.startswith(prefix):
                return handle(at, text)
        if text.startswith(("up to date", "rolled back to", "nothing was changed")) or (
            "failed" in text
        ):
            self.step = Step.DONE if text.startswith("up to date") else Step.FAILED
        elif level in ("WARNING", "ERROR", "CRITICAL"):
            return [Event(at, Step.WARNING, text)]
        return [Event(at, self.step, text)]

    def _checking(self, at: float, text: str) -> list[Event]:
        self.step = Step.CHECK
        return [Event(at, self.step, f"{text} (InRelease, signature checked with the pinned key)")]

    def _fetching(self, at: float, text: str) -> list[Event]:
        self.step = Step.DOWNLOAD
        return [Event(at, self.step, text)]

    def _package(self, at: float, found: re.Match[str]) -> Event:
        self.step = Step.DOWNLOAD
        size, name, version = int(found["size"]), found["package"], found["version"]
        if version == self.installed:
            why = "the installed release, kept for a rollback"
            return Event(at, self.step, f"  {name} {version}: {size:,} bytes ({why})")
        self.fetched.append(size)
        return Event(at, self.step, f"  {name} {version}: {size:,} bytes")

    def _verified(self, at: float, text: str) -> list[Event]:
        self.step, self.verified = Step.VERIFY, True
        return [Event(at, self.step, text)]

    def _installing(self, at: float, text: str) -> list[Event]:
        events = []
        if not self.verified and self.fetched:
            events.append(
                Event(
                    at,
                    Step.VERIFY,
                    f"{len(self.fetched)} packages, {sum(self.fetched):,} bytes: size and "
                    "SHA-256 as the signed InRelease says (checked as each download ended)",
                )
            )
        self.step = Step.INSTALL
        what = text.removeprefix("installing ")
        return [*events, Event(at, self.step, f"apt-get install {what}")]

    def _waiting(self, at: float, text: str) -> list[Event]:
        self.step = Step.HEALTH
        return [Event(at, Step.INSTALL, "apt-get install finished"), Event(at, self.step, text)]

    def _updated(self, at: float, text: str) -> list[Event]:
        self.step = Step.DONE
        version = text.removeprefix("updated to ")
        return [
            Event(at, Step.HEALTH, f"confirmed: /healthz reports {version}"),
            Event(at, self.step, text, Key.UPDATED),
        ]


def journal_events(entries: Iterable[Mapping[str, Any]], *, installed: str) -> list[Event]:
    """The steps of an update in the journal: the lines of picohub-update (the trigger and
    the transient unit) and what systemd did to the units involved.

    ``installed`` is the version before the update: its packages are fetched first, as
    the rollback target. The updater logs no line of its own for the verification (each
    package is checked against the signed index as its download ends, and apt checks the
    signature again); it is shown where it is complete, when the install starts.
    """
    events: list[Event] = []
    lines = _UpdaterLines(installed)
    for entry in entries:
        unit = _unit_event(entry)
        if unit is not None:
            events.append(unit)
        elif entry.get("SYSLOG_IDENTIFIER") == "picohub-update":
            found = _LOGGED.fullmatch(str(entry.get("MESSAGE", "")))
            if found is not None:
                events += lines.read(_at(entry), found["level"], found["text"])
    return events


def web_events(polls: Sequence[Poll]) -> list[Event]:
    """What the frontend saw while polling GET /api/system: when it got no answer, when
    answers came back, and the last answer (the status file, through the app)."""
    events: list[Event] = []
    down: Poll | None = None
    for poll in polls:
        if poll.status != 200 and down is None:
            down = poll
            said = "no connection" if poll.status == 0 else f"HTTP {poll.status}"
            events.append(Event(poll.at, Step.WEB, f"GET /api/system: no answer ({said})"))
        elif poll.status == 200 and down is not None:
            down = None
            events.append(Event(poll.at, Step.WEB, "GET /api/system answers again"))
    last = polls[-1] if polls else None
    if last is not None and last.body is not None:
        status = last.body["update"]["status"]
        events.append(
            Event(
                last.at,
                Step.WEB,
                f"GET /api/system: running {last.body['running']}; status file: "
                f"{status['phase']}, {status['message']!r} (updated_at {status['updated_at']})",
            )
        )
    return events


def render(events: Sequence[Event]) -> list[str]:
    """The timeline: one line per event, in time order, as seconds from the first."""
    if not events:
        return ["  (no events)"]
    ordered = sorted(events, key=lambda event: event.at)  # stable: journal order kept
    origin = ordered[0].at
    return [f"  {event.at - origin:+8.2f} s  {event.step:<8}  {event.text}" for event in ordered]


def _first(events: Sequence[Event], key: Key, after: float = 0.0) -> Event | None:
    return next(
        (e for e in sorted(events, key=lambda e: e.at) if e.key is key and e.at >= after), None
    )


def summary(events: Sequence[Event], polls: Sequence[Poll]) -> list[str]:
    """How long the update took, how long the app was down, what the page noticed."""
    lines = []
    pressed, updated = _first(events, Key.PRESSED_INSTALL), _first(events, Key.UPDATED)
    if pressed is not None and updated is not None:
        lines.append(f"Install pressed -> updated: {updated.at - pressed.at:.1f} s")
    stopped = _first(events, Key.APP_STOPPED)
    started = _first(events, Key.APP_STARTED, after=stopped.at) if stopped else None
    if stopped is not None and started is not None:
        lines.append(f"picohub.service stopped -> started again: {started.at - stopped.at:.2f} s")
    failed = sum(1 for poll in polls if poll.status != 200)
    if polls and not failed:
        lines.append(
            f"the page's {len(polls)} polls of GET /api/system were all answered, through "
            "the restart too (picohub.socket holds requests while the app restarts)"
        )
    elif polls:
        lines.append(
            f"{failed} of the page's {len(polls)} polls of GET /api/system went unanswered"
        )
    return lines


# -- before anything starts ----------------------------------------------------------------


def _port_holder(port: int) -> str:
    """Who listens on ``port``, as ss names it (empty when it cannot tell)."""
    if shutil.which("ss") is None:
        return ""
    listing = run(["ss", "-Hltnp", f"sport = :{port}"], check=False).stdout
    names = sorted(set(re.findall(r'\("([^"]+)",pid=(\d+)', listing)))
    return ", ".join(f"{name} (pid {pid})" for name, pid in names)


def _port_busy(port: int) -> bool:
    families = [(socket.AF_INET, "0.0.0.0")]  # noqa: S104 (a probe, closed at once)
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::"))
    for family, address in families:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As servers bind: a listener blocks it, a connection in TIME_WAIT does not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == 98:  # EADDRINUSE
                    return True
                # No IPv6 on this machine: nothing can hold the port there.
    return False


def preflight() -> None:
    if os.geteuid() != 0:
        raise UsageError(
            "the demo needs root: it mounts an overlay and boots a container with systemd-nspawn",
            hint="run it as root: sudo make demo",
        )
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise UsageError(
            f"the demo needs {', '.join(missing)}",
            hint="make demo installs them (packaging/dev/bootstrap)",
        )
    busy = []
    for port, what in PORTS.items():
        if _port_busy(port):
            holder = _port_holder(port)
            by = f" by {holder}" if holder else ""
            busy.append(f"port {port} is in use{by}; the demo needs it for {what}")
    if busy:
        raise UsageError(
            "; ".join(busy),
            hint="the container shares this machine's network: stop what listens there "
            "(an earlier demo still running with --keep?) and run the demo again",
        )


# -- the steps -------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, flush=True)


def build_release(work: Path, label: str, version: str | None) -> tuple[Build, Repository]:
    """Build the packages (``version``: a later test release of this tree) and write them
    as a repository signed by the local key the builds pin."""
    started = time.monotonic()
    build = build_debs(SOURCE, work / label / "dist", work / label / "work", version=version)
    signer = local_signer(LOCAL_KEY_DIR)
    repository = write_repository(build.debs, work / label / "repo", signer, version=build.version)
    say(
        f"    {label}: picohub {build.version}, {len(build.debs)} packages, "
        f"signed by {signer.fingerprint} ({time.monotonic() - started:.0f} s)"
    )
    return build, repository


def publish(repository: Repository, server: FakeGitHub, notes_from: Path) -> None:
    """The release tool's publish, as the release workflow runs it."""
    result = run(
        [
            sys.executable, "-m", "picohub_release", "publish", repository.directory,
            "--github-repo", f"{OWNER}/{REPO}", "--tag", f"v{repository.version}",
            "--api-url", server.api_url, "--source", notes_from,
        ],
        env={"GITHUB_TOKEN": TOKEN, "PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}"},
        cwd=SOURCE,
        timeout=300,
    )  # fmt: skip
    say(f"    {result.stdout.strip()}")


def release_url(server: FakeGitHub, version: str) -> str:
    return f"{server.download_base}/{OWNER}/{REPO}/releases/download/v{version}/"


def install_release(container: Container, server: FakeGitHub, repository: Repository) -> None:
    """apt install the three packages from the published release, as a Pi would.

    Only our source is updated, so nothing comes from a Debian mirror: the Debian packages
    they need (nginx, gunicorn, Flask...) come from the lists and archives cached in the
    test root (``rootfs.PRELOAD``).
    """
    keyring = container.put(repository.directory / KEYRING, KEYRING_IN_CONTAINER)
    source = f"deb [signed-by={keyring}] {release_url(server, repository.version)} {APT_DIST}\n"
    listing = "/etc/apt/sources.list.d/picohub.list"
    (container.root / listing.lstrip("/")).write_text(source, encoding="utf-8")
    say(f"    {listing}: {source.strip()}")
    updated = container.run(
        [
            "apt-get", "update", "-q",
            "-o", f"Dir::Etc::SourceList={listing}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", "APT::Get::List-Cleanup=false",
        ],
        timeout=120,
    )  # fmt: skip
    for line in (updated.stdout + updated.stderr).splitlines():
        if line.startswith(("W:", "E:", "N:")):
            say(f"    apt-get update: {line}")
    container.run(
        ["apt-get", "install", "--yes", "--no-install-recommends", "-q", *PACKAGES], timeout=600
    )


def healthz(timeout: float = 60) -> str:
    """The version /healthz reports through nginx, once it answers."""

    def answer() -> str | None:
        try:
            reply = requests.get(f"{WEB}/healthz", timeout=5)
        except requests.RequestException:
            return None
        return str(reply.json()["version"]) if reply.status_code == 200 else None

    version: str = wait_for(answer, timeout=timeout, interval=0.5, what="/healthz on port 8780")
    return version


def point_updater_at(container: Container, server: FakeGitHub) -> None:
    config = f"[github]\ndownload_url = {server.download_base}\napi_url = {server.api_url}\n"
    (container.root / "etc/picohub/update.conf").write_text(config, encoding="utf-8")


class Frontend:
    """What the page's JavaScript does: a session cookie, the CSRF token on every change."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.csrf: str | None = None

    def log_in(self, password: str) -> None:
        reply = self._send("POST", "/api/session", {"password": password})
        if reply.status_code != 200:
            raise PicohubError(f"logging in answered {reply.status_code}: {reply.text[:200]}")
        self.csrf = reply.json()["csrf_token"]

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: Any) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        try:
            return self.session.request(
                method, f"{WEB}{path}", json=body, headers=headers, timeout=60
            )
        except requests.RequestException as exc:
            raise PicohubError(f"{method} {path} got no answer: {exc}") from exc

    def poll(self) -> Poll:
        at = time.time()
        try:
            reply = self.session.get(f"{WEB}/api/system", timeout=15)
        except requests.RequestException:
            return Poll(at, 0)
        return Poll(at, reply.status_code, reply.json() if reply.status_code == 200 else None)


FINISHED = ("done", "failed", "rolled-back")


def follow(frontend: Frontend, timeout: float = 600) -> list[Poll]:
    """Poll GET /api/system as the page does until the update has ended."""
    polls: list[Poll] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll = frontend.poll()
        polls.append(poll)
        update = poll.body["update"] if poll.body else None
        if update and not update["busy"] and update["status"]["phase"] in FINISHED:
            return polls
        time.sleep(0.25)
    raise PicohubError(f"the update did not end within {timeout:.0f} s")


def update_from_the_web(container: Container, installed: str, target: str) -> int:
    """Log in, check, install as the page does; print the timeline. 0: ended on ``target``."""
    password = container.run(["picohub", "admin-password", "show"]).stdout.strip()
    frontend = Frontend()
    frontend.log_in(password)
    cursor = container.journal_cursor()
    web: list[Event] = []

    at = time.time()
    checked = frontend.post("/api/system/update/check")
    if checked.status_code != 200:
        raise PicohubError(f"the check answered {checked.status_code}: {checked.text[:300]}")
    available = checked.json()["available"]
    web.append(
        Event(at, Step.CHECK, f"POST /api/system/update/check -> 200: {available['message']}")
    )
    if available["version"] != target or not available["update_available"]:
        raise PicohubError(f"the check offers {available['version']}, not release {target}")

    at = time.time()
    started = frontend.post("/api/system/update", {"version": target})
    if started.status_code != 202:
        raise PicohubError(f"starting the update answered {started.status_code}: {started.text}")
    web.append(
        Event(
            at,
            Step.TRIGGER,
            f'POST /api/system/update {{"version": "{target}"}} -> 202: '
            f"{started.json()['message']}",
            Key.PRESSED_INSTALL,
        )
    )
    polls = follow(frontend)

    def logged() -> list[dict[str, Any]] | None:  # journald may hold the last lines a moment
        entries = container.journal(cursor)
        done = any(
            e.get("UNIT") == "picohub-update.service" and e.get("_PID") == "1"
            and e.get("MESSAGE_ID") in (UNIT_SUCCESS, UNIT_FAILED)
            for e in entries
        )  # fmt: skip
        return entries if done else None

    entries = wait_for(logged, timeout=15, interval=0.5, what="the update's end in the journal")
    events = [*web, *journal_events(entries, installed=installed), *web_events(polls)]
    say("\nTimeline (0 = Check pressed; from the container's journal and the web API):")
    for line in render(events):
        say(line)
    say("")
    for line in summary(events, polls):
        say(f"  {line}")
    final = polls[-1].body
    assert final is not None
    status = final["update"]["status"]
    if final["running"] != target or status["phase"] != "done":
        say(f"\nerror: the update did not end on {target}: {status['phase']}: {status['message']}")
        return 1
    return 0


def _lan_address() -> str | None:
    """This machine's address on the LAN (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def wait_for_ctrl_c(container: Container, password: str) -> None:
    say("\n--keep: the container and the server keep running.")
    say(f"  log in on the page with the admin password: {password}")
    say(f"  a shell in the stand-in Pi: nsenter --target={container.leader} --all -- su -")
    say(f"  press Ctrl-C here (or kill {os.getpid()}) to stop both and clean up")
    while container.leader is not None and Path(f"/proc/{container.leader}").exists():
        time.sleep(1)
    say("the container has stopped")


# -- putting it together ---------------------------------------------------------------------


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def _shielded() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the demo (even when started with SIGINT ignored, as a
    background job is); while it cleans up, they are ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        say("==> cleaning up: the container, the server, the scratch folder")


def _remove(work: Path, container: Container) -> None:
    if os.path.ismount(container.root):  # never walk into a mounted root
        say(f"warning: {container.root} is still mounted; left {work} in place")
        return
    shutil.rmtree(work, ignore_errors=True)


def demo(keep: bool) -> int:
    preflight()
    version = changelog_version(SOURCE)
    target = next_version(version)
    if not (root_path("bookworm") / ".complete").exists():
        say("==> building the Debian bookworm root with debootstrap (once; a few minutes)")
    root = ensure_root("bookworm")
    work = Path(tempfile.mkdtemp(prefix="picohub-demo-"))
    with ExitStack() as cleanup:
        container = Container(root, work / "container", private_network=False)
        cleanup.callback(_remove, work, container)
        with _shielded():
            say(f"==> building release 1 ({version}, this tree) and release 2 ({target})")
            _, first = build_release(work, "release-1", None)
            _, second = build_release(work, "release-2", target)

            server = FakeGitHub(OWNER, REPO, TOKEN, port=SERVER_PORT)
            cleanup.callback(server.stop)
            server.start()
            say(f"==> publishing both to the GitHub-like server at {server.download_base}")
            publish(first, server, SOURCE)
            stamped = work / "release-2" / "work" / "picohub"  # the notes of release 2
            publish(second, server, stamped if stamped.is_dir() else SOURCE)

            say("==> booting Debian bookworm (the stand-in Pi) on this machine's network")
            cleanup.callback(container.stop)
            container.start()
            say(f"==> installing release {version} with apt from its GitHub release")
            install_release(container, server, first)
            say(f"    /healthz through nginx: {healthz()}")

            say(f"==> updating to {target} from the web API, as the page does")
            point_updater_at(container, server)
            result = update_from_the_web(container, version, target)
            say(f"\nThe hub runs picohub {healthz()}. The frontend:")
            say(f"  {WEB}/  (on this machine)")
            if (address := _lan_address()) is not None:
                say(f"  http://{address}:8780/  (from the LAN)")
            if not keep:
                say("  (gone with the container in a moment: run with --keep to look at it)")
            else:
                password = container.run(["picohub", "admin-password", "show"]).stdout.strip()
                try:
                    wait_for_ctrl_c(container, password)
                except KeyboardInterrupt:
                    say("")
    return result


class _Once(logging.Filter):
    """Lets each message through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the container and the server up until Ctrl-C"
    )
    parser.add_argument("--debug", action="store_true", help="log every command; tracebacks")
    args = parser.parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.WARNING)
    for handler in logging.getLogger("picohub_release").handlers:
        handler.addFilter(_Once())  # the two builds warn alike (a test firmware image)
    try:
        return run_command(lambda: demo(args.keep), debug=args.debug)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
