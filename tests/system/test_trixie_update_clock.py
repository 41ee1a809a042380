"""A hub whose clock is a day behind its releases, on a booted trixie (see
test_update_clock). Bound in the order they run."""

from tests.system import test_update_clock as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

interrupted_release = journey.interrupted_release
repositories = journey.repositories
hub = journey.hub
test_releases_are_dated_ahead_and_the_older_ones_expired = (
    journey.test_releases_are_dated_ahead_and_the_older_ones_expired
)
test_an_online_update_succeeds = journey.test_an_online_update_succeeds
test_a_rollback_succeeds = journey.test_a_rollback_succeeds
test_an_offline_bundle_succeeds = journey.test_an_offline_bundle_succeeds
test_the_recovery_after_a_power_cut_succeeds_before_time_is_synced = (
    journey.test_the_recovery_after_a_power_cut_succeeds_before_time_is_synced
)
