"""The update page in a real browser: Debian's headless Chromium, driven by Playwright,
logs in, checks, presses Install, and follows the update through the restart of the app
underneath it until the page shows the new release. Screenshots of the page before,
during and after the update go to tests/artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from picohub_release.build import Build
from tests.conftest import need
from tests.system.conftest import point_updater_at
from tests.system.container import Container
from tests.system.journeys import APP_UNITS, admin_password, apt_install, healthy_version
from tests.system.test_browser import ARTIFACTS, CHROMIUM, QUIET_FLAGS, WEB

STATUS = "/var/lib/picohub-update/status.json"
# An update downloads, installs three packages, restarts the app and waits for its health.
UPDATE_TIMEOUT_MS = 180_000
PAGE_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build, github: str) -> Build:
    """Release A installed (all three packages); the updater asks the local GitHub-like
    server, which offers A and B (the latest)."""
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    point_updater_at(container, github)
    return release_a


@pytest.fixture(scope="module")
def browser(container: Container, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    need(CHROMIUM.exists(), "needs Debian's chromium (run packaging/dev/bootstrap)")
    # As in test_browser: Chromium runs in the container's network namespace, so its
    # 127.0.0.1 is the container's nginx; Playwright talks to it over pipes.
    wrapper = tmp_path_factory.mktemp("browser") / "chromium-in-container"
    wrapper.write_text(
        f'#!/bin/sh\nexec nsenter --net=/proc/{container.leader}/ns/net -- {CHROMIUM} "$@"\n'
    )
    wrapper.chmod(0o755)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(wrapper), args=QUIET_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, hub: Build) -> Iterator[Page]:
    """A page of its own (its own cookies: nobody is logged in)."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_an_administrator_installs_the_new_release_through_the_restart(
    container: Container, page: Page, hub: Build, release_b: Build
) -> None:
    old, new = hub.version, release_b.version
    page.goto(f"{WEB}/#system")
    expect(page.locator("#running-version")).to_have_text(old, timeout=PAGE_TIMEOUT_MS)

    # The page is open to all; its update actions are not, until the administrator logs in.
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#check-button")).to_be_hidden()
    page.fill("#password", "not the password")
    page.click("#login-button")
    expect(page.locator("#login-message")).to_have_text(re.compile("wrong password", re.I))
    page.fill("#password", admin_password(container))
    page.click("#login-button")
    expect(page.locator("#logout-button")).to_be_visible()

    page.click("#check-button")
    install = page.locator("#install-button")
    expect(install).to_have_text(f"Install {new}", timeout=60_000)
    expect(page.locator("#update-note")).to_contain_text(f"Release {new} is available")
    for package in ("picohub", "picohub-web", "picohub-firmware"):
        row = page.locator(f'#changes-table tr[data-package="{package}"] td')
        expect(row).to_have_text([package, old, new])
    screenshot(page, "update-before.png")

    before = container.unit_property("picohub.service", "InvocationID")
    # A mark in this very document: it must still be there at the end (no reload).
    page.evaluate("window.picohubTestMark = 'same page'")
    install.click()
    progress = page.locator("#update-progress")
    expect(progress).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    # Past "starting": the updater itself reports (installing lasts seconds: apt, restart).
    expect(page.locator("#update-phase")).to_have_text(
        re.compile("Downloading|Installing"), timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#update-message")).not_to_be_empty()
    screenshot(page, "update-during.png")

    expect(page.locator("#update-result")).to_have_text(
        f"Updated to {new}", timeout=UPDATE_TIMEOUT_MS
    )
    expect(page.locator("#running-version")).to_have_text(new, timeout=PAGE_TIMEOUT_MS)
    expect(progress).to_be_hidden()
    for package in ("picohub", "picohub-web", "picohub-firmware"):
        row = page.locator(f'#packages-table tr[data-package="{package}"] td')
        expect(row).to_have_text([package, new])
    # What the last check offered is installed now: nothing more to install.
    expect(install).to_be_hidden()
    expect(page.locator("#update-note")).to_contain_text("Up to date")
    screenshot(page, "update-after.png")

    # The app was restarted underneath the page, which carried on without a reload.
    assert container.unit_property("picohub.service", "InvocationID") != before
    assert page.evaluate("window.picohubTestMark") == "same page"
    # A reload shows the same state, and the session outlived the restart.
    page.reload()
    expect(page.locator("#update-result")).to_have_text(
        f"Updated to {new}", timeout=PAGE_TIMEOUT_MS
    )
    expect(page.locator("#logout-button")).to_be_visible()


def _write_status(container: Container, **fields: Any) -> None:
    status = {"message": "", "progress": None, "installed": None, "target": None, **fields}
    status["updated_at"] = "2025-01-01T00:00:00Z"
    script = f'mkdir -p "$(dirname {STATUS})"; cat > "{STATUS}"'
    container.run(["sh", "-ec", script], input_text=json.dumps(status))


def _set_app(container: Container, action: str) -> None:
    container.run(["systemctl", action, *APP_UNITS])


def test_a_page_loaded_mid_update_follows_it_while_the_app_is_away(
    container: Container, page: Page, hub: Build
) -> None:
    """Not logged in (reading is open to all): a page loaded while an update downloads
    shows its progress; while the app is gone it says the hub is restarting and carries
    on; then it shows how the update ended."""
    saved = container.run(["cat", STATUS], check=False).stdout
    try:
        _write_status(
            container, phase="downloading", message="fetching release 9.9.9", progress=0.42
        )
        page.goto(f"{WEB}/#system")
        expect(page.locator("#update-phase")).to_have_text("Downloading", timeout=PAGE_TIMEOUT_MS)
        expect(page.locator("#update-message")).to_have_text("Fetching release 9.9.9")
        expect(page.locator("#update-bar")).to_have_attribute("value", "0.42")
        expect(page.locator("#update-percent")).to_have_text("42 %")
        expect(page.locator("#update-result")).to_be_hidden()

        _set_app(container, "stop")
        expect(page.locator("#update-connection")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        expect(page.locator("#update-progress")).to_be_visible()
        screenshot(page, "update-restarting.png")
        _write_status(
            container,
            phase="rolled-back",
            message="rolled back to 1.0.0 because the update to 9.9.9 failed: test",
        )
        _set_app(container, "start")
        result = page.locator("#update-result")
        expect(result).to_have_text(
            "Rolled back to 1.0.0 because the update to 9.9.9 failed: test",
            timeout=PAGE_TIMEOUT_MS,
        )
        expect(page.locator("#update-connection")).to_be_hidden()
        expect(page.locator("#update-progress")).to_be_hidden()
    finally:
        _set_app(container, "start")
        if saved:
            container.run(["sh", "-ec", f'cat > "{STATUS}"'], input_text=saved)
        else:
            container.run(["rm", "-f", STATUS])
