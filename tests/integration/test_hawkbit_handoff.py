"""``picohub-update hawkbit run | poll-once`` against the fake hawkBit: the hub built from
update.conf's [fleet], a deployment's bundle handed to ``apply --bundle`` in the transient
unit, its result read from the history, and an action remembered across the restart the
update brings. Only the process boundary of the unit (systemd-run, systemctl) is faked:
:class:`FakeSystemd` plays the unit's run as the real bundle apply ends it (a history
entry); the real bundle apply runs in the system tests."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from picohub.errors import UsageError
from picohub.settings import Settings
from picohub.update import hawkbit_install
from picohub.update.cli import main
from picohub.update.hawkbit_install import HandoffState
from picohub.update.hawkbit_service import controller_id, poll_once, run_service
from picohub.update.history import Entry, History
from picohub.update.status import now
from tests.conftest import need_tools
from tests.fakehawkbit import FakeHawkbit

MACHINE_ID = "0123456789abcdef0123456789abcdef"
CONTROLLER = "picohub-0123456789abcdef"
BUNDLE = bytes(range(256)) * 1024  # the release's signed offline bundle stands in


class FakeSystemd:
    """``picohub.update.unit.run``: systemd-run starting ``picohub-update apply`` in the
    transient unit, and ``systemctl is-active`` of that unit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[list[str]] = []
        self.bundles: list[bytes] = []
        self.result = "done"
        self.message = "release 1.5.0 installed and healthy"
        self.running = False  # the unit runs on after systemd-run returns
        self.active_answers = 0  # is-active says active this many times more
        self.stop_with: threading.Event | None = None  # SIGTERM while systemd-run waits
        self.refuse = False  # another update holds the unit's name

    def end_run(self, result: str | None = None, message: str | None = None) -> None:
        """The unit's run ends as the bundle apply's transaction does: one history entry."""
        History(self.settings.update_history).append(
            Entry(now(), "fleet", "bundle", "1.4.2", "1.5.0", result or self.result,
                  message or self.message, 30.0, 0)
        )  # fmt: skip
        self.running = False

    def __call__(self, argv: Sequence[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        command = [str(arg) for arg in argv]
        if command[:2] == ["systemctl", "is-active"]:
            active = self.running or self.active_answers > 0 or self.refuse
            if self.active_answers > 0:
                self.active_answers -= 1
                if self.active_answers == 0:
                    self.end_run()
            return subprocess.CompletedProcess(command, 0, "active\n" if active else "inactive\n")
        assert command[0] == "/usr/bin/systemd-run", command
        if self.refuse:
            return subprocess.CompletedProcess(command, 1, "", "Unit already exists")
        self.started.append(command)
        self.bundles.append(Path(command[-1]).read_bytes())
        if self.stop_with is not None:  # the service is stopped: systemd-run goes with it
            self.stop_with.set()
            self.running = True
            return subprocess.CompletedProcess(command, 143, "", "")
        self.end_run()
        return subprocess.CompletedProcess(command, 0 if self.result == "done" else 1, "", "")


@pytest.fixture
def hawkbit() -> Iterator[FakeHawkbit]:
    with FakeHawkbit(sleep="00:00:30") as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, hawkbit: FakeHawkbit, monkeypatch: pytest.MonkeyPatch) -> Settings:
    need_tools("dpkg", "dpkg-query")
    dpkg = tmp_path / "dpkg"
    (dpkg / "info").mkdir(parents=True)
    (dpkg / "status").write_text(
        "Package: picohub\nStatus: install ok installed\nVersion: 1.4.2\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test\n"
    )
    (tmp_path / "machine-id").write_text(MACHINE_ID + "\n")
    (tmp_path / "os-release").write_text('PRETTY_NAME="Debian 12"\nVERSION_CODENAME=bookworm\n')
    target = hawkbit.add_target(CONTROLLER)
    token = tmp_path / "hawkbit.token"
    token.write_text(target.token + "\n")
    token.chmod(0o600)
    config = tmp_path / "update.conf"
    config.write_text(
        f"[fleet]\nfleet = hawkbit\nhawkbit_url = {hawkbit.url}\n"
        f"hawkbit_tenant = {hawkbit.tenant}\nhawkbit_token_file = {token}\n"
    )
    monkeypatch.setattr(hawkbit_install, "WAIT_POLL_S", 0.01)
    return Settings(
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        dpkg_admin_dir=dpkg,
        update_state_dir=tmp_path / "update-state",
        update_config=config,
        machine_id=tmp_path / "machine-id",
        os_release=tmp_path / "os-release",
    )


@pytest.fixture
def systemd(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> FakeSystemd:
    fake = FakeSystemd(settings)
    monkeypatch.setattr("picohub.update.unit.run", fake)
    return fake


def assign(fake: FakeHawkbit, kind: str = "forced", artifacts: int = 1) -> int:
    module = fake.add_module("picohub", "1.5.0", "os")
    for number in range(artifacts):
        name = "picohub-1.5.0.bundle.tar" if number == 0 else f"extra-{number}.tar"
        fake.add_artifact(module.id, name, BUNDLE)
    ds = fake.add_set("picohub", "1.5.0", [module.id]).id
    return fake.assign(CONTROLLER, ds, kind).id


def closed(fake: FakeHawkbit) -> list[tuple[str, list[str]]]:
    return [
        (f.finished, f.details)
        for f in fake.feedback_of(CONTROLLER)
        if f.kind != "cancel" and f.execution == "closed"
    ]


def test_the_controller_id_is_the_machine_ids_first_16_digits(settings: Settings) -> None:
    assert controller_id(settings) == CONTROLLER


def test_a_forced_deployment_is_applied_as_a_fleet_bundle_and_reported(
    hawkbit: FakeHawkbit,
    settings: Settings,
    systemd: FakeSystemd,
    capsys: pytest.CaptureFixture[str],
) -> None:
    action = assign(hawkbit)
    assert poll_once(settings) == 0
    (command,) = systemd.started
    bundle = settings.hawkbit_cache / f"action-{action}" / "picohub-1.5.0.bundle.tar"
    assert command[command.index("/usr/bin/picohub-update") + 1 :] == [
        "apply", "--origin=fleet", "--bundle", str(bundle.resolve()),
    ]  # fmt: skip
    assert "--wait" in command and "--unit=picohub-update.service" in command
    assert systemd.bundles == [BUNDLE]
    assert closed(hawkbit) == [("success", ["release 1.5.0 installed and healthy"])]
    assert hawkbit.actions[action].status == "finished"
    assert not settings.hawkbit_state.exists()
    assert not bundle.parent.exists()
    target = hawkbit.targets[CONTROLLER]
    assert target.attributes["picohub"] == "1.4.2"
    assert target.attributes["debian_release"] == "bookworm"
    out = capsys.readouterr().out
    assert f"as target {CONTROLLER}" in out and "action closed: success" in out


def test_a_rolled_back_update_is_a_failure_with_the_reason(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    systemd.result, systemd.message = "rolled-back", "picohub.service did not answer /healthz"
    action = assign(hawkbit)
    poll_once(settings)
    assert closed(hawkbit) == [
        (
            "failure",
            [
                "rolled back: picohub.service did not answer /healthz",
                "hint: picohub-update history tells more",
            ],
        )
    ]
    assert hawkbit.actions[action].status == "error"
    assert not settings.hawkbit_state.exists()


def test_an_update_stopped_by_its_restart_is_reported_by_the_next_start(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    action = assign(hawkbit)
    stop = threading.Event()
    systemd.stop_with = stop  # dpkg restarts picohub-hawkbit.service while the unit runs
    assert run_service(settings, stop) == 0
    pending = HandoffState(settings.hawkbit_state).read()
    assert pending is not None and pending.action_id == str(action)
    assert settings.hawkbit_state.stat().st_mode & 0o777 == 0o600
    assert closed(hawkbit) == [] and hawkbit.actions[action].status == "running"

    # The new process starts while the update is still confirming, and waits for it.
    systemd.stop_with, systemd.running, systemd.active_answers = None, False, 3
    poll_once(settings)
    assert len(systemd.started) == 1  # never installed twice
    assert closed(hawkbit) == [("success", ["release 1.5.0 installed and healthy"])]
    assert not settings.hawkbit_state.exists()


def test_a_soft_update_handed_over_is_awaited_even_when_policy_would_wait(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    settings.update_config.write_text(
        settings.update_config.read_text() + "[update]\nautomatic = download\n"
    )
    action = assign(hawkbit, "soft")
    poll_once(settings)
    assert systemd.started == []  # downloaded, waiting for a person (the policy)
    HandoffState(settings.hawkbit_state).write(
        hawkbit_install.Pending(str(action), "/nowhere", "2000-01-01T00:00:00Z")
    )
    systemd.end_run()  # as if a process before a restart had handed it over
    poll_once(settings)
    assert systemd.started == []
    assert closed(hawkbit)[0][0] == "success"


def test_a_cancel_of_a_handed_over_action_is_rejected(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    action = assign(hawkbit)
    stop = threading.Event()
    systemd.stop_with = stop
    run_service(settings, stop)
    hawkbit.cancel(action)
    systemd.stop_with = None
    poll_once(settings)
    cancel = [f for f in hawkbit.feedback_of(CONTROLLER) if f.kind == "cancel"][-1]
    assert cancel.execution == "rejected"
    assert settings.hawkbit_state.exists()


def test_another_update_running_fails_the_action_and_forgets_it(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    systemd.refuse = True
    assign(hawkbit)
    poll_once(settings)
    ((finished, details),) = closed(hawkbit)
    assert finished == "failure" and details[0] == "an update is already running"
    assert not settings.hawkbit_state.exists()


def test_a_deployment_of_two_artifacts_is_refused(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    assign(hawkbit, artifacts=2)
    poll_once(settings)
    ((finished, details),) = closed(hawkbit)
    assert finished == "failure" and "has 2 artifacts" in details[0]
    assert systemd.started == []


def test_the_service_polls_until_stopped(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_service, args=(settings, stop))
    thread.start()
    try:
        for _ in range(200):
            if hawkbit.targets[CONTROLLER].polls:
                break
            threading.Event().wait(0.02)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert hawkbit.targets[CONTROLLER].polls >= 1


def test_a_hub_that_follows_github_leaves_hawkbit_alone(
    hawkbit: FakeHawkbit, settings: Settings, systemd: FakeSystemd
) -> None:
    settings.update_config.write_text("[fleet]\nfleet = github\n")
    assert run_service(settings, threading.Event()) == 0
    with pytest.raises(UsageError, match="not managed by hawkBit"):
        poll_once(settings)
    assert hawkbit.targets[CONTROLLER].polls == 0


def test_the_cli_polls_once(
    hawkbit: FakeHawkbit,
    settings: Settings,
    systemd: FakeSystemd,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "PICOHUB_UPDATE_CONFIG": settings.update_config,
        "PICOHUB_UPDATE_STATE_DIR": settings.update_state_dir,
        "PICOHUB_CACHE_DIR": settings.cache_dir,
        "PICOHUB_STATE_DIR": settings.state_dir,
        "PICOHUB_DPKG_ADMIN_DIR": settings.dpkg_admin_dir,
        "PICOHUB_MACHINE_ID": settings.machine_id,
        "PICOHUB_OS_RELEASE": settings.os_release,
    }.items():
        monkeypatch.setenv(name, str(value))
    assert main(["hawkbit", "poll-once"]) == 0
    assert "steps: config-data" in capsys.readouterr().out
    assert hawkbit.targets[CONTROLLER].attributes["architecture"]
