"""An update cut off on a booted trixie (see test_update_power_cut): its unit killed or
stopped, or a power cut, after which the next boot recovers before the app starts. Bound
in the order they run."""

from tests.system import test_update_power_cut as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

interrupted_release = journey.interrupted_release
hub = journey.hub
test_an_update_cut_off_puts_back_the_release_from_before_it_without_a_reboot = (
    journey.test_an_update_cut_off_puts_back_the_release_from_before_it_without_a_reboot
)
test_a_power_cut_mid_unpack_recovers_at_the_next_boot = (
    journey.test_a_power_cut_mid_unpack_recovers_at_the_next_boot
)
test_a_power_cut_during_a_manual_dpkg_run_is_mended_from_the_cache = (
    journey.test_a_power_cut_during_a_manual_dpkg_run_is_mended_from_the_cache
)
test_a_clean_boot_has_nothing_to_recover = journey.test_a_clean_boot_has_nothing_to_recover
test_a_rollback_cut_off_is_finished_without_a_reboot = (
    journey.test_a_rollback_cut_off_is_finished_without_a_reboot
)
test_a_power_cut_during_a_rollback_finishes_it_at_the_next_boot = (
    journey.test_a_power_cut_during_a_rollback_finishes_it_at_the_next_boot
)
