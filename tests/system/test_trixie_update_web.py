"""Updates from the web page on a booted trixie (see test_update_web): the trigger
socket, the transient unit, rollback and bundles with trixie's systemd 257, Python 3.13,
Flask 3, python3-debian and gpg. Bound in the order they run."""

from tests.system import test_update_web as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

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
