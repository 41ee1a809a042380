"""Upgrades of picohub on a booted trixie (see test_upgrade), bound in the order they run."""

from tests.system import test_upgrade as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

installed_a = journey.installed_a
test_unpack_keeps_the_old_version_serving_and_configure_restarts_it_once = (
    journey.test_unpack_keeps_the_old_version_serving_and_configure_restarts_it_once
)
test_apt_install_of_a_newer_release_upgrades_in_place = (
    journey.test_apt_install_of_a_newer_release_upgrades_in_place
)
