"""Install, remove, reinstall and purge picohub on a booted trixie (see test_lifecycle).

The steps are a journey: they are bound here in the order they run.
"""

from tests.system import test_lifecycle as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

test_apt_install_on_a_clean_system = journey.test_apt_install_on_a_clean_system
test_registry_accepts_a_heartbeat_and_refuses_bad_input = (
    journey.test_registry_accepts_a_heartbeat_and_refuses_bad_input
)
test_remove_stops_and_disables_but_keeps_data = (
    journey.test_remove_stops_and_disables_but_keeps_data
)
test_install_again_after_removal_finds_the_devices = (
    journey.test_install_again_after_removal_finds_the_devices
)
test_purge_leaves_nothing_behind = journey.test_purge_leaves_nothing_behind
test_install_after_purge_starts_empty = journey.test_install_after_purge_starts_empty
