"""``picohub-update check`` and ``fetch`` from a shell on a booted trixie (see
test_update_check). Bound in the order they run."""

from tests.system import test_update_check as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

hub = journey.hub
test_check_reports_the_newer_release = journey.test_check_reports_the_newer_release
test_fetch_verifies_into_the_cache_and_installs_nothing = (
    journey.test_fetch_verifies_into_the_cache_and_installs_nothing
)
