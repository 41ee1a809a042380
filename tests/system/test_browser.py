"""The frontend in a real browser: Debian's headless Chromium, driven by Playwright, loads
the pages nginx serves in the booted container and shows the simulated board."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from picohub_release.build import Build
from tests.conftest import SOURCE, need
from tests.system.container import Container
from tests.system.journeys import apt_install, healthy_version, heartbeat

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = SOURCE / "tests" / "artifacts"
WEB = "http://127.0.0.1:8780"
# No network beyond this machine: keep Chromium from reaching for Google's services.
QUIET_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
]


@pytest.fixture(scope="module")
def page(
    container: Container, release_a: Build, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    need(CHROMIUM.exists(), "needs Debian's chromium (run packaging/dev/bootstrap)")

    apt_install(container, release_a)
    healthy_version(container)
    # The browser runs in the container's network namespace, so its 127.0.0.1 is the
    # container's; Playwright talks to it over pipes, which cross namespaces.
    wrapper = tmp_path_factory.mktemp("browser") / "chromium-in-container"
    wrapper.write_text(
        f'#!/bin/sh\nexec nsenter --net=/proc/{container.leader}/ns/net -- {CHROMIUM} "$@"\n'
    )
    wrapper.chmod(0o755)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(wrapper), args=QUIET_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 700})
        finally:
            browser.close()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_the_devices_page_shows_the_simulated_board(container: Container, page: Page) -> None:
    status, manifest = container.http("GET", f"{WEB}/api/firmware/manifest")
    assert status == 200
    assert heartbeat(container, "pico-lab", "0.0.1")[0] == 200
    assert heartbeat(container, "pico-hall", manifest["firmware_version"])[0] == 200

    page.goto(f"{WEB}/#devices")
    lab = page.locator('tr[data-device="pico-lab"]')
    lab.wait_for(timeout=15000)
    assert "0.0.1" in lab.inner_text() and "update available" in lab.inner_text()
    hall = page.locator('tr[data-device="pico-hall"]')
    assert "current" in hall.inner_text()
    _screenshot(page, "devices.png")


def test_the_devices_page_shows_each_boards_update_and_a_halted_rollout(
    container: Container, page: Page
) -> None:
    status, manifest = container.http("GET", f"{WEB}/api/firmware/manifest")
    assert status == 200
    assert heartbeat(container, "pico-canary", "0.0.1")[0] == 200
    # The first board to ask for a newer image is its canary; its boot ROM reverts it.
    offered = container.request("GET", f"{WEB}/api/firmware/manifest?device=pico-canary")
    assert offered.status == 200
    reverted = {
        "firmware_version": "0.0.1",
        "slot": "a",
        "boot_type": "normal",
        "bought": True,
        "ota": {"sha256": manifest["sha256"], "result": "reverted", "reason": "self-test failed"},
    }
    status, _ = container.http("POST", f"{WEB}/api/devices/pico-canary/heartbeat", reverted)
    assert status == 200

    page.goto(f"{WEB}/#devices")
    page.reload()  # the same page as the test before: load the listing again
    rollout = page.locator('#rollout-state[data-state="halted"]')
    rollout.wait_for(timeout=15000)
    assert "pico-canary" in rollout.inner_text() and "self-test failed" in rollout.inner_text()
    canary = page.locator('tr[data-device="pico-canary"] [data-ota]')
    assert canary.get_attribute("data-ota") == "reverted"
    _screenshot(page, "devices-rollout-halted.png")


def test_the_system_page_shows_the_installed_packages(
    container: Container, page: Page, release_a: Build
) -> None:
    page.goto(f"{WEB}/#system")
    table = page.locator("#packages-table tbody")
    table.locator("tr").nth(2).wait_for(timeout=15000)
    text = table.inner_text()
    for package in ("picohub", "picohub-web", "picohub-firmware"):
        assert f"{package}\t{release_a.version}" in text
    _screenshot(page, "system.png")


def test_the_firmware_page_says_the_image_is_a_test_image(page: Page) -> None:
    page.goto(f"{WEB}/#firmware")
    note = page.locator("#firmware-note")
    page.wait_for_function("document.getElementById('firmware-note').textContent !== 'Loading…'")
    assert "test image" in note.inner_text()
    _screenshot(page, "firmware.png")


def test_the_system_page_names_the_fleet_server_that_manages_the_hub(
    container: Container, page: Page
) -> None:
    container.sh(
        "cp /etc/picohub/update.conf /root/update.conf && printf '[fleet]\\nfleet = hawkbit"
        "\\nhawkbit_url = https://hawkbit.example.org\\n' > /etc/picohub/update.conf"
    )
    try:
        page.goto(f"{WEB}/#system")
        page.reload()
        note = page.locator("#fleet-note")
        note.wait_for(state="visible", timeout=15000)
        assert "managed by hawkBit at https://hawkbit.example.org" in note.inner_text()
        assert "fleet server" in page.locator("#automatic-rules").inner_text()
        _screenshot(page, "system-fleet.png")
    finally:
        container.sh("mv /root/update.conf /etc/picohub/update.conf")


# One ended run, as the updater records it (its own code, installed in the container).
_ROLLED_BACK_RUN = (
    "from pathlib import Path; from picohub.update.history import Entry, History; "
    "History(Path('/var/lib/picohub-update/history.json')).append(Entry("
    "'2026-12-02T03:00:00Z', 'network', 'update', '0.9.0', '0.9.1', 'rolled-back', "
    "'rolled back to 0.9.0 because /healthz answered 503: broken on purpose', 95.0, 4096))"
)


# An automatic run GitHub turned away, the third in a row (the updater's code).
_FAILED_CHECK = (
    "from datetime import UTC, datetime, timedelta; from pathlib import Path; "
    "from picohub.update.auto import AutomaticRun; "
    "later = (datetime.now(UTC) + timedelta(minutes=20)).isoformat(); "
    "Path('/var/lib/picohub-update/automatic.json').write_text(__import__('json').dumps("
    "AutomaticRun('2026-12-02T03:00:00Z', 'network', 'error', "
    "'https://github.com/... answered 429: rate limit reached', None, 3, later).to_json()))"
)


def test_every_view_shows_a_hold_and_the_system_page_the_history(
    container: Container, page: Page
) -> None:
    container.run(["picohub-update", "hold", "--until", "1d"])
    container.run(["python3", "-c", _ROLLED_BACK_RUN])
    container.run(["python3", "-c", _FAILED_CHECK])
    try:
        page.goto(f"{WEB}/#devices")
        banner = page.locator("#banner")
        banner.wait_for(state="visible", timeout=15000)
        assert "Automatic updates are held until" in banner.inner_text()
        page.goto(f"{WEB}/#system")
        row = page.locator('#history-table tbody tr[data-result="rolled-back"]')
        row.wait_for(timeout=15000)
        assert "the network" in row.inner_text() and "0.9.1" in row.inner_text()
        assert "broken on purpose" in page.locator("#history-table").inner_text()
        assert page.locator("#automatic-hold").is_visible()
        last = page.locator("#automatic-last").inner_text()
        assert "answered 429: rate limit reached" in last
        assert "The next automatic check is after" in last and "(3 failed in a row)" in last
        _screenshot(page, "system-automatic.png")
    finally:
        container.run(["picohub-update", "release-hold"])
        container.run(["rm", "-f", "/var/lib/picohub-update/automatic.json"])


# The last check's answer: release 9.9.9, phased at 20%, this hub in bucket 42 (the
# updater's code writes it as check does).
_PHASED_CHECK = (
    "import json; from pathlib import Path; from picohub.files import write_atomically; "
    "from picohub.update.available import Available; from picohub.update.check import Change; "
    "from picohub.update.phasing import Phasing; "
    "write_atomically(Path('/var/lib/picohub-update/available.json'), json.dumps(Available("
    "'9.9.9', (Change('picohub', None, '9.9.9'),), None, '2026-12-06T03:00:00Z', "
    "phasing=Phasing(20, 42)).to_json()))"
)


def test_the_system_page_says_when_a_phased_release_reaches_this_hub(
    container: Container, page: Page
) -> None:
    container.run(["python3", "-c", _PHASED_CHECK])
    try:
        page.goto(f"{WEB}/#system")
        phase = page.locator("#update-phasing")
        phase.wait_for(state="visible", timeout=15000)
        said = phase.inner_text()
        assert "not this hub's turn yet (bucket 42, the release is at 20%)" in said
        assert "this hub's turn comes at 43%" in said and "Install takes it now" in said
        assert "Release 9.9.9 is available" in page.locator("#update-note").inner_text()
        assert page.locator("#update-offer").is_visible()  # a person may still install it
    finally:
        container.run(["rm", "-f", "/var/lib/picohub-update/available.json"])
