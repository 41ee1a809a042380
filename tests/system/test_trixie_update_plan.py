"""A release that asks for more than picohub, on a booted trixie (apt 3.0): see
test_update_plan. Bound in the order they run."""

from tests.system import test_update_plan as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

releases = journey.releases
hub = journey.hub
test_a_dependency_no_source_offers_is_refused_before_anything_changes = (
    journey.test_a_dependency_no_source_offers_is_refused_before_anything_changes
)
test_a_package_the_release_carries_beside_picohub_is_refused_even_when_accepted = (
    journey.test_a_package_the_release_carries_beside_picohub_is_refused_even_when_accepted
)
test_a_new_debian_package_is_refused_then_installed_once_accepted = (
    journey.test_a_new_debian_package_is_refused_then_installed_once_accepted
)
