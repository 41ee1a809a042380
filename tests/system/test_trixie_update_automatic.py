"""Automatic updates on a booted trixie, with its NetworkManager (see
test_update_automatic). Bound in the order they run."""

from tests.system import test_update_automatic as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

broken = journey.broken
github = journey.github
test_the_daily_timer_is_enabled_spread_and_persistent = (
    journey.test_the_daily_timer_is_enabled_spread_and_persistent
)
test_the_hub_updates_itself_when_its_connection_comes_up = (
    journey.test_the_hub_updates_itself_when_its_connection_comes_up
)
test_a_flapping_link_starts_no_second_run = journey.test_a_flapping_link_starts_no_second_run
test_a_hold_downloads_the_release_but_installs_nothing = (
    journey.test_a_hold_downloads_the_release_but_installs_nothing
)
test_outside_the_window_it_waits_and_installs_when_the_window_opens = (
    journey.test_outside_the_window_it_waits_and_installs_when_the_window_opens
)
test_a_metered_connection_only_checks = journey.test_a_metered_connection_only_checks
test_the_network_going_away_mid_download_is_reported_and_the_next_run_resumes = (
    journey.test_the_network_going_away_mid_download_is_reported_and_the_next_run_resumes
)
test_a_release_whose_automatic_install_rolled_back_is_skipped = (
    journey.test_a_release_whose_automatic_install_rolled_back_is_skipped
)
test_a_bad_rule_fails_the_run_naming_it_and_changes_nothing = (
    journey.test_a_bad_rule_fails_the_run_naming_it_and_changes_nothing
)
