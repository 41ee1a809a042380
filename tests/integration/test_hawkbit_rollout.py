"""A rollout to 20 hubs in two groups, set up through the (fake) Management API and polled
by 20 picohub devices in threads: errors above group 1's threshold pause the rollout and
group 2 never sees a deployment; without them, group 2 follows group 1."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from picohub.errors import PicohubError
from picohub.update.hawkbit import DdiClient, Server
from picohub.update.hawkbit_model import Deployment
from picohub.update.hawkbit_poll import Device
from tests.fakehawkbit import FakeHawkbit

HUBS = [f"hub-{index:02d}" for index in range(20)]
BUNDLE = b"picohub 1.5.0 offline bundle\n" * 1000


@pytest.fixture
def hawkbit() -> Iterator[FakeHawkbit]:
    with FakeHawkbit() as fake:
        yield fake


class Management:
    """The Management API as an operator's script would use it."""

    def __init__(self, fake: FakeHawkbit) -> None:
        self.base = f"{fake.url}/rest/v1"
        self.session = requests.Session()
        self.session.auth = (fake.user, fake.password)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.session.post(f"{self.base}/{path}", json=body, timeout=10, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        response = self.session.get(f"{self.base}/{path}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


def set_up(fake: FakeHawkbit, error_threshold: str) -> tuple[Management, int, dict[str, str]]:
    api = Management(fake)
    [module] = api.post("softwaremodules", [{"name": "picohub", "version": "1.5.0", "type": "os"}])
    artifact = api.post(
        f"softwaremodules/{module['id']}/artifacts",
        files={"file": ("picohub-1.5.0.bundle.tar", BUNDLE)},
    )
    assert artifact["size"] == len(BUNDLE) and len(artifact["hashes"]["sha256"]) == 64
    [ds] = api.post(
        "distributionsets",
        [{"name": "picohub", "version": "1.5.0", "type": "os", "modules": [{"id": module["id"]}]}],
    )
    targets = api.post("targets", [{"controllerId": hub, "name": hub} for hub in HUBS])
    tokens = {target["controllerId"]: target["securityToken"] for target in targets}
    rollout = api.post(
        "rollouts",
        {
            "name": "picohub 1.5.0",
            "distributionSetId": ds["id"],
            "targetFilterQuery": "controllerId==hub-*",
            "type": "forced",
            "successCondition": {"condition": "THRESHOLD", "expression": "100"},
            "successAction": {"action": "NEXTGROUP", "expression": ""},
            "errorCondition": {"condition": "THRESHOLD", "expression": error_threshold},
            "errorAction": {"action": "PAUSE", "expression": ""},
            "groups": [
                {"name": "canary", "targetPercentage": 50.0},
                {"name": "everyone else", "targetPercentage": 100.0},
            ],
        },
    )
    assert rollout["status"] == "ready" and rollout["totalTargets"] == 20
    return api, rollout["id"], tokens


def devices(
    fake: FakeHawkbit, tmp_path: Path, tokens: dict[str, str], failing: set[str]
) -> list[Device]:
    def install(hub: str) -> Any:
        def run(deployment: Deployment, paths: Sequence[Path]) -> str:
            assert [path.read_bytes() for path in paths] == [BUNDLE]
            if hub in failing:
                raise PicohubError("picohub.service did not come back; rolled back to 1.4.2")
            return "installed 1.5.0"

        return run

    return [
        Device(
            DdiClient(Server(fake.url, fake.tenant, hub), tokens[hub]),
            cache_dir=tmp_path / hub,
            attributes=lambda: {"picohub": "1.4.2"},
            install=install(hub),
        )
        for hub in HUBS
    ]


def poll_rounds(fleet: list[Device], rounds: int) -> None:
    """Every device polls once per round, all at the same time (20 threads)."""
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        for _round in range(rounds):
            list(pool.map(lambda device: device.poll_once(), fleet))


def test_failures_above_the_threshold_pause_the_rollout_before_group_2(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    api, rollout_id, tokens = set_up(hawkbit, error_threshold="20")
    groups = api.get(f"rollouts/{rollout_id}/deploygroups")["content"]
    first, second = (
        [hub for hub in HUBS if hub in g.targets] for g in hawkbit.rollouts[rollout_id].groups
    )
    assert [g["totalTargets"] for g in groups] == [10, 10]
    assert first == HUBS[:10] and second == HUBS[10:]

    fleet = devices(hawkbit, tmp_path, tokens, failing=set(first[:3]))  # 30 % > 20 %
    api.post(f"rollouts/{rollout_id}/start")
    poll_rounds(fleet, rounds=4)

    assert api.get(f"rollouts/{rollout_id}")["status"] == "paused"
    canary, rest = api.get(f"rollouts/{rollout_id}/deploygroups")["content"]
    assert canary["status"] == "error"
    assert canary["totalTargetsPerStatus"] == {"error": 3, "finished": 7}
    assert rest["status"] == "scheduled"
    assert rest["totalTargetsPerStatus"] == {}
    assert hawkbit.fetched_by(second) == []  # never offered, never fetched a deploymentBase
    assert all(not hawkbit.feedback_of(hub) for hub in second)
    counts = hawkbit.group_counts(rollout_id)
    assert counts[0]["offered"] == 10 and counts[1]["offered"] == 0
    for hub in first[:3]:
        closed = hawkbit.feedback_of(hub)[-1]
        assert (closed.execution, closed.finished) == ("closed", "failure")
        assert "rolled back to 1.4.2" in closed.details[0]
    assert api.get(f"targets/{first[0]}")["updateStatus"] == "error"
    assert api.get(f"targets/{second[0]}")["updateStatus"] == "registered"

    # The operator looks, decides the failures are understood, and resumes.
    api.post(f"rollouts/{rollout_id}/resume")
    poll_rounds(fleet, rounds=3)
    assert hawkbit.group_counts(rollout_id)[1]["finished"] == 10
    assert api.get(f"rollouts/{rollout_id}")["status"] == "finished"


def test_without_failures_group_2_follows_group_1(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    api, rollout_id, tokens = set_up(hawkbit, error_threshold="20")
    fleet = devices(hawkbit, tmp_path, tokens, failing=set())
    api.post(f"rollouts/{rollout_id}/start")
    poll_rounds(fleet, rounds=3)
    assert api.get(f"rollouts/{rollout_id}")["status"] == "finished"
    assert [g["status"] for g in api.get(f"rollouts/{rollout_id}/deploygroups")["content"]] == [
        "finished",
        "finished",
    ]
    assert all(hawkbit.targets[hub].installed_ds is not None for hub in HUBS)
    assert api.get(f"targets/{HUBS[-1]}/attributes") == {"picohub": "1.4.2"}


def test_failures_at_the_threshold_do_not_pause(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    """hawkBit pauses when errors are above the threshold, not at it: 2 of 10 at 20 %."""
    api, rollout_id, tokens = set_up(hawkbit, error_threshold="20")
    fleet = devices(hawkbit, tmp_path, tokens, failing={HUBS[0], HUBS[1]})
    api.post(f"rollouts/{rollout_id}/start")
    poll_rounds(fleet, rounds=3)
    # Only 8 of 10 succeeded: the success condition (100 %) holds group 2 back, no pause.
    assert api.get(f"rollouts/{rollout_id}")["status"] == "running"
    assert hawkbit.group_counts(rollout_id)[1]["offered"] == 0
