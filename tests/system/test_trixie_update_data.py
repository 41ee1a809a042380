"""The hub's data across a rollback on a booted trixie (see test_update_data). Bound in
the order they run."""

from tests.system import test_update_data as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

migrating_release = journey.migrating_release
hub = journey.hub
test_a_release_that_migrates_and_fails_ends_on_the_previous_one_with_the_data = (
    journey.test_a_release_that_migrates_and_fails_ends_on_the_previous_one_with_the_data
)
test_the_same_after_a_power_cut_in_release_2s_postinst = (
    journey.test_the_same_after_a_power_cut_in_release_2s_postinst
)
test_the_app_refuses_a_database_newer_than_it_knows = (
    journey.test_the_app_refuses_a_database_newer_than_it_knows
)
