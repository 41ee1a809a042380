"""Updates from the web page on an arm64 bookworm, what a Raspberry Pi runs (see
test_update_web): the packages built here, Architecture: all, installed with apt on arm64
with arm64's python3, nginx and gpgv, then updated, rolled back and fed a bundle through
nginx, the trigger socket and the transient unit. Bound in the order they run."""

from tests.system import test_update_web as journey
from tests.system.arm64 import container  # noqa: F401 (boots arm64 for this module)

broken_release = journey.broken_release
hub = journey.hub
test_update_actions_need_the_administrator_and_a_csrf_token = (
    journey.test_update_actions_need_the_administrator_and_a_csrf_token
)
test_install_from_the_web_ends_on_the_new_release = (
    journey.test_install_from_the_web_ends_on_the_new_release
)
test_a_rollback_from_the_web_must_be_confirmed = (
    journey.test_a_rollback_from_the_web_must_be_confirmed
)
test_a_broken_release_from_the_web_is_rolled_back_with_the_reason = (
    journey.test_a_broken_release_from_the_web_is_rolled_back_with_the_reason
)
test_an_uploaded_bundle_is_checked_like_a_download_then_installed = (
    journey.test_an_uploaded_bundle_is_checked_like_a_download_then_installed
)
test_the_app_user_can_start_the_update_and_nothing_else = (
    journey.test_the_app_user_can_start_the_update_and_nothing_else
)
