"""picohub-web's nginx site (trixie's nginx) and the firmware served to the boards on a
booted trixie (see test_web_and_firmware). Bound in the order they run."""

from tests.system import test_web_and_firmware as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

installed = journey.installed
test_nginx_serves_the_frontend_with_hashed_assets_and_cache_headers = (
    journey.test_nginx_serves_the_frontend_with_hashed_assets_and_cache_headers
)
test_nginx_proxies_the_api_and_health = journey.test_nginx_proxies_the_api_and_health
test_nginx_refuses_a_bundle_over_the_limit_saying_what_to_do = (
    journey.test_nginx_refuses_a_bundle_over_the_limit_saying_what_to_do
)
test_a_pico_board_fetches_its_firmware_in_two_ranged_halves = (
    journey.test_a_pico_board_fetches_its_firmware_in_two_ranged_halves
)
test_upgrading_the_firmware_alone_does_not_restart_the_app = (
    journey.test_upgrading_the_firmware_alone_does_not_restart_the_app
)
test_removing_the_web_package_leaves_nginx_and_its_other_sites = (
    journey.test_removing_the_web_package_leaves_nginx_and_its_other_sites
)
test_a_configuration_nginx_rejects_fails_the_install_and_leaves_nginx_serving = (
    journey.test_a_configuration_nginx_rejects_fails_the_install_and_leaves_nginx_serving
)
test_without_the_firmware_package_the_endpoints_say_so = (
    journey.test_without_the_firmware_package_the_endpoints_say_so
)
