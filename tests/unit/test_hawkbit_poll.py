"""The hawkBit device's decisions (pure), its poll delay, its token file and attributes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import requests

from picohub.update.hawkbit import HawkbitError, Server, TargetTokenAuth, read_token
from picohub.update.hawkbit_model import (
    Artifact,
    Chunk,
    ControllerBase,
    Deployment,
    Execution,
    Finished,
    Handling,
    Links,
    Window,
)
from picohub.update.hawkbit_poll import (
    MAX_SLEEP,
    MIN_SLEEP,
    Plan,
    Step,
    cancel_answer,
    decide,
    device_attributes,
    next_delay,
    os_release_codename,
    steps_for,
)
from tests.unit.conftest import fake_dpkg

BASE = "https://hawkbit.example.org/DEFAULT/controller/v1/hub-1"


def _poll(**links: str) -> ControllerBase:
    return ControllerBase(300, Links(**links))


@pytest.mark.parametrize(
    ("links", "changed", "steps"),
    [
        ({}, False, ()),
        ({}, True, (Step.CONFIG_DATA,)),
        ({"config_data": f"{BASE}/configData"}, False, (Step.CONFIG_DATA,)),
        ({"deployment_base": f"{BASE}/deploymentBase/3"}, False, (Step.DEPLOYMENT,)),
        ({"cancel_action": f"{BASE}/cancelAction/3"}, False, (Step.CANCEL,)),
        (
            {"config_data": f"{BASE}/configData", "deployment_base": f"{BASE}/deploymentBase/3"},
            False,
            (Step.CONFIG_DATA, Step.DEPLOYMENT),
        ),
        (
            {"cancel_action": f"{BASE}/cancelAction/3", "deployment_base": f"{BASE}/d/3"},
            False,
            (Step.CANCEL,),
        ),
        ({"installed_base": f"{BASE}/installedBase/2"}, False, ()),
    ],
)
def test_steps_for_a_poll_answer(
    links: dict[str, str], changed: bool, steps: tuple[Step, ...]
) -> None:
    assert steps_for(_poll(**links), attributes_changed=changed) == steps


def _deployment(download: Handling, update: Handling, window: Window | None) -> Deployment:
    artifact = Artifact("bundle.tar", 3, "0" * 64, None, None, f"{BASE}/a", None)
    return Deployment(
        "7", download, update, window, (Chunk("os", "1.5.0", "picohub", (artifact,)),)
    )


S, A, F = Handling.SKIP, Handling.ATTEMPT, Handling.FORCED


@pytest.mark.parametrize(
    ("download", "update", "window", "allow", "plan"),
    [
        (F, F, None, False, Plan.INSTALL),
        (F, F, Window.AVAILABLE, False, Plan.INSTALL),
        (F, F, Window.UNAVAILABLE, True, Plan.DOWNLOAD),
        (F, S, None, True, Plan.DOWNLOAD),
        (A, A, None, False, Plan.DOWNLOAD),
        (A, A, None, True, Plan.INSTALL),
        (A, A, Window.UNAVAILABLE, True, Plan.DOWNLOAD),
        (S, F, None, True, Plan.WAIT),
        (S, S, None, True, Plan.WAIT),
    ],
)
def test_decide(
    download: Handling, update: Handling, window: Window | None, allow: bool, plan: Plan
) -> None:
    decision = decide(_deployment(download, update, window), allow_attempt=allow)
    assert decision.plan is plan
    assert decision.reason


def test_the_reasons_say_why_nothing_was_installed() -> None:
    assert (
        "maintenance window"
        in decide(_deployment(F, F, Window.UNAVAILABLE), allow_attempt=True).reason
    )
    assert "policy" in decide(_deployment(A, A, None), allow_attempt=False).reason


def test_a_cancel_is_confirmed_unless_that_install_began() -> None:
    assert cancel_answer("7", None)[:2] == (Execution.CLOSED, Finished.SUCCESS)
    assert cancel_answer("7", "6")[:2] == (Execution.CLOSED, Finished.SUCCESS)
    assert cancel_answer("7", "7")[:2] == (Execution.REJECTED, Finished.NONE)


@pytest.mark.parametrize("sleep", [None, 0, 5, 60, 300, 43200, 86399, 10**7])
def test_the_next_delay_is_jittered_and_bounded(sleep: int | None) -> None:
    rng = random.Random(1)  # noqa: S311 (jitter)
    delays = [next_delay(sleep, rng) for _ in range(500)]
    base = 300 if sleep is None else sleep
    for delay in delays:
        assert MIN_SLEEP <= delay <= MAX_SLEEP
        assert min(max(base * 0.9, MIN_SLEEP), MAX_SLEEP) <= delay
        assert delay <= max(min(base * 1.1, MAX_SLEEP), MIN_SLEEP)
    if MIN_SLEEP * 1.2 < base < MAX_SLEEP * 0.8:
        assert len({round(delay, 3) for delay in delays}) > 400  # spread, not one value


# -- the token file ----------------------------------------------------------------------


def test_the_token_is_read_from_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("0123abcd\n")
    path.chmod(0o600)
    assert read_token(path) == "0123abcd"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_token_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "token"
    path.write_text("0123abcd\n")
    path.chmod(mode)
    with pytest.raises(HawkbitError, match="others can read it") as caught:
        read_token(path)
    assert "chmod 600" in (caught.value.hint or "")


@pytest.mark.parametrize("text", ["", "\n", "two words\n", "a\x00b"])
def test_a_file_that_is_not_one_token(tmp_path: Path, text: str) -> None:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(HawkbitError, match="does not hold one token"):
        read_token(path)


def test_a_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(HawkbitError, match="does not exist"):
        read_token(tmp_path / "token")


def test_the_token_goes_to_the_server_only() -> None:
    auth = TargetTokenAuth("https://hawkbit.example.org/prefix", "secret")
    own = auth(requests.Request("GET", "https://hawkbit.example.org:443/x").prepare())
    assert own.headers["Authorization"] == "TargetToken secret"
    cdn = requests.Request(
        "GET", "https://cdn.example.org/x", headers={"Authorization": "TargetToken secret"}
    ).prepare()
    assert "Authorization" not in auth(cdn).headers
    other_port = auth(requests.Request("GET", "https://hawkbit.example.org:8443/x").prepare())
    assert "Authorization" not in other_port.headers


def test_a_server_over_plain_http_only_on_loopback() -> None:
    assert Server("http://127.0.0.1:8080", "DEFAULT", "hub").controller_url == (
        "http://127.0.0.1:8080/DEFAULT/controller/v1/hub"
    )
    with pytest.raises(HawkbitError, match="plain http"):
        Server("http://hawkbit.example.org", "DEFAULT", "hub")
    with pytest.raises(HawkbitError, match="controller id"):
        Server("https://hawkbit.example.org", "DEFAULT", "a/b")


# -- attributes --------------------------------------------------------------------------


def test_os_release_codename(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')
    assert os_release_codename(path) == "bookworm"
    path.write_text('VERSION_CODENAME="trixie"\n')
    assert os_release_codename(path) == "trixie"
    path.write_text("ID=debian\n")
    assert os_release_codename(path) == "unknown"
    assert os_release_codename(tmp_path / "missing") == "unknown"


def test_device_attributes_are_dpkgs_versions(tmp_path: Path) -> None:
    admin = fake_dpkg(tmp_path / "dpkg", picohub="1.4.2", **{"picohub-web": "1.4.2"})
    os_release = tmp_path / "os-release"
    os_release.write_text("VERSION_CODENAME=bookworm\n")
    attributes = device_attributes(admin, os_release)
    assert attributes["picohub"] == "1.4.2"
    assert attributes["picohub-web"] == "1.4.2"
    assert attributes["picohub-firmware"] == "not installed"
    assert attributes["picohub-archive-keyring"] == "not installed"
    assert attributes["debian_release"] == "bookworm"
    assert attributes["architecture"]  # dpkg's own, e.g. amd64 or arm64
    # What goosebit (SWUpdate's names) reads: the release; no board it would file us under.
    assert attributes["sw_version"] == "1.4.2"
    assert "hw_boardname" not in attributes and "hw_revision" not in attributes
    assert all(len(value) <= 128 for value in attributes.values())  # hawkBit's limit
