"""``picohub-update apply --wait`` and ``rollback`` from a shell on a booted trixie (see
test_update_apply). Bound in the order they run."""

from tests.system import test_update_apply as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

hub = journey.hub
test_a_second_update_is_refused_while_one_runs = (
    journey.test_a_second_update_is_refused_while_one_runs
)
test_without_network_manager_the_daily_timer_alone_updates_the_hub = (
    journey.test_without_network_manager_the_daily_timer_alone_updates_the_hub
)
test_apply_installs_the_new_release_from_the_transient_unit = (
    journey.test_apply_installs_the_new_release_from_the_transient_unit
)
test_rollback_installs_the_previous_release_from_the_cache = (
    journey.test_rollback_installs_the_previous_release_from_the_cache
)
