"""The fleet benchmark's arithmetic (``tools/bench_fleet``): what a request is, the load
over a window and at another polling time, bytes per release, a rollout group's times,
the figures for 10,000 hubs, and the byte count on the server's side."""

from __future__ import annotations

import pytest
import requests

from picohub.errors import UsageError
from tools.bench_fleet.cli import sizes
from tools.bench_fleet.figures import (
    Exchange,
    GithubTimer,
    HawkbitPolling,
    group_bound_at,
    group_times,
    kind_of,
    load,
    parse_sleep,
    polls_per_s,
    release_bytes,
)
from tools.bench_fleet.server import CountingHawkbit

BASE = "/DEFAULT/controller/v1/hub-1"


def _x(
    at: float, controller: str | None, kind: str, received: int = 300, sent: int = 200
) -> Exchange:
    return Exchange(at, controller, kind, 200, received, sent)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", BASE, "poll"),
        ("GET", f"{BASE}?x=1", "poll"),
        ("PUT", f"{BASE}/configData", "config-data"),
        ("GET", f"{BASE}/deploymentBase/7?c=ab12", "deployment"),
        ("POST", f"{BASE}/deploymentBase/7/feedback", "feedback"),
        ("GET", f"{BASE}/cancelAction/7", "cancel"),
        ("POST", f"{BASE}/cancelAction/7/feedback", "cancel-feedback"),
        ("GET", f"{BASE}/softwaremodules/3/artifacts/b.tar", "artifact"),
        ("POST", "/rest/v1/rollouts", "management"),
        ("GET", "/OTHER/controller/v1/hub-1", "other"),
        ("POST", BASE, "other"),
    ],
)
def test_kind_of_a_request(method: str, path: str, kind: str) -> None:
    assert kind_of(method, path, "DEFAULT") == kind


def test_polling_times() -> None:
    assert parse_sleep("00:05:00") == 300
    assert parse_sleep("00:00:10") == 10
    assert parse_sleep("01:00:01") == 3601
    with pytest.raises(ValueError, match="not a polling time"):
        parse_sleep("00:61:00")


def test_a_fleet_polls_once_a_polling_time_on_average() -> None:
    assert polls_per_s(10_000, 300) == pytest.approx(33.33, abs=0.01)
    assert polls_per_s(1001, 10) == pytest.approx(100.1)


def test_the_load_counts_ddi_requests_in_the_window_only() -> None:
    exchanges = [
        _x(9.9, "a", "poll"),  # before
        _x(10.0, "a", "poll"),
        _x(12.0, "b", "poll"),
        _x(15.0, "b", "config-data", 400, 100),
        _x(16.0, None, "management"),  # the bench's own, not a controller's
        _x(20.0, "a", "poll"),  # the end is not in it
    ]
    idle = load(exchanges, 10.0, 20.0, controllers=2)
    assert (idle.requests, idle.polls, idle.bytes) == (3, 2, 1500)
    assert idle.requests_per_s == pytest.approx(0.3)
    assert idle.bytes_per_s == pytest.approx(150)
    assert idle.bytes_per_poll == pytest.approx(750)  # all bytes over the polls
    assert idle.per_hub_per_s == pytest.approx(0.15)
    assert idle.mean_interval_s == pytest.approx(10.0)  # 2 controllers, 2 polls in 10 s
    assert idle.requests_per_poll == pytest.approx(1.5)
    assert idle.bytes_per_request == pytest.approx(500)


def test_bytes_per_release_leave_the_polls_and_others_out() -> None:
    exchanges = [
        _x(1.0, "a", "feedback"),  # before the rollout
        _x(5.0, "a", "poll"),
        _x(5.1, "a", "deployment", 300, 1200),
        _x(5.2, "a", "feedback", 500, 100),
        _x(5.3, "a", "artifact", 250, 200_300),
        _x(5.4, "a", "feedback", 500, 100),
        _x(5.5, "b", "artifact", 250, 200_300),
        _x(15.0, "a", "config-data", 400, 100),
    ]
    got = release_bytes(exchanges, "a", since=5.0)
    assert (got.artifact, got.deployment, got.feedback, got.config_data) == (
        200_550,
        1500,
        1200,
        500,
    )
    assert got.overhead == 3200
    assert got.total == 203_750


def test_group_times_the_last_fetch_and_the_slowest_work() -> None:
    exchanges = [
        _x(100.0, "a", "deployment"),
        _x(100.5, "a", "feedback"),
        _x(101.0, "a", "feedback"),  # a's work: 1 s
        _x(104.0, "b", "deployment"),
        _x(104.1, "b", "deployment"),  # a second fetch: the first counts
        _x(134.0, "b", "feedback"),  # b's work: 30 s
        _x(106.0, "c", "deployment"),  # not a member
    ]
    times = group_times(exchanges, ["a", "b"], started=99.0, finished=134.2)
    assert times.members == 2
    assert times.last_fetch_s == pytest.approx(5.0)
    assert times.finished_s == pytest.approx(35.2)
    assert times.longest_work_s == pytest.approx(30.0)
    assert group_bound_at(300, 30.0, 0.10) == pytest.approx(360.0)
    unfinished = group_times([], ["a"], started=0.0, finished=None)
    assert (unfinished.last_fetch_s, unfinished.finished_s, unfinished.longest_work_s) == (
        None,
        None,
        None,
    )


def test_ten_thousand_hubs_on_hawkbit_and_on_the_github_timer() -> None:
    hawkbit = HawkbitPolling(
        hubs=10_000,
        sleep_s=300,
        requests_per_poll=1.0,
        bytes_per_request=500,
    )
    assert hawkbit.requests_per_s == pytest.approx(33.33, abs=0.01)
    assert hawkbit.requests_per_day == pytest.approx(2_880_000)
    assert hawkbit.bytes_per_s == pytest.approx(16_667, abs=1)
    assert hawkbit.bytes_per_hub_per_day == pytest.approx(144_000)
    github = GithubTimer(10_000, checks_per_day=1, spread_s=4 * 3600)
    assert github.requests_per_day == 10_000
    assert github.requests_per_s == pytest.approx(0.1157, abs=1e-4)
    assert github.peak_requests_per_s == pytest.approx(0.694, abs=1e-3)
    assert github.api_calls == 0


def test_controller_counts_from_the_command_line() -> None:
    assert sizes("100,1000") == (100, 1000)
    assert sizes("5") == (5,)
    for wrong in ("", "0", "ten", "100,99999"):
        with pytest.raises(UsageError):
            sizes(wrong)


def test_the_server_counts_the_bytes_of_every_exchange() -> None:
    fake = CountingHawkbit(sleep="00:00:10").start()
    try:
        target = fake.add_target("hub-1", token="t0ken")
        url = fake.controller_url("hub-1")
        session = requests.Session()
        poll = session.get(url, headers={"Authorization": f"TargetToken {target.token}"})
        refused = session.get(url, headers={"Authorization": "TargetToken wrong"})
        body = b'{"mode": "merge", "data": {"picohub": "0.1.0"}}'
        put = session.put(
            f"{url}/configData",
            data=body,
            headers={"Authorization": "TargetToken t0ken", "Content-Type": "application/json"},
        )
        session.close()
    finally:
        fake.stop()
    assert (poll.status_code, refused.status_code, put.status_code) == (200, 401, 200)
    got = fake.snapshot()
    assert [(e.controller, e.kind, e.status) for e in got] == [
        ("hub-1", "poll", 200),
        ("hub-1", "poll", 401),
        ("hub-1", "config-data", 200),
    ]
    # What the server sent: the status line, the headers and the body as the client got them.
    head = (
        len(b"HTTP/1.1 200 OK\r\n") + sum(len(f"{k}: {v}\r\n") for k, v in poll.headers.items()) + 2
    )
    assert got[0].sent == head + len(poll.content)
    assert got[2].received > len(body) > 0
