"""All three packages on a booted bookworm: nginx serves the frontend and proxies the API,
a simulated Pico board fetches its firmware, and picohub-web and picohub-firmware install,
upgrade and go away without disturbing the rest."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from picohub.settings import RELEASE_PACKAGES
from picohub_release.build import Build
from tests.system.container import Container
from tests.system.journeys import apt_install, healthy_version

WEB = "http://127.0.0.1:8780"
SITE_LINK = "/etc/nginx/sites-enabled/picohub"


@pytest.fixture(scope="module")
def installed(container: Container, release_a: Build) -> Build:
    apt_install(container, release_a)  # all three; apt brings nginx from the archive
    assert healthy_version(container) == release_a.version
    return release_a


def test_nginx_serves_the_frontend_with_hashed_assets_and_cache_headers(
    container: Container, installed: Build
) -> None:
    page = container.request("GET", f"{WEB}/")
    assert page.status == 200
    assert page.headers["cache-control"] == "no-cache"
    html = page.content.decode()
    scripts = re.findall(r'src="(/assets/app\.[0-9a-f]{12}\.js)"', html)
    styles = re.findall(r'href="(/assets/style\.[0-9a-f]{12}\.css)"', html)
    assert len(scripts) == 1 and len(styles) == 1, html
    script = container.request("GET", f"{WEB}{scripts[0]}")
    assert script.status == 200
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    # The name is the content's hash: a browser can never pair a page with other assets.
    assert scripts[0].split(".")[1] == hashlib.sha256(script.content).hexdigest()[:12]
    assert container.request("GET", f"{WEB}/assets/app.js").status == 404


def test_nginx_proxies_the_api_and_health(container: Container, installed: Build) -> None:
    status, body = container.http("GET", f"{WEB}/healthz")
    assert status == 200 and body["version"] == installed.version
    status, body = container.http("GET", f"{WEB}/api/system")
    assert status == 200
    assert body["packages"] == dict.fromkeys(RELEASE_PACKAGES, installed.version)


def test_nginx_refuses_a_bundle_over_the_limit_saying_what_to_do(
    container: Container, installed: Build
) -> None:
    # Only the headers go out: nginx answers from the Content-Length alone.
    answer = container.run(["python3", "-c", _ANNOUNCE_BIG_BUNDLE]).stdout
    status, content_type, body = answer.split("\n", 2)
    assert (status, content_type) == ("413", "application/json")
    said = json.loads(body)
    assert said["error"] == "payload_too_large"
    assert "at most 64 MiB" in said["message"]
    assert "sudo picohub-update apply --bundle FILE" in said["message"]


_ANNOUNCE_BIG_BUNDLE = r"""
import http.client
connection = http.client.HTTPConnection("127.0.0.1", 8780, timeout=10)
connection.putrequest("POST", "/api/system/update/bundle")
connection.putheader("Content-Type", "application/x-tar")
connection.putheader("Content-Length", str(64 * 1024 * 1024 + 1))
connection.endheaders()
answer = connection.getresponse()
print(answer.status, answer.getheader("Content-Type"), answer.read().decode(), sep="\n")
"""


def test_a_pico_board_fetches_its_firmware_in_two_ranged_halves(
    container: Container, installed: Build
) -> None:
    status, manifest = container.http("GET", f"{WEB}/api/firmware/manifest")
    assert status == 200
    assert manifest["board"] == "pico2_w" and manifest["family_id"] == "0xe48bff59"
    assert manifest["package_version"] == installed.version
    size, half = manifest["size"], manifest["size"] // 2
    url = f"{WEB}/api/firmware/image"
    first = container.request("GET", url, headers={"Range": f"bytes=0-{half - 1}"})
    second = container.request("GET", url, headers={"Range": f"bytes={half}-"})
    assert (first.status, second.status) == (206, 206)
    assert second.headers["content-range"] == f"bytes {half}-{size - 1}/{size}"
    image = first.content + second.content
    assert len(image) == size
    assert hashlib.sha256(image).hexdigest() == manifest["sha256"]
    assert first.headers["etag"].strip('"') == manifest["sha256"]
    again = container.request("GET", url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status == 304

    # The board reports the version it now runs; another board lags behind.
    for board, version in (("pico-new", manifest["firmware_version"]), ("pico-old", "0.0.1")):
        body = {"firmware_version": version, "readings": {"rssi": -60}}
        assert container.http("POST", f"{WEB}/api/devices/{board}/heartbeat", body)[0] == 200
    status, listing = container.http("GET", f"{WEB}/api/devices")
    behind = {device["id"]: device["behind"] for device in listing["devices"]}
    assert behind == {"pico-new": False, "pico-old": True}


def test_upgrading_the_firmware_alone_does_not_restart_the_app(
    container: Container, installed: Build, release_b: Build
) -> None:
    pid = container.unit_property("picohub.service", "MainPID")
    deb = container.put(release_b.deb("picohub-firmware"), "/root/b")
    container.run(["apt-get", "install", "--yes", deb])
    status, manifest = container.http("GET", f"{WEB}/api/firmware/manifest")
    assert status == 200 and manifest["package_version"] == release_b.version
    assert container.unit_property("picohub.service", "MainPID") == pid


def test_removing_the_web_package_leaves_nginx_and_its_other_sites(
    container: Container, installed: Build
) -> None:
    container.run(["apt-get", "remove", "--yes", "picohub-web"])
    assert container.run(["systemctl", "is-active", "nginx.service"]).stdout.strip() == "active"
    assert container.request("GET", "http://127.0.0.1:80/").status == 200  # Debian's default
    assert container.request("GET", f"{WEB}/").status == 0
    assert container.run(["test", "-e", SITE_LINK], check=False).returncode == 1


def test_a_configuration_nginx_rejects_fails_the_install_and_leaves_nginx_serving(
    container: Container, installed: Build
) -> None:
    container.sh("echo 'this is not nginx syntax' > /etc/nginx/conf.d/broken.conf")
    deb = container.put(installed.deb("picohub-web"), "/root/a")
    result = container.run(["apt-get", "install", "--yes", deb], check=False)
    assert result.returncode != 0
    assert "picohub-web: nginx rejects its configuration" in result.stderr + result.stdout
    assert container.run(["systemctl", "is-active", "nginx.service"]).stdout.strip() == "active"
    assert container.request("GET", "http://127.0.0.1:80/").status == 200
    assert container.run(["test", "-e", SITE_LINK], check=False).returncode == 1

    container.run(["rm", "/etc/nginx/conf.d/broken.conf"])
    container.run(["dpkg", "--configure", "-a"])
    assert container.request("GET", f"{WEB}/").status == 200  # re-enabled after removal


def test_without_the_firmware_package_the_endpoints_say_so(
    container: Container, installed: Build
) -> None:
    container.run(["apt-get", "remove", "--yes", "picohub-firmware"])
    status, body = container.http("GET", f"{WEB}/api/firmware/manifest")
    assert status == 404 and "picohub-firmware" in body["message"]
    assert container.http("GET", f"{WEB}/api/firmware/image")[0] == 404


def test_a_site_changed_locally_to_the_old_proxy_is_kept_and_said(
    container: Container, installed: Build
) -> None:
    site = "/etc/nginx/sites-available/picohub"
    original = container.run(["cat", site]).stdout
    container.sh(
        "sed -i -e 's#http://unix:/run/picohub/http.sock:#http://127.0.0.1:8080#'"
        f" -e 's#http://unix:/run/picohub/http.sock#http://127.0.0.1:8080#' {site}"
    )
    try:
        deb = container.put(installed.deb("picohub-web"), "/root/a")
        result = container.run(["apt-get", "install", "--yes", "--reinstall", deb])
        said = result.stdout + result.stderr
        assert f"picohub-web: {site} does not proxy to /run/picohub/http.sock" in said
        assert "127.0.0.1:8080" in container.run(["cat", site]).stdout  # the admin's, kept
        assert container.http("GET", f"{WEB}/healthz")[0] == 200  # and it still serves
    finally:
        container.run(["sh", "-ec", f'cat > "{site}"'], input_text=original)
        container.run(["systemctl", "reload", "nginx.service"])
