"""An offline bundle on a booted trixie with no network (see test_update_offline). Bound
in the order they run."""

from tests.system import test_update_offline as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

hub = journey.hub
bundle_b = journey.bundle_b
test_a_bundle_with_a_tampered_package_is_refused = (
    journey.test_a_bundle_with_a_tampered_package_is_refused
)
test_a_bundle_updates_the_hub_without_network = (
    journey.test_a_bundle_updates_the_hub_without_network
)
