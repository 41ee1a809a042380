"""The hub's doors under bad input, on a booted bookworm with all three packages: nginx,
the app and the update trigger answer everything with a verdict (never a 5xx for what a
client sent), hold nothing an unauthenticated client sends, recover by themselves, and
leave the hub as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest

from picohub.update.trigger_service import REQUEST_TIMEOUT_S
from picohub_release.build import Build
from tests.conftest import SOURCE
from tests.system.container import Container, wait_for
from tests.system.journeys import apt_install, device_ids, healthy_version, heartbeat

WEB = "http://127.0.0.1:8780"
TRIGGER_SOCKET = "picohub-update-trigger.socket"
# The connections the trigger's socket holds at once, as the package's unit says.
TRIGGER_MAX_CONNECTIONS = int(
    next(
        line.split("=", 1)[1]
        for line in (SOURCE / "debian" / "picohub.picohub-update-trigger.socket")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.startswith("MaxConnections=")
    )
)
NGINX_BODIES = "/var/lib/nginx/body"


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build) -> Build:
    apt_install(container, release_a)  # all three; apt brings nginx from the archive
    assert healthy_version(container) == release_a.version
    assert heartbeat(container, "pico-porch", "1.0.0")[0] == 200
    return release_a


def _in_container(container: Container, script: str, *args: Any) -> Any:
    """Run a standard-library Python script in the container; its JSON output."""
    result = container.run(["python3", "-c", script, *map(str, args)], timeout=300)
    return json.loads(result.stdout)


def _left_as_it_was(container: Container) -> None:
    """What every refusal must leave: the same registry, nothing uploaded, every door
    still open."""
    assert device_ids(container) == ["pico-porch"]
    uploads = container.sh("ls -A /var/lib/picohub/uploads 2>/dev/null || true").stdout
    assert uploads.strip() == ""
    for unit in ("picohub.service", "nginx.service", TRIGGER_SOCKET, "picohub-proxy.socket"):
        assert container.unit_property(unit, "ActiveState") == "active", unit


# -- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ('{"firmware_version": "1", "pad": "' + "x" * 300_000 + '"}', 413, "payload_too_large"),
        ("[" * 8000 + "]" * 8000, 400, "bad_request"),
        ('{"firmware_version": "1", "uptime_s": ' + "9" * 9000 + "}", 400, "bad_request"),
    ],
    ids=["far-over-the-limit", "nested-8000-deep", "a-9000-digit-number"],
)
def test_a_bad_heartbeat_through_nginx_gets_a_json_verdict_not_a_5xx(
    container: Container, hub: Build, body: str, status: int, error: str
) -> None:
    answer = container.request("POST", f"{WEB}/api/devices/pico-evil/heartbeat", body)
    assert answer.status == status, answer.content[:300]
    assert answer.headers["content-type"].startswith("application/json")
    said = answer.json()
    assert said["error"] == error and said["message"]
    _left_as_it_was(container)


def test_a_login_nested_deep_is_refused_and_counts_for_nothing(
    container: Container, hub: Build
) -> None:
    answer = container.request("POST", f"{WEB}/api/session", '{"password": ' * 1200)
    assert answer.status == 400, answer.content[:300]
    assert "nested 1200 levels deep" in answer.json()["message"]
    _left_as_it_was(container)


def test_unauthenticated_bundles_are_refused_before_nginx_keeps_a_byte(
    container: Container, hub: Build
) -> None:
    uploads = _in_container(container, _UPLOADS, NGINX_BODIES, "", "", 6, "finish")
    assert len(uploads["answers"]) == 6
    for upload in uploads["answers"]:
        assert upload["status"] == 401, upload
        assert json.loads(upload["body"])["error"] == "login_required"
    # While six clients were each half-way through sending 24 MiB, nginx kept none of it.
    assert uploads["held_bytes"] == 0
    _left_as_it_was(container)


def test_the_administrators_upload_is_the_one_nginx_buffers(
    container: Container, hub: Build
) -> None:
    """The baseline of the test above, in the same run: what it measures can be seen."""
    session = _log_in(container)
    cookie, token = session["cookie"], session["csrf_token"]
    uploads = _in_container(container, _UPLOADS, NGINX_BODIES, cookie, token, 1, "abort")
    # Of the 12 MiB sent so far, some may still sit in the sockets' buffers (a few MiB on
    # loopback): a mebibyte is enough to show that the measure sees nginx's buffering.
    assert uploads["held_bytes"] > 1 << 20
    # Given up half-way: nginx drops it, and the app never sees it.
    _left_as_it_was(container)


def _log_in(container: Container) -> dict[str, str]:
    password = container.run(["picohub", "admin-password", "show"]).stdout.strip()
    answer = container.request("POST", f"{WEB}/api/session", {"password": password})
    assert answer.status == 200, answer.content
    cookie = answer.headers["set-cookie"].split(";", 1)[0]
    return {"cookie": cookie, "csrf_token": answer.json()["csrf_token"]}


# Starts N uploads of 24 MiB that send half their body and wait; measures what nginx
# holds in its body files meanwhile; then each sends the rest and reads the answer, or,
# with "abort", closes its connection half-way.
_UPLOADS = r"""
import http.client, json, os, sys, threading
folder, cookie, csrf, count, then = sys.argv[1:4] + [int(sys.argv[4]), sys.argv[5]]
SIZE, HALF, BLOCK = 24 << 20, 12 << 20, b"\0" * (1 << 20)
halfway, go_on = threading.Barrier(count + 1, timeout=120), threading.Event()
answers = []
def send(connection, size):
    try:
        for _ in range(size >> 20):
            connection.send(BLOCK)
    except OSError:
        pass  # nginx answered and closed: the answer is still there to read
def upload():
    connection = http.client.HTTPConnection("127.0.0.1", 8780, timeout=120)
    connection.putrequest("POST", "/api/system/update/bundle")
    connection.putheader("Content-Type", "application/x-tar")
    connection.putheader("Content-Length", str(SIZE))
    if cookie:
        connection.putheader("Cookie", cookie)
        connection.putheader("X-CSRF-Token", csrf)
    connection.endheaders()
    send(connection, HALF)
    halfway.wait()
    go_on.wait()
    if then == "abort":
        connection.close()
        return
    send(connection, SIZE - HALF)
    try:
        answer = connection.getresponse()
        answers.append({"status": answer.status, "body": answer.read().decode()})
    except OSError as exc:
        answers.append({"status": 0, "body": repr(exc)})
threads = [threading.Thread(target=upload) for _ in range(count)]
for thread in threads:
    thread.start()
halfway.wait()
held_bytes = 0  # nginx unlinks a body's file at once: its open files tell
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{pid}/comm").read().strip() != "nginx":
            continue
        for fd in os.listdir(f"/proc/{pid}/fd"):
            path = f"/proc/{pid}/fd/{fd}"
            if os.readlink(path).startswith(folder + "/"):
                held_bytes += os.stat(path).st_size
    except OSError:
        pass
go_on.set()
for thread in threads:
    thread.join()
print(json.dumps({"held_bytes": held_bytes, "answers": answers}))
"""


# -- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["bytes=-0", "bytes=99999999-"])
def test_a_range_that_selects_nothing_is_416_with_the_images_size(
    container: Container, hub: Build, asked: str
) -> None:
    size = container.http("GET", f"{WEB}/api/firmware/manifest")[1]["size"]
    answer = container.request("GET", f"{WEB}/api/firmware/image", headers={"Range": asked})
    assert answer.status == 416
    assert answer.headers["content-range"] == f"bytes */{size}"


# -- the client's address ----------------------------------------------------------------


def test_only_nginx_can_say_who_the_client_is(container: Container, hub: Build) -> None:
    statuses = _in_container(container, _GUESSES)
    # On the loopback port a forged X-Forwarded-For per attempt buys no fresh count.
    assert statuses["direct"] == [401] * 5 + [429]
    # Through nginx each client counts by the address nginx saw (127.0.0.2 and .3 here),
    # whatever it wrote in front of it.
    assert statuses["through_nginx"] == [401] * 5 + [429]
    assert statuses["another_client"] == 401
    # nginx's socket is for root and www-data only.
    socket_file = container.sh("stat -c '%U:%G %a' /run/picohub/http.sock").stdout.strip()
    assert socket_file == "root:www-data 660"
    refused = container.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "python3", "-c",
         "import socket; socket.socket(socket.AF_UNIX).connect('/run/picohub/http.sock')"],
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "PermissionError" in refused.stderr
    _left_as_it_was(container)


# Wrong passwords: six to the app's loopback port, each with another forged address; six
# through nginx from 127.0.0.2 with one forged; then one through nginx from 127.0.0.3.
_GUESSES = r"""
import http.client, json
def attempt(port, source, forged):
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    body = json.dumps({"password": "not the password"})
    headers = {"Content-Type": "application/json", "X-Forwarded-For": forged}
    connection.request("POST", "/api/session", body, headers)
    status = connection.getresponse().status
    connection.close()
    return status
print(json.dumps({
    "direct": [attempt(8080, "127.0.0.1", f"10.0.0.{n}") for n in range(6)],
    "through_nginx": [attempt(8780, "127.0.0.2", "10.9.9.9") for _ in range(6)],
    "another_client": attempt(8780, "127.0.0.3", "127.0.0.2"),
}))
"""


# -- the update trigger ------------------------------------------------------------------


def test_the_trigger_answers_slow_clients_in_time_and_serves_the_next(
    container: Container, hub: Build
) -> None:
    # As many slow clients as the socket takes at once (MaxConnections): the page's
    # request finds every place taken, is closed by systemd, and asks again (the app's
    # picohub.trigger.ask) until the trigger has cut the slow ones off.
    seen = _in_container(container, _SLOW_CLIENTS, TRIGGER_MAX_CONNECTIONS)
    assert seen["page"]["ok"] is True, seen["page"]
    # Answered once the first slow client was cut off, not before: every place was taken.
    assert REQUEST_TIMEOUT_S - 1 < seen["page"]["took"] < REQUEST_TIMEOUT_S + 3, seen["page"]
    for client in seen["slow"]:
        assert client["reply"]["error"] == "refused", client
        assert f"did not arrive whole within {REQUEST_TIMEOUT_S:g} s" in client["reply"]["message"]
        assert client["took"] < REQUEST_TIMEOUT_S + 3, client
    _left_as_it_was(container)


def test_a_burst_of_connections_never_leaves_the_trigger_failed(
    container: Container, hub: Build
) -> None:
    burst = _in_container(container, _BURST, 400)
    assert burst["connected"] == 400
    assert container.unit_property(TRIGGER_SOCKET, "ActiveState") == "active"
    # Those beyond MaxConnections are closed at once, the rest answered (each an empty
    # request); then, by itself, the trigger answers the next request as ever.
    answer = wait_for(
        lambda: _in_container(container, _ASK).get("ok"), timeout=60, what="an answer again"
    )
    assert answer is True
    assert container.unit_property(TRIGGER_SOCKET, "ActiveState") == "active"
    _left_as_it_was(container)


_SLOW_CLIENTS = r"""
import json, socket, sys, threading, time
PATH = "/run/picohub-update/trigger.sock"
REQUEST = b'{"action": "release-hold"}\n'
count = int(sys.argv[1])
connected = threading.Barrier(count + 1)
slow = []
def trickle():
    connection = socket.socket(socket.AF_UNIX)
    connection.connect(PATH)
    started = time.monotonic()
    connected.wait()
    connection.settimeout(1.0)  # a byte a second: the pace is the wait for an answer
    answer = b""
    for byte in REQUEST[:-1]:
        try:
            connection.send(bytes([byte]))
            answer = connection.recv(65536)
            break  # answered, or closed
        except socket.timeout:
            continue
        except OSError:
            break
    slow.append({"took": time.monotonic() - started, "reply": json.loads(answer or b"null")})
threads = [threading.Thread(target=trickle) for _ in range(count)]
for thread in threads:
    thread.start()
connected.wait()
from pathlib import Path
from picohub.trigger import Action, TriggerRequest, ask
started = time.monotonic()
answer = ask(Path(PATH), TriggerRequest(Action.RELEASE_HOLD), timeout=20)
reply = {"ok": answer.ok, "message": answer.message, "took": time.monotonic() - started}
for thread in threads:
    thread.join()
print(json.dumps({"page": reply, "slow": slow}))
"""

# One request as the page makes it; the reply, or what went wrong.
_ASK = r"""
import json, socket
try:
    page = socket.socket(socket.AF_UNIX)
    page.settimeout(30)
    page.connect("/run/picohub-update/trigger.sock")
    page.sendall(b'{"action": "release-hold"}\n')
    print(page.makefile("rb").readline().decode() or json.dumps({"error": "closed"}))
except OSError as exc:
    print(json.dumps({"error": repr(exc)}))
"""

_BURST = r"""
import json, socket, sys
connected = 0
for _ in range(int(sys.argv[1])):
    connection = socket.socket(socket.AF_UNIX)
    connection.connect("/run/picohub-update/trigger.sock")
    connected += 1
    connection.close()
print(json.dumps({"connected": connected}))
"""
