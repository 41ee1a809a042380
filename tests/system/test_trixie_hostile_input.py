"""The hub's doors under bad input on a booted trixie (nginx 1.26, systemd 257, Flask 3;
see test_hostile_input). Bound in the order they run."""

from tests.system import test_hostile_input as journey
from tests.system.trixie import container  # noqa: F401 (boots trixie for this module)

hub = journey.hub
test_a_bad_heartbeat_through_nginx_gets_a_json_verdict_not_a_5xx = (
    journey.test_a_bad_heartbeat_through_nginx_gets_a_json_verdict_not_a_5xx
)
test_a_login_nested_deep_is_refused_and_counts_for_nothing = (
    journey.test_a_login_nested_deep_is_refused_and_counts_for_nothing
)
test_unauthenticated_bundles_are_refused_before_nginx_keeps_a_byte = (
    journey.test_unauthenticated_bundles_are_refused_before_nginx_keeps_a_byte
)
test_the_administrators_upload_is_the_one_nginx_buffers = (
    journey.test_the_administrators_upload_is_the_one_nginx_buffers
)
test_a_range_that_selects_nothing_is_416_with_the_images_size = (
    journey.test_a_range_that_selects_nothing_is_416_with_the_images_size
)
test_only_nginx_can_say_who_the_client_is = journey.test_only_nginx_can_say_who_the_client_is
test_the_trigger_answers_slow_clients_in_time_and_serves_the_next = (
    journey.test_the_trigger_answers_slow_clients_in_time_and_serves_the_next
)
test_a_burst_of_connections_never_leaves_the_trigger_failed = (
    journey.test_a_burst_of_connections_never_leaves_the_trigger_failed
)
