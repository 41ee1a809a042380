"""picohub as a hawkBit device against the fake hawkBit: poll, config data, deployments
downloaded (resumed, hashes checked), feedback, cancels, maintenance windows, policy."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from unittest.mock import patch

import pytest

from picohub.errors import PicohubError
from picohub.update.hawkbit import DdiClient, HawkbitError, Server, read_token
from picohub.update.hawkbit_model import Deployment, Finished
from picohub.update.hawkbit_poll import MAX_DOWNLOAD_TRIES, Device, Outcome, Plan, Step
from tests.fakehawkbit import FakeHawkbit

BUNDLE = bytes(range(256)) * 4096  # 1 MiB, the release's offline bundle stands in
ATTRIBUTES = {
    "picohub": "1.4.2",
    "picohub-web": "1.4.2",
    "picohub-firmware": "1.4.2",
    "picohub-archive-keyring": "2025.1",
    "debian_release": "bookworm",
    "architecture": "arm64",
}


@pytest.fixture
def hawkbit() -> Iterator[FakeHawkbit]:
    with FakeHawkbit(sleep="00:00:30") as fake:
        yield fake


class Installs:
    """The install callback: records what it was given; fails when told to."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.fail = fail

    def __call__(self, deployment: Deployment, paths: Sequence[Path]) -> str:
        self.calls.append((deployment.action_id, [path.read_bytes() for path in paths]))
        if self.fail is not None:
            raise PicohubError(self.fail, hint="the previous release was installed again")
        return "installed picohub 1.5.0"


def make_device(
    fake: FakeHawkbit,
    tmp_path: Path,
    controller_id: str = "hub-1",
    *,
    install: Installs | None = None,
    allow_attempt: bool = False,
    attributes: dict[str, str] | None = None,
) -> Device:
    target = fake.add_target(controller_id)
    token_file = tmp_path / f"{controller_id}.token"
    token_file.write_text(target.token + "\n")
    token_file.chmod(0o600)
    client = DdiClient(Server(fake.url, fake.tenant, controller_id), read_token(token_file))
    facts = attributes if attributes is not None else dict(ATTRIBUTES)
    return Device(
        client,
        cache_dir=tmp_path / "cache" / controller_id,
        attributes=lambda: facts,
        install=install or Installs(),
        allow_attempt=lambda: allow_attempt,
    )


def release(fake: FakeHawkbit, data: bytes = BUNDLE) -> int:
    module = fake.add_module("picohub", "1.5.0", "os")
    fake.add_artifact(module.id, "picohub-1.5.0.bundle.tar", data)
    return fake.add_set("picohub", "1.5.0", [module.id]).id


def executions(fake: FakeHawkbit, controller_id: str = "hub-1") -> list[tuple[str, str]]:
    return [(f.execution, f.finished) for f in fake.feedback_of(controller_id)]


def test_first_poll_registers_the_hub_with_its_attributes(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    attributes = dict(ATTRIBUTES)
    device = make_device(hawkbit, tmp_path, attributes=attributes)
    outcome = device.poll_once()
    assert outcome.steps == (Step.CONFIG_DATA,)
    assert 27 <= outcome.delay <= 33  # 30 s, jittered by 10 %
    target = hawkbit.targets["hub-1"]
    assert target.attributes == ATTRIBUTES
    assert hawkbit.config_data[0][1]["mode"] == "merge"
    assert not target.request_attributes

    assert device.poll_once().steps == ()  # unchanged: nothing sent
    attributes["picohub"] = "1.5.0"
    assert device.poll_once().steps == (Step.CONFIG_DATA,)
    assert target.attributes["picohub"] == "1.5.0"
    target.request_attributes = True  # asked for from the management UI
    assert device.poll_once().steps == (Step.CONFIG_DATA,)
    assert len(hawkbit.config_data) == 3
    assert target.polls == 4


def test_a_forced_deployment_is_downloaded_installed_and_reported(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    device.poll_once()
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    outcome = device.poll_once()
    assert outcome.steps == (Step.DEPLOYMENT,)
    assert outcome.decision is not None and outcome.decision.plan is Plan.INSTALL
    assert outcome.closed is Finished.SUCCESS
    assert installs.calls == [(str(action.id), [BUNDLE])]
    assert executions(hawkbit) == [
        ("proceeding", "none"),
        ("proceeding", "none"),
        ("closed", "success"),
    ]
    first, _installing, closed = hawkbit.feedback_of("hub-1")
    assert first.body["status"]["result"]["progress"] == {"cnt": 0, "of": 1}
    assert closed.details == ["installed picohub 1.5.0"]
    assert hawkbit.actions[action.id].status == "finished"
    assert hawkbit.fetched == [("hub-1", action.id)]
    assert not (tmp_path / "cache" / "hub-1" / f"action-{action.id}").exists()
    # After a successful install hawkBit asks for the attributes again; no action is open.
    after = device.poll_once()
    assert after.steps == (Step.CONFIG_DATA,)
    assert hawkbit.targets["hub-1"].installed_ds == action.ds_id


def test_a_failed_install_closes_the_action_with_the_reason(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    device = make_device(hawkbit, tmp_path, install=Installs(fail="picohub.service did not start"))
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    assert device.poll_once().closed is Finished.FAILURE
    closed = hawkbit.feedback_of("hub-1")[-1]
    assert (closed.execution, closed.finished) == ("closed", "failure")
    assert closed.details == [
        "picohub.service did not start",
        "hint: the previous release was installed again",
    ]
    assert hawkbit.actions[action.id].status == "error"


def test_a_cut_download_resumes_at_the_next_poll(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    hawkbit.cut_after, hawkbit.cuts_left = 300_000, 1
    outcome = device.poll_once()
    assert outcome.closed is None and installs.calls == []
    part = tmp_path / "cache" / "hub-1" / f"action-{action.id}" / "picohub-1.5.0.bundle.tar.part"
    assert part.stat().st_size == 300_000
    assert "download stopped (try 1)" in hawkbit.feedback_of("hub-1")[-1].details[0]

    assert device.poll_once().closed is Finished.SUCCESS
    assert installs.calls == [(str(action.id), [BUNDLE])]
    downloads = [r for r in hawkbit.requests_log if "/artifacts/" in r.path]
    assert [(r.status, r.range) for r in downloads] == [(200, None), (206, "bytes=300000-")]


def test_a_download_that_keeps_breaking_ends_in_failure(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    device = make_device(hawkbit, tmp_path)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    hawkbit.cut_after, hawkbit.cuts_left = 0, 100
    closed = [device.poll_once().closed for _ in range(MAX_DOWNLOAD_TRIES)]
    assert closed == [None] * (MAX_DOWNLOAD_TRIES - 1) + [Finished.FAILURE]
    assert hawkbit.actions[action.id].status == "error"
    assert f"download failed {MAX_DOWNLOAD_TRIES} times" in hawkbit.feedback_of("hub-1")[-1].details


def test_bytes_that_do_not_match_the_hash_are_refused(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    hawkbit.corrupt_downloads = True
    assert device.poll_once().closed is Finished.FAILURE
    assert installs.calls == []
    closed = hawkbit.feedback_of("hub-1")[-1]
    assert "does not match the SHA-256" in closed.details[0]
    assert hawkbit.actions[action.id].status == "error"
    assert not list((tmp_path / "cache" / "hub-1").rglob("*.tar*"))


def test_outside_the_maintenance_window_it_downloads_and_waits(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced", window_open=False)
    outcome = device.poll_once()
    assert outcome.decision is not None and outcome.decision.plan is Plan.DOWNLOAD
    assert installs.calls == []
    assert executions(hawkbit) == [("proceeding", "none"), ("downloaded", "none")]
    assert "maintenance window" in hawkbit.feedback_of("hub-1")[-1].details[0]
    device.poll_once()  # still closed: nothing new to say, nothing downloaded again
    assert len(hawkbit.feedback_of("hub-1")) == 2
    assert len([r for r in hawkbit.requests_log if "/artifacts/" in r.path]) == 1
    assert hawkbit.actions[action.id].status == "running"

    hawkbit.open_window(action.id)
    assert device.poll_once().closed is Finished.SUCCESS
    assert installs.calls == [(str(action.id), [BUNDLE])]
    assert len([r for r in hawkbit.requests_log if "/artifacts/" in r.path]) == 1


def test_a_soft_update_waits_for_the_owners_policy(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs, allow_attempt=False)
    hawkbit.assign("hub-1", release(hawkbit), "soft")
    outcome = device.poll_once()
    assert outcome.decision is not None and outcome.decision.plan is Plan.DOWNLOAD
    assert installs.calls == []
    device.allow_attempt = lambda: True
    assert device.poll_once().closed is Finished.SUCCESS


def test_a_download_only_action_is_finished_by_downloaded(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    action = hawkbit.assign("hub-1", release(hawkbit), "downloadonly")
    device.poll_once()
    assert installs.calls == []
    assert hawkbit.actions[action.id].status == "finished"
    assert device.poll_once().steps == ()


def test_a_cancel_before_the_install_is_confirmed(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    device.poll_once()
    action = hawkbit.assign("hub-1", release(hawkbit), "forced", window_open=False)
    device.poll_once()  # downloaded, waiting for the window
    hawkbit.cancel(action.id)
    outcome = device.poll_once()
    assert outcome.steps == (Step.CANCEL,)
    cancel = hawkbit.feedback_of("hub-1")[-1]
    assert (cancel.kind, cancel.execution, cancel.finished) == ("cancel", "closed", "success")
    assert hawkbit.actions[action.id].status == "canceled"
    assert not (tmp_path / "cache" / "hub-1" / f"action-{action.id}").exists()
    assert device.poll_once().steps == ()
    assert installs.calls == []


def test_a_cancel_of_an_install_under_way_is_rejected(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    device = make_device(hawkbit, tmp_path)
    device.poll_once()
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    hawkbit.cancel(action.id)
    device.memory.installing = str(action.id)  # as while the transient unit runs
    device.poll_once()
    cancel = hawkbit.feedback_of("hub-1")[-1]
    assert (cancel.kind, cancel.execution) == ("cancel", "rejected")
    assert hawkbit.actions[action.id].status == "canceling"


def test_a_new_assignment_cancels_the_open_one(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    device.poll_once()
    first = hawkbit.assign("hub-1", release(hawkbit), "forced", window_open=False)
    device.poll_once()
    second = hawkbit.assign("hub-1", release(hawkbit, b"newer bundle"), "forced")
    assert device.poll_once().steps == (Step.CANCEL,)
    assert hawkbit.actions[first.id].status == "canceled"
    assert device.poll_once().closed is Finished.SUCCESS
    assert installs.calls == [(str(second.id), [b"newer bundle"])]


def test_a_wrong_token_is_refused_with_a_hint(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    hawkbit.add_target("hub-1", token="right")
    client = DdiClient(Server(hawkbit.url, hawkbit.tenant, "hub-1"), "wrong")
    with pytest.raises(HawkbitError, match="answered 401") as caught:
        client.poll()
    assert "security token" in (caught.value.hint or "")


def test_a_control_link_to_another_host_is_refused(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    device = make_device(hawkbit, tmp_path)
    with pytest.raises(PicohubError, match="leads away from"):
        device.client.deployment("http://127.0.0.2:1/DEFAULT/controller/v1/hub-1/deploymentBase/1")


def test_the_artifact_hash_is_the_servers(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    device = make_device(hawkbit, tmp_path)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    base = device.client.poll()
    assert base.links.deployment_base is not None
    deployment = device.client.deployment(base.links.deployment_base)
    assert deployment.action_id == str(action.id)
    assert deployment.artifacts[0].sha256 == hashlib.sha256(BUNDLE).hexdigest()
    assert deployment.artifacts[0].size == len(BUNDLE)


def test_too_little_free_space_is_reported_and_ends_in_failure(
    hawkbit: FakeHawkbit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("picohub.update.fetch.FREE_SPACE_MARGIN", 2**62)
    installs = Installs()
    device = make_device(hawkbit, tmp_path, install=installs)
    action = hawkbit.assign("hub-1", release(hawkbit), "forced")
    closed = [device.poll_once().closed for _ in range(MAX_DOWNLOAD_TRIES)]
    assert closed[-1] is Finished.FAILURE
    assert any("not enough free space" in line for line in hawkbit.feedback_of("hub-1")[-1].details)
    assert not [r for r in hawkbit.requests_log if "/artifacts/" in r.path]
    assert hawkbit.actions[action.id].status == "error"
    assert installs.calls == []


def test_the_loop_polls_until_stopped_and_survives_a_failed_poll(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    device = make_device(hawkbit, tmp_path)
    stop = threading.Event()
    polled = threading.Event()
    real_poll = device.poll_once
    calls: list[str] = []

    def poll_once() -> Outcome:
        calls.append("poll")
        if len(calls) == 1:
            raise HawkbitError("the server is down")
        polled.set()
        return real_poll()

    device.poll_once = poll_once  # type: ignore[method-assign]
    device.rng = random.Random(0)  # noqa: S311 (jitter)
    loop = threading.Thread(target=device.run, args=(stop,))
    with patch("picohub.update.hawkbit_poll.next_delay", return_value=0.01):
        loop.start()
        assert polled.wait(10)
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
    assert hawkbit.targets["hub-1"].polls >= 1
