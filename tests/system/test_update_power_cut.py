"""An update cut off in the middle. Its transient unit killed or stopped: the unit's
after-run puts back the release from before the update, with no reboot. A power cut: dpkg
is killed with SIGKILL mid-unpack, the container boots again, and picohub-recover.service
finishes the install before the app starts. Either way the system ends healthy on one
consistent release."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.settings import RELEASE_PACKAGES
from picohub_release.build import Build
from tests.conftest import build_release, next_version
from tests.system.conftest import hub_on
from tests.system.container import Container, wait_for
from tests.system.journeys import device_ids, healthy_version

# While this file exists the release's preinst waits: dpkg is then mid-unpack. It is in
# /run, a tmpfs, so it is gone after the reboot.
HANG = "/run/picohub-test-hang"
HANGING = "/run/picohub-test-hanging"
# While this one exists the release's prerm waits once, as dpkg replaces it by an older
# release (a rollback); it runs again unhindered.
HANG_LEAVING = "/run/picohub-test-hang-leaving"
HANGING_LEAVING = "/run/picohub-test-hanging-leaving"


def _preinst_waits(tree: Path) -> None:
    (tree / "debian" / "picohub.preinst").write_text(
        "#!/bin/sh\nset -e\n"
        f'if [ "$1" = upgrade ] && [ -e {HANG} ]; then\n'
        f"    touch {HANGING}\n"
        f"    while [ -e {HANG} ]; do sleep 0.1; done\n"
        "fi\n#DEBHELPER#\n"
    )
    (tree / "debian" / "picohub.prerm").write_text(
        "#!/bin/sh\nset -e\n"
        f'if [ "$1" = upgrade ] && [ -e {HANG_LEAVING} ] && [ ! -e {HANGING_LEAVING} ]; then\n'
        f"    touch {HANGING_LEAVING}\n"
        f"    while [ -e {HANG_LEAVING} ]; do sleep 0.1; done\n"
        "fi\n#DEBHELPER#\n"
    )


@pytest.fixture(scope="module")
def interrupted_release(release_a: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    version = next_version(release_a.version, 8)
    return build_release(tmp_path_factory, "preinst-waits", version, _preinst_waits)


@pytest.fixture(scope="module")
def hub(
    container: Container,
    release_a: Build,
    interrupted_release: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Build]:
    with hub_on(container, release_a, [interrupted_release], tmp_path_factory) as hub:
        yield hub


def _dpkg_status(container: Container, package: str) -> str:
    return container.run(
        ["dpkg-query", "--showformat=${db:Status-Status}", "--show", package], check=False
    ).stdout


def _update_status(container: Container) -> dict[str, str]:
    status: dict[str, str] = json.loads(
        container.run(["picohub-update", "status", "--json"]).stdout
    )
    return status


def _power_cut_and_boot(container: Container, version: str) -> dict[str, str]:
    """Cut the power, boot again; wait until ``version`` answers and the recovery's
    health check has passed. The update's status then."""
    container.power_cut()
    container.boot()
    assert healthy_version(container, timeout=300) == version
    status: dict[str, str] = wait_for(
        lambda: (s := _update_status(container))["phase"] != "installing" and s,
        timeout=300,
        what="the recovery's health check to finish",
    )
    assert status["phase"] == "done", status
    return status


def _one_release(container: Container, version: str) -> None:
    """Every package installed, all at ``version``, dpkg idle."""
    for package in RELEASE_PACKAGES:
        assert _dpkg_status(container, package) == "installed", package
    versions = container.run(
        ["dpkg-query", "--showformat=${Version}\\n", "--show", *RELEASE_PACKAGES]
    ).stdout.split()
    assert versions == [version] * len(RELEASE_PACKAGES)
    assert container.run(["dpkg", "--audit"]).stdout == ""


def _cut_off_mid_unpack(container: Container, how: list[str]) -> dict[str, str]:
    """Start an update, cut its unit off with ``how`` while dpkg is mid-unpack, and wait
    for the unit to be gone; the update's status then."""
    _held(container, ["picohub-update", "apply"], HANG, HANGING, "the release's preinst")
    assert _dpkg_status(container, "picohub") == "half-installed"
    # A backstop against a run that hangs, and what undoes a run cut off.
    assert container.unit_property("picohub-update.service", "RuntimeMaxUSec") == "4h"
    container.run(how)
    container.run(["rm", "-f", HANG, HANGING])
    return _unit_gone(container)


def _unit_gone(container: Container) -> dict[str, str]:
    """Wait until the update's unit (with its after-run) is gone; the status then."""
    wait_for(
        lambda: (
            container.run(
                ["systemctl", "is-active", "picohub-update.service"], check=False
            ).stdout.strip()
            in ("inactive", "failed")
        ),
        timeout=300,
        what="the update's unit to be gone",
    )
    return _update_status(container)


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (["systemctl", "kill", "--signal=SIGKILL", "picohub-update.service"],
         "it was killed by signal KILL"),
        (["systemctl", "stop", "--no-block", "picohub-update.service"],
         "it was killed by signal TERM"),
    ],
    ids=["killed", "stopped"],
)  # fmt: skip
def test_an_update_cut_off_puts_back_the_release_from_before_it_without_a_reboot(
    container: Container, hub: Build, interrupted_release: Build, how: list[str], said: str
) -> None:
    boot = container.run(["cat", "/proc/sys/kernel/random/boot_id"]).stdout
    status = _cut_off_mid_unpack(container, how)
    assert status["phase"] == "rolled-back", status
    assert status["message"] == (
        f"running {hub.version}: the update to {interrupted_release.version} stopped before "
        f"it finished ({said})"
    )
    _one_release(container, hub.version)
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]  # the data survived
    assert container.run(["cat", "/proc/sys/kernel/random/boot_id"]).stdout == boot


def test_a_power_cut_mid_unpack_recovers_at_the_next_boot(
    container: Container, hub: Build, interrupted_release: Build
) -> None:
    container.run(["touch", HANG])
    container.run(["picohub-update", "apply"])  # returns once the transient unit runs
    wait_for(
        lambda: container.run(["test", "-e", HANGING], check=False).returncode == 0,
        timeout=300,
        what="dpkg to reach the release's preinst",
    )
    # dpkg is mid-unpack: the old prerm and the new preinst have run and picohub is marked
    # half-installed; the new files would come next.
    assert _dpkg_status(container, "picohub") == "half-installed"
    assert _update_status(container)["phase"] == "installing"

    # The power goes: SIGKILL to dpkg, to the updater and to everything else at once.
    status = _power_cut_and_boot(container, interrupted_release.version)
    assert "recovered from an interrupted update" in status["message"]
    # One consistent release: every package installed, all of the same version, dpkg idle.
    _one_release(container, interrupted_release.version)
    assert device_ids(container) == ["pico-cellar"]  # the data survived

    # The app started only after the recovery had finished.
    recovered = container.unit_property("picohub-recover.service", "ExecMainExitTimestampMonotonic")
    started = container.unit_property("picohub.service", "ExecMainStartTimestampMonotonic")
    assert container.unit_property("picohub-recover.service", "Result") == "success"
    assert 0 < int(recovered) <= int(started), (recovered, started)


def test_a_power_cut_during_a_manual_dpkg_run_is_mended_from_the_cache(
    container: Container, hub: Build, interrupted_release: Build
) -> None:
    # Not an update of the updater's: root reinstalls the package by hand, and the power
    # goes mid-unpack. dpkg --configure -a cannot finish a half-installed package; the
    # boot installs the hub's release again from the cache.
    assert _update_status(container)["phase"] == "done"
    deb = container.put(interrupted_release.deb("picohub"), "/root/manual")
    container.run(["touch", HANG])
    container.run(["systemd-run", "--unit=manual-dpkg", "--collect", "dpkg", "-i", deb])
    wait_for(
        lambda: container.run(["test", "-e", HANGING], check=False).returncode == 0,
        timeout=120,
        what="dpkg to reach the package's preinst",
    )
    assert _dpkg_status(container, "picohub") == "half-installed"
    cursor = container.journal_cursor()
    _power_cut_and_boot(container, interrupted_release.version)
    log = container.journal_messages(cursor, _SYSTEMD_UNIT="picohub-recover.service")
    assert any("recovering: dpkg left picohub half-installed" in line for line in log), log
    assert _dpkg_status(container, "picohub") == "installed"
    assert container.run(["dpkg", "--audit"]).stdout == ""
    assert device_ids(container) == ["pico-cellar"]


def test_a_clean_boot_has_nothing_to_recover(container: Container, hub: Build) -> None:
    cursor = container.journal_cursor()
    container.run(["systemctl", "start", "picohub-recover.service"])
    log = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert any(line.endswith("nothing to recover") for line in log), log
    assert _update_status(container)["phase"] == "done"  # untouched


def _held(container: Container, argv: list[str], hang: str, hanging: str, where: str) -> None:
    """Run ``argv`` with the file ``hang`` in place; wait until a maintainer script waits
    on it (it made ``hanging``)."""
    container.run(["touch", hang])
    container.run(argv)
    wait_for(
        lambda: container.run(["test", "-e", hanging], check=False).returncode == 0,
        timeout=300,
        what=f"dpkg to reach {where}",
    )


def _rollback_held_in_prerm(container: Container) -> None:
    argv = ["picohub-update", "rollback"]
    _held(container, argv, HANG_LEAVING, HANGING_LEAVING, "the prerm of the release it leaves")


def test_a_rollback_cut_off_is_finished_without_a_reboot(
    container: Container, hub: Build, interrupted_release: Build
) -> None:
    # Going back is what the run was for: after-run puts back its goal, the older release.
    assert healthy_version(container) == interrupted_release.version
    _rollback_held_in_prerm(container)
    cursor = container.journal_cursor()
    container.run(["systemctl", "kill", "--signal=SIGKILL", "picohub-update.service"])
    status = _unit_gone(container)
    container.run(["rm", "-f", HANG_LEAVING, HANGING_LEAVING])
    log = container.journal_messages(cursor, SYSLOG_IDENTIFIER="picohub-update")
    assert status["phase"] == "rolled-back", "\n".join(log)
    assert status["message"] == (
        f"running {hub.version}: the rollback to {hub.version} stopped before it finished "
        "(it was killed by signal KILL)"
    )
    _one_release(container, hub.version)
    assert healthy_version(container) == hub.version
    assert device_ids(container) == ["pico-cellar"]


def test_a_power_cut_during_a_rollback_finishes_it_at_the_next_boot(
    container: Container, hub: Build, interrupted_release: Build
) -> None:
    # The newer release again, from the cache (the server went with the earlier power cut).
    cached = f"/var/cache/picohub/releases/{interrupted_release.version}"
    container.sh(f"dpkg -i {cached}/*.deb")
    assert healthy_version(container) == interrupted_release.version
    _rollback_held_in_prerm(container)
    # The goal, the older release, needs the newer one's archive first (see after-run).
    status = _power_cut_and_boot(container, hub.version)
    assert "recovered from an interrupted update" in status["message"], status
    _one_release(container, hub.version)
    assert device_ids(container) == ["pico-cellar"]
