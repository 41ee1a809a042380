"""Failed updates on a booted trixie roll back by themselves (see test_update_rollback),
and the manual recovery from the release assets works. Bound in the order they run."""

from tests.system import test_update_rollback as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

broken = journey.broken
hub = journey.hub
test_a_failed_update_ends_on_the_previous_release = (
    journey.test_a_failed_update_ends_on_the_previous_release
)
test_manual_recovery_from_the_release_assets_needs_no_updater_cache = (
    journey.test_manual_recovery_from_the_release_assets_needs_no_updater_cache
)
