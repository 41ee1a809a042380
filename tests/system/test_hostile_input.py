"""The hub's doors under bad input, on a booted bookworm with all three packages: nginx,
the app and the update trigger answer everything with a verdict (never a 5xx for what a
client sent), hold nothing an unauthenticated client sends, recover by themselves, and
leave the hub as it was."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from picohub.settings import APP_SOCKETS
from picohub.update.trigger_service import REQUEST_TIMEOUT_S
from picohub_release.build import Build
from tests.conftest import SOURCE
from tests.system.container import Container, wait_for
from tests.system.journeys import (
    APP_UNITS,
    apt_install,
    device_ids,
    healthy_version,
    heartbeat,
    log_in,
)

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
NGINX_RESPONSES = "/var/lib/nginx/proxy"
# The connections one client address may hold at once, as picohub-web's site says.
NGINX_CONNECTIONS_PER_CLIENT = int(
    re.search(
        r"^\s*limit_conn picohub_per_client (\d+);",
        (SOURCE / "packaging" / "nginx" / "picohub").read_text(encoding="utf-8"),
        re.MULTILINE,
    ).group(1)  # type: ignore[union-attr]
)


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
    session = log_in(container)
    cookie, token = session.cookie, session.csrf_token
    uploads = _in_container(container, _UPLOADS, NGINX_BODIES, cookie, token, 1, "abort")
    # Of the 12 MiB sent so far, some may still sit in the sockets' buffers (a few MiB on
    # loopback): a mebibyte is enough to show that the measure sees nginx's buffering.
    assert uploads["held_bytes"] > 1 << 20
    # Given up half-way: nginx drops it, and the app never sees it.
    _left_as_it_was(container)


# What nginx holds in its files under a folder: it unlinks a body's or a response's file at
# once, so its processes' open files tell.
_HELD_BY_NGINX = r"""
import os
def held_by_nginx(folder):
    held = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().strip() != "nginx":
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                path = f"/proc/{pid}/fd/{fd}"
                if os.readlink(path).startswith(folder + "/"):
                    held += os.stat(path).st_size
        except OSError:
            pass
    return held
"""

# Starts N uploads of 24 MiB that send half their body and wait; measures what nginx
# holds in its body files meanwhile; then each sends the rest and reads the answer, or,
# with "abort", closes its connection half-way.
_UPLOADS = (
    _HELD_BY_NGINX
    + r"""
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
held_bytes = held_by_nginx(folder)
go_on.set()
for thread in threads:
    thread.join()
print(json.dumps({"held_bytes": held_bytes, "answers": answers}))
"""
)


# -- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["bytes=-0", "bytes=99999999-"])
def test_a_range_that_selects_nothing_is_416_with_the_images_size(
    container: Container, hub: Build, asked: str
) -> None:
    size = container.http("GET", f"{WEB}/api/firmware/manifest")[1]["size"]
    answer = container.request("GET", f"{WEB}/api/firmware/image", headers={"Range": asked})
    assert answer.status == 416
    assert answer.headers["content-range"] == f"bytes */{size}"


def test_slow_boards_fetching_the_image_hold_no_worker_and_nothing_on_disk(
    container: Container, hub: Build
) -> None:
    # An image larger than what sockets buffer, so that a board reading slowly makes
    # whoever sends it wait; the manifest names it (the app reads both on every request).
    manifest_path = "/usr/share/picohub/firmware/manifest.json"
    original = container.run(["cat", manifest_path]).stdout
    image = bytes(range(256)) * (64 << 12)  # 64 MiB
    manifest = {**json.loads(original), "image": "large.uf2", "size": len(image)}
    manifest["sha256"] = hashlib.sha256(image).hexdigest()
    (container.root / "usr/share/picohub/firmware/large.uf2").write_bytes(image)
    (container.root / manifest_path.lstrip("/")).write_text(json.dumps(manifest))
    try:
        seen = _in_container(container, _SLOW_BOARDS, NGINX_RESPONSES, manifest["sha256"])
    finally:
        container.run(["rm", "-f", "/usr/share/picohub/firmware/large.uf2"])
        (container.root / manifest_path.lstrip("/")).write_text(original)
    # Four boards reading a byte now and then, more than the app's two workers: the app
    # still answers at once, and nginx keeps no copy of the image for them.
    assert seen["health"] == 200 and seen["health_took"] < 5, seen
    assert seen["held_bytes"] == 0, seen
    # A resume names the image it began (If-Range): the rest of that image, or, for
    # another image, all of this one.
    assert seen["resumed"] == {"status": 206, "sha256": manifest["sha256"]}, seen
    assert seen["restarted"] == {"status": 200, "length": len(image)}, seen
    _left_as_it_was(container)


# Four boards start the image and read a little; meanwhile the app's health and what
# nginx holds in its response files; then a resume with If-Range, right and wrong.
_SLOW_BOARDS = (
    _HELD_BY_NGINX
    + r"""
import hashlib, http.client, json, os, socket, sys, time
folder, sha256 = sys.argv[1], sys.argv[2]
boards = []
for _ in range(4):
    board = socket.socket()
    board.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    board.connect(("127.0.0.1", 8780))
    board.sendall(b"GET /api/firmware/image HTTP/1.1\r\nHost: hub\r\n\r\n")
    board.recv(4096)
    boards.append(board)
time.sleep(1)  # what a board on slow Wi-Fi does between reads; nginx fills its buffers
held_bytes = held_by_nginx(folder)
started = time.monotonic()
direct = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
direct.request("GET", "/healthz")
health = direct.getresponse().status
health_took = time.monotonic() - started
for board in boards:
    board.close()
def fetch(headers):
    connection = http.client.HTTPConnection("127.0.0.1", 8780, timeout=60)
    connection.request("GET", "/api/firmware/image", headers=headers)
    answer = connection.getresponse()
    return answer.status, answer.read()
half = (64 << 20) // 2
first = fetch({"Range": f"bytes=0-{half - 1}"})[1]
status, rest = fetch({"Range": f"bytes={half}-", "If-Range": f'"{sha256}"'})
resumed = {"status": status, "sha256": hashlib.sha256(first + rest).hexdigest()}
status, whole = fetch({"Range": f"bytes={half}-", "If-Range": '"an-older-image"'})
print(json.dumps({
    "health": health, "health_took": health_took, "held_bytes": held_bytes,
    "resumed": resumed, "restarted": {"status": status, "length": len(whole)},
}))
"""
)


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


# -- what nginx answers by itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
        (b"GET /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nHost: hub\r\nX-Pad: " + b"x" * 9000 + b"\r\n\r\n", 400,
         "headers_too_large"),
        (b"POST /index.html HTTP/1.1\r\nHost: hub\r\nContent-Length: 0\r\n"
         b"Connection: close\r\n\r\n", 405,
         "method_not_allowed"),
    ],
    ids=["not-http", "uri-too-long", "headers-too-large", "post-to-a-page"],
)  # fmt: skip
def test_what_nginx_refuses_by_itself_is_said_in_json(
    container: Container, hub: Build, raw: bytes, status: int, error: str
) -> None:
    answer = _in_container(container, _RAW_REQUEST, raw.hex())
    assert answer["status"] == status, answer
    assert answer["content_type"] == "application/json", answer
    said = json.loads(answer["body"])
    assert said["error"] == error and said["message"]
    _left_as_it_was(container)


def test_while_the_app_is_down_nginx_says_so_in_json_and_when_to_ask_again(
    container: Container, hub: Build
) -> None:
    container.run(["systemctl", "stop", *APP_UNITS])
    try:
        answer = container.request("GET", f"{WEB}/api/devices")
        assert answer.status == 503
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["retry-after"] == "10"
        assert answer.json()["error"] == "unavailable"
    finally:
        container.run(["systemctl", "start", *APP_SOCKETS])
    assert healthy_version(container) == hub.version
    _left_as_it_was(container)


def test_one_client_cannot_take_every_connection(container: Container, hub: Build) -> None:
    seen = _in_container(container, _HELD_CONNECTIONS, NGINX_CONNECTIONS_PER_CLIENT)
    # Past its share, the client is told in JSON; another client is served meanwhile,
    # and the first is served again once it lets go.
    assert seen["over"]["status"] == 429, seen
    assert json.loads(seen["over"]["body"])["error"] == "too_many_connections"
    assert seen["another_client"] == 200
    assert seen["after"] == 200
    _left_as_it_was(container)


def test_clients_that_stall_are_cut_off_in_time(container: Container, hub: Build) -> None:
    # A request's headers, or its body, that stop coming: nginx closes the connection
    # after its timeout (client_header_timeout 10 s, client_body_timeout 20 s).
    seen = _in_container(container, _STALLED)
    assert 9 < seen["headers"] < 13, seen
    assert 19 < seen["body"] < 23, seen
    _left_as_it_was(container)


# One raw request to nginx; its status line, Content-Type and body (read to the end: the
# request asks nginx to close, or is one nginx closes after).
_RAW_REQUEST = r"""
import json, socket, sys
connection = socket.create_connection(("127.0.0.1", 8780), timeout=30)
connection.sendall(bytes.fromhex(sys.argv[1]))
received = b""
while chunk := connection.recv(65536):
    received += chunk
head, _, body = received.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
print(json.dumps({
    "status": int(lines[0].split()[1]),
    "content_type": headers.get("Content-Type"),
    "body": body.decode("utf-8", "replace"),
}))
"""

# N heartbeats whose bodies never come, from 127.0.0.1; then one more from there, one
# from 127.0.0.2, and one from 127.0.0.1 once the N are closed.
_HELD_CONNECTIONS = r"""
import http.client, json, socket, sys
def heartbeat_headers(source):
    connection = socket.create_connection(("127.0.0.1", 8780), timeout=30,
                                          source_address=(source, 0))
    connection.sendall(b"POST /api/devices/pico-held/heartbeat HTTP/1.1\r\nHost: hub\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    return connection
def get(source):
    connection = http.client.HTTPConnection("127.0.0.1", 8780, timeout=30,
                                            source_address=(source, 0))
    connection.request("GET", "/api/devices")
    answer = connection.getresponse()
    body = answer.read().decode()
    connection.close()
    return {"status": answer.status, "body": body}
import time
held = [heartbeat_headers("127.0.0.1") for _ in range(int(sys.argv[1]))]
# nginx counts a held connection once it has read its headers, which a busy machine may
# not have done for the last few when the next request arrives: ask until it has.
deadline = time.monotonic() + 10
while (over := get("127.0.0.1"))["status"] != 429 and time.monotonic() < deadline:
    time.sleep(0.1)
another = get("127.0.0.2")["status"]
for connection in held:
    connection.close()
deadline = time.monotonic() + 10
while (after := get("127.0.0.1")["status"]) == 429 and time.monotonic() < deadline:
    time.sleep(0.1)
print(json.dumps({"over": over, "another_client": another, "after": after}))
"""

# How long nginx keeps a connection whose headers, or whose body, stop coming.
_STALLED = r"""
import json, socket, threading, time
took = {}
def stall(name, data):
    connection = socket.create_connection(("127.0.0.1", 8780), timeout=60)
    started = time.monotonic()
    connection.sendall(data)
    try:
        while connection.recv(65536):
            pass
    except OSError:
        pass
    took[name] = time.monotonic() - started
threads = [
    threading.Thread(target=stall, args=("headers", b"GET / HTTP/1.1\r\nHost: hub\r\n")),
    threading.Thread(target=stall, args=("body", b"POST /api/devices/pico-x/heartbeat "
        b"HTTP/1.1\r\nHost: hub\r\nContent-Length: 100\r\n\r\n{")),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(took))
"""
