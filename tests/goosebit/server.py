"""goosebit, run for a test: its database migrated, the server on a loopback port, an admin.

Everything lives in one temporary folder: the settings file (``GOOSEBIT_SETTINGS``), the
sqlite database, the artifacts, aerich's settings and the server's log. The database is
made as goosebit's own image makes it (``aerich upgrade`` with goosebit's migrations); the
server is ``uvicorn goosebit:app`` in this interpreter, bound to 127.0.0.1 only. With
``netns_leader`` (a booted container's leader process), that 127.0.0.1 is the
container's: uvicorn runs under ``nsenter --net=/proc/LEADER/ns/net``, and the test's
calls to it go from a thread that entered the same network (:mod:`tests.picoboard.netns`);
the database is still made outside, in the test's folder. Devices
authenticate as in hawkBit (``Authorization: TargetToken ...``): goosebit's ``strict``
mode, in which only a device created through the API with its token may poll.

The management calls are goosebit's REST API (``/api/v1``) with the admin's bearer token
from ``POST /login``; the admin is made by ``POST /setup``, what goosebit's first-run page
sends.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from picohub.process import clean_environment, run
from tests.picoboard.netns import ContainerNetwork

TENANT = "DEFAULT"
POLL_TIME = "00:00:30"
ADMIN = "admin"
ADMIN_PASSWORD = "picohub-test-admin"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

SETTINGS = """\
tenant: {tenant}
poll_time: "{poll_time}"
db_uri: sqlite://{database}
artifacts_dir: {artifacts}
track_device_ip: true
device_auth:
  enable: true
  mode: strict
"""

AERICH = """\
[tool.aerich]
tortoise_orm = "goosebit.db.config.TORTOISE_CONF"
location = "{migrations}"
src_folder = "./."
"""


def goosebit_package() -> Path | None:
    """Where goosebit is installed in this interpreter, without importing it (its import
    reads its settings and configures logging)."""
    spec = importlib.util.find_spec("goosebit")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GoosebitError(RuntimeError):
    """goosebit did not start, or its API refused a call."""


class Goosebit:
    """One goosebit server in ``directory``; a context manager."""

    def __init__(self, directory: Path, *, netns_leader: int | None = None) -> None:
        package = goosebit_package()
        if package is None:
            raise GoosebitError("goosebit is not installed in this interpreter")
        self.package = package
        self.directory = directory
        self.settings = directory / "goosebit.yaml"
        self.log_path = directory / "goosebit.log"
        self.artifacts = directory / "artifacts"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()
        self.tenant = TENANT
        self.netns_leader = netns_leader
        self.network = None if netns_leader is None else ContainerNetwork(netns_leader, 1)

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """A request to the server, from its network namespace when it has its own."""
        if self.network is None:
            return self.session.request(method, url, **kwargs)
        return self.network.call(lambda: self.session.request(method, url, **kwargs))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        return clean_environment({"GOOSEBIT_SETTINGS": str(self.settings)})

    # -- starting and stopping -----------------------------------------------------------

    def start(self) -> Goosebit:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings.write_text(
            SETTINGS.format(
                tenant=TENANT,
                poll_time=POLL_TIME,
                database=self.directory / "db.sqlite3",
                artifacts=self.artifacts,
            )
        )
        aerich = self.directory / "aerich.toml"
        aerich.write_text(AERICH.format(migrations=self.package / "db" / "migrations"))
        run(
            [sys.executable, "-m", "aerich", "--config", aerich, "upgrade"],
            env={"GOOSEBIT_SETTINGS": str(self.settings)},
            cwd=self.directory,
            timeout=120,
        )
        for _ in range(3):  # another process may take the free port before uvicorn binds it
            self.port = free_port() if self.network is None else self.network.call(free_port)
            if self._launch():
                break
        else:
            raise GoosebitError(f"goosebit did not start; its log:\n{self.log_tail()}")
        self.login()
        return self

    def _launch(self) -> bool:
        argv = [sys.executable, "-m", "uvicorn", "goosebit:app", "--host", "127.0.0.1"]
        if self.netns_leader is not None:  # nsenter execs uvicorn: the same process
            argv = ["nsenter", f"--net=/proc/{self.netns_leader}/ns/net", "--", *argv]
        argv += ["--port", str(self.port), "--no-access-log"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=self.directory,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self._request("GET", f"{self.url}/openapi.json", timeout=5).status_code == 200:
                    return True
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise GoosebitError(f"goosebit did not answer in {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and let go of what talks to it."""
        self.stop()
        self.session.close()
        if self.network is not None:
            self.network.close()

    def __enter__(self) -> Goosebit:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- its REST API --------------------------------------------------------------------

    def login(self) -> None:
        """Make the admin (goosebit's first-run setup) and use its bearer token."""
        form = {"username": ADMIN, "password": ADMIN_PASSWORD}
        self._check(self._request("POST", f"{self.url}/setup", data=form, timeout=30))
        answer = self._check(self._request("POST", f"{self.url}/login", data=form, timeout=30))
        self.session.headers["Authorization"] = f"Bearer {answer['access_token']}"

    def _check(self, response: requests.Response) -> Any:
        if response.status_code != 200:
            raise GoosebitError(
                f"{response.request.method} {response.url} answered {response.status_code}: "
                f"{response.text[:400]}\n{self.log_tail()}"
            )
        return response.json()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._check(self._request(method, f"{self.url}{path}", timeout=30, **kwargs))

    def add_device(self, controller_id: str, token: str) -> None:
        """A device that may poll with ``TargetToken token`` (strict mode)."""
        self._call("PUT", "/api/v1/devices", json={"devices": [controller_id], "auth_token": token})

    def upload(self, path: Path) -> int:
        """Software from a ``.swu`` file; its id (the DDI action id of its deployments)."""
        with path.open("rb") as handle:
            answer = self._call("PUT", "/api/v1/software", files={"file": (path.name, handle)})
        return int(answer["id"])

    def assign(self, controller_id: str, software_id: int) -> None:
        """Assign software to a device (update mode "Assigned"): offered as forced."""
        body = {"devices": [controller_id], "software": str(software_id)}
        self._call("PUT", "/api/v1/devices", json=body)

    def software(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/software")["software"])

    def device(self, controller_id: str) -> dict[str, Any]:
        """The device as goosebit shows it (``last_state``, ``progress``, ``sw_version``).

        From the device list: goosebit 0.2.12's ``GET /api/v1/devices/{id}`` answers 500
        once software is assigned (it does not fetch the software's compatibility)."""
        for device in self._call("GET", "/api/v1/devices")["devices"]:
            if device["id"] == controller_id:
                return dict(device)
        raise GoosebitError(f"goosebit has no device {controller_id!r}")

    def device_log(self, controller_id: str) -> str:
        """What the device reported in its feedback's details, as goosebit keeps it."""
        return str(self._call("GET", f"/api/v1/devices/{controller_id}/log")["log"] or "")

    def stored_artifact(self, software_id: int) -> Path:
        """The file goosebit serves for ``software_id`` (artifacts/<sha1>/<name>)."""
        for software in self.software():
            if software["id"] == software_id:
                return self.artifacts / str(software["hash"]) / str(software["name"])
        raise GoosebitError(f"goosebit has no software {software_id}")


def installed() -> bool:
    """Whether this interpreter can run goosebit (and its migrations' tool, aerich)."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("goosebit", "aerich", "uvicorn")
    )
