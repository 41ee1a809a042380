"""A change of release key on a booted trixie (gpgv 2.4, apt 3.0): see
test_key_rotation. Bound in the order they run."""

from tests.system import test_key_rotation as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

keys = journey.keys
releases = journey.releases
hub = journey.hub
test_a_hub_that_skipped_the_changeover_is_told_to_install_it_first = (
    journey.test_a_hub_that_skipped_the_changeover_is_told_to_install_it_first
)
test_the_changeover_release_brings_the_new_key = (
    journey.test_the_changeover_release_brings_the_new_key
)
test_the_release_signed_by_the_new_key_alone_is_taken_and_the_old_key_dropped = (
    journey.test_the_release_signed_by_the_new_key_alone_is_taken_and_the_old_key_dropped
)
test_a_release_signed_by_the_removed_key_is_refused = (
    journey.test_a_release_signed_by_the_removed_key_is_refused
)
test_a_rollback_after_the_changeover_goes_back_to_the_release_signed_by_both = (
    journey.test_a_rollback_after_the_changeover_goes_back_to_the_release_signed_by_both
)
