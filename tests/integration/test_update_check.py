"""``picohub-update check`` and ``fetch`` against a local server answering like GitHub,
with real signed repositories of two releases and a device whose dpkg has release A."""

from __future__ import annotations

import hashlib
import socket
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.repository import RepositoryError
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.trigger import Action, TriggerReply, TriggerRequest, decode_reply
from picohub.update import cli, trigger_service
from picohub.update.available import read_available
from picohub.update.check import check
from picohub.update.cli import main
from picohub.update.config import UpdateConfig
from picohub.update.fetch import fetch
from picohub.update.http import DownloadError, open_session
from picohub.update.status import Phase, read_status
from picohub.update.timefloor import TimeFloor
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import Signer
from tests.fakegithub import FakeGitHub
from tests.integration.fetch_servers import answer, odd_server
from tests.integration.repo_fixtures import hub_settings, make_repository, make_signer


@pytest.fixture(scope="module")
def repo_a(
    release_a: Build, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    return make_repository(release_a, tmp_path_factory.mktemp("a") / "repo", signer)


@pytest.fixture(scope="module")
def repo_b(
    release_b: Build, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    return make_repository(release_b, tmp_path_factory.mktemp("b") / "repo", signer)


def _assets(repository: Repository) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in repository.assets}


@pytest.fixture
def github(repo_a: Repository, repo_b: Repository) -> FakeGitHub:
    fake = FakeGitHub()
    fake.start()
    fake.add_release(f"v{repo_a.version}", _assets(repo_a))
    fake.add_release(f"v{repo_b.version}", _assets(repo_b))
    yield fake  # type: ignore[misc]
    fake.stop()


@pytest.fixture
def device(
    tmp_path: Path, repo_a: Repository, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A hub with release A installed (all three packages), trusting the release key."""
    installed = dict.fromkeys(("picohub", "picohub-web", "picohub-firmware"), repo_a.version)
    config = tmp_path / "update.conf"
    config.write_text(
        f"[github]\ndownload_url = {github.download_base}\napi_url = {github.api_url}\n"
    )
    return hub_settings(tmp_path, repo_a.directory / KEYRING, monkeypatch, **installed)


def _config(github: FakeGitHub) -> UpdateConfig:
    return UpdateConfig(download_url=github.download_base, api_url=github.api_url)


def test_check_finds_the_newer_release_and_what_changes(
    device: Settings, github: FakeGitHub, repo_b: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == ExitCode.UPDATE_AVAILABLE
    out = capsys.readouterr().out
    assert f"release {repo_b.version} is available" in out
    assert f"picohub {repo_b.version.rsplit('.', 1)[0]}" in out
    # The release is found through its assets; the API is asked for its notes only.
    api = [r.path for r in github.requests_log if r.kind == "api"]
    assert api == [f"/api/repos/picohub/picohub/releases/tags/v{repo_b.version}"]
    # The system page shows what the shell found.
    available = read_available(device)
    assert available is not None
    assert (available.version, available.update_available) == (repo_b.version, True)


def test_a_second_check_is_a_304(device: Settings, github: FakeGitHub) -> None:
    with open_session() as session:
        first = check(_config(github), device, session)
        second = check(_config(github), device, session)
    assert (first.not_modified, second.not_modified) == (False, True)
    inrelease = [r for r in github.requests_log if r.path.endswith("/InRelease")]
    assert [r.status for r in inrelease] == [200, 304]
    assert second.version == first.version and second.changes == first.changes


def test_check_says_up_to_date_when_nothing_newer(
    device: Settings, github: FakeGitHub, repo_a: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    with github.lock:
        github.releases[:] = [r for r in github.releases if r.tag_name == f"v{repo_a.version}"]
    assert main(["check"]) == ExitCode.OK
    assert "up to date" in capsys.readouterr().out


def test_fetch_downloads_only_what_changes_and_verifies_it(
    device: Settings, github: FakeGitHub, repo_b: Repository
) -> None:
    assert main(["fetch"]) == ExitCode.OK
    cached = device.cache_dir / "releases" / repo_b.version
    for deb in repo_b.directory.glob("*.deb"):
        assert (
            hashlib.sha256((cached / deb.name).read_bytes()).digest()
            == hashlib.sha256(deb.read_bytes()).digest()
        )
    status = read_status(device.update_status)
    assert (status.phase, status.target) == (Phase.DOWNLOADED, repo_b.version)
    # Fetching again downloads nothing.
    before = len([r for r in github.requests_log if r.path.endswith(".deb")])
    assert main(["fetch"]) == ExitCode.OK
    assert len([r for r in github.requests_log if r.path.endswith(".deb")]) == before


def test_an_index_signed_by_another_key_is_refused_and_nothing_cached(
    device: Settings,
    github: FakeGitHub,
    release_b: Build,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = make_repository(release_b, tmp_path / "foreign", make_signer(tmp_path / "k"))
    with github.lock:
        github.releases.clear()
    github.add_release("v9.9.9", _assets(foreign))
    assert main(["fetch"]) == ExitCode.FAILURE
    assert "InRelease is not signed by a key in" in capsys.readouterr().err
    assert not (device.cache_dir / "releases").exists()
    assert read_status(device.update_status).phase == Phase.FAILED


def test_packages_from_another_release_are_refused(
    device: Settings,
    github: FakeGitHub,
    repo_a: Repository,
    repo_b: Repository,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Mix and match: B's signed InRelease served with A's (also signed) Packages.
    mixed = _assets(repo_b) | {"Packages": (repo_a.directory / "Packages").read_bytes()}
    with github.lock:
        github.releases.clear()
    github.add_release("v9.9.9", mixed)
    assert main(["check"]) == ExitCode.FAILURE
    assert "Packages" in capsys.readouterr().err


def test_a_tampered_package_is_refused_and_not_cached(
    device: Settings, github: FakeGitHub, repo_b: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    assets = _assets(repo_b)
    name = next(n for n in assets if n.startswith("picohub_"))
    assets[name] = bytes(len(assets[name]))
    with github.lock:
        github.releases.clear()
    github.add_release("v9.9.9", assets)
    assert main(["fetch"]) == ExitCode.FAILURE
    assert "SHA-256" in capsys.readouterr().err
    cached = device.cache_dir / "releases" / repo_b.version
    assert not (cached / name).exists()
    assert not list(cached.glob("*.part"))


def test_a_missing_keyring_is_a_clear_refusal(
    device: Settings,
    github: FakeGitHub,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOHUB_ARCHIVE_KEYRING", "/nonexistent/keyring.gpg")
    assert main(["check"]) == ExitCode.FAILURE
    assert "the keyring /nonexistent/keyring.gpg does not exist" in capsys.readouterr().err


def test_a_bad_configuration_is_a_usage_error(
    device: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    device.update_config.write_text("[update]\nchanel = stable\n")
    assert main(["check"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "unknown setting 'chanel' in [update]" in err and "hint: known: channel" in err


def test_a_package_over_the_download_limit_is_refused(
    device: Settings, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    device.update_config.write_text(
        device.update_config.read_text() + "[update]\nmax_download_bytes = 1000\n"
    )
    assert main(["fetch"]) == ExitCode.FAILURE
    assert "more than the 1000 max_download_bytes allows" in capsys.readouterr().err
    assert not list((device.cache_dir / "releases").glob("*/*.deb"))


def test_a_version_that_is_not_plain_is_refused(
    device: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["fetch", "../../../etc/x"])
    assert stopped.value.code == 2
    assert "is not a release version" in capsys.readouterr().err
    assert not (device.cache_dir / "index").exists()


def test_a_tag_whose_index_is_another_release_is_refused(
    device: Settings, github: FakeGitHub, repo_a: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    # Release 7.7.7 served with release A's (validly signed) index.
    github.add_release("v7.7.7", _assets(repo_a))
    assert main(["fetch", "7.7.7"]) == ExitCode.FAILURE
    assert f"asked for release v7.7.7, but its signed index is release {repo_a.version}" in (
        capsys.readouterr().err
    )


def test_fetch_reports_its_progress_up_to_the_whole(device: Settings, github: FakeGitHub) -> None:
    heard: list[float] = []
    with open_session() as session:
        result = check(_config(github), device, session)
        fetched = fetch(result, device, session, progress=heard.append)
    assert heard == sorted(heard) and heard[-1] == 1.0
    assert len(heard) >= len(fetched.debs)  # at least once per package


def test_a_replayed_old_release_as_the_latest_is_refused(
    device: Settings, github: FakeGitHub, repo_a: Repository, repo_b: Repository
) -> None:
    with open_session() as session:
        assert check(_config(github), device, session).version == repo_b.version
        # The server now offers release A's signed index as the latest: a replay.
        github.add_release("v9.9.9", _assets(repo_a))
        with pytest.raises(RepositoryError, match="older than release") as refused:
            check(_config(github), device, session)
    assert repo_a.version in str(refused.value) and repo_b.version in str(refused.value)


def test_a_release_dated_implausibly_far_ahead_is_reported_and_moves_no_floor(
    device: Settings,
    github: FakeGitHub,
    release_b: Build,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    far = datetime.now(UTC) + timedelta(days=800)
    future = write_repository(
        release_b.debs, tmp_path / "future", signer, version=release_b.version, date=far
    )
    with github.lock:
        github.releases.clear()
    github.add_release(f"v{release_b.version}", _assets(future))
    assert main(["check"]) == ExitCode.UPDATE_AVAILABLE
    said = capsys.readouterr().out
    assert f"it is not installed automatically: it is dated {far:%Y-%m-%d}" in said
    assert "more than 365 days after the hub's time floor" in said
    answer = read_available(device)
    assert answer is not None and answer.date_refusal is not None
    assert TimeFloor(device).now() < far - timedelta(days=700)  # the floor did not move


def _serve_only(github: FakeGitHub, *repositories: Repository) -> None:
    """The fake's releases are now these (the last is latest)."""
    with github.lock:
        github.releases.clear()
    for repository in repositories:
        github.add_release(f"v{repository.version}", _assets(repository))


def _signed(
    build: Build, signer: Signer, where: Path, ago: timedelta, valid_for: timedelta | None = None
) -> Repository:
    return write_repository(
        build.debs,
        where,
        signer,
        version=build.version,
        date=datetime.now(UTC) - ago,
        valid_for=valid_for,
    )


def test_an_expired_latest_release_is_refused_as_a_freeze_but_asked_for_by_version_works(
    device: Settings, github: FakeGitHub, release_b: Build, signer: Signer, tmp_path: Path
) -> None:
    stale = _signed(release_b, signer, tmp_path / "stale", timedelta(days=10), timedelta(days=7))
    _serve_only(github, stale)
    with open_session() as session:
        with pytest.raises(RepositoryError) as refused:
            check(_config(github), device, session)
        # An explicit version is not "the latest": its age is no freeze.
        by_version = check(_config(github), device, session, tag=f"v{release_b.version}")
    expired_on = datetime.now(UTC) - timedelta(days=3)
    assert "the release channel has not been re-signed since" in refused.value.message
    assert f"{release_b.version}, expired on {expired_on:%Y-%m-%d}" in refused.value.message
    assert "(3 days ago)" in refused.value.message
    assert refused.value.hint is not None and "--valid-for" in refused.value.hint
    assert by_version.version == release_b.version


def test_a_release_still_valid_is_taken(
    device: Settings, github: FakeGitHub, release_b: Build, signer: Signer, tmp_path: Path
) -> None:
    fresh = _signed(release_b, signer, tmp_path / "fresh", timedelta(days=1), timedelta(days=7))
    _serve_only(github, fresh)
    with open_session() as session:
        assert check(_config(github), device, session).version == release_b.version


def test_an_older_signature_of_the_latest_release_is_refused_as_a_replay(
    device: Settings,
    github: FakeGitHub,
    release_b: Build,
    release_c: Build,
    signer: Signer,
    tmp_path: Path,
) -> None:
    first = _signed(release_b, signer, tmp_path / "first", timedelta(days=2))
    again = _signed(release_b, signer, tmp_path / "again", timedelta(hours=1))
    with open_session() as session:
        _serve_only(github, again)  # the channel re-signed: the newest signature seen
        assert check(_config(github), device, session).version == release_b.version
        _serve_only(github, first)
        with pytest.raises(RepositoryError, match="an old signature replayed") as refused:
            check(_config(github), device, session)
        # A newer version signed earlier than that is no replay.
        older_date = _signed(release_c, signer, tmp_path / "newer", timedelta(days=3))
        _serve_only(github, older_date)
        assert check(_config(github), device, session).version == release_c.version
    assert f"{datetime.now(UTC) - timedelta(days=2):%Y-%m-%d}" in refused.value.message
    assert refused.value.hint is not None and "replaying" in refused.value.hint


def _portal(handler: BaseHTTPRequestHandler) -> None:
    """A captive portal: every address answers 200 with its login page."""
    page = b"<html><body>Welcome! Log in to the guest Wi-Fi.</body></html>"
    answer(handler, 200, page, {"Content-Type": "text/html", "ETag": '"portal"'})


def test_a_captive_portals_page_never_replaces_the_verified_index(
    device: Settings, github: FakeGitHub, repo_b: Repository
) -> None:
    with open_session() as session:
        assert check(_config(github), device, session).version == repo_b.version
        index = device.cache_dir / "index" / "latest"
        kept = {path.name: path.read_bytes() for path in index.iterdir()}
        with odd_server(_portal) as (portal, seen):
            behind_portal = UpdateConfig(download_url=portal, api_url=github.api_url)
            with pytest.raises(DownloadError) as refused:
                check(behind_portal, device, session)
        assert seen, "the portal was asked"
        assert refused.value.message == (
            "the network answered with a web page instead of the release's InRelease:"
            " is the hub behind a captive portal?"
        )
        # Nothing it said was kept: not the page, and not its ETag for the next request.
        assert {path.name: path.read_bytes() for path in index.iterdir()} == kept
        again = check(_config(github), device, session)
    assert (again.version, again.not_modified) == (repo_b.version, True)


def _ask_trigger(settings: Settings, request: TriggerRequest) -> TriggerReply:
    app_side, root_side = socket.socketpair()
    with app_side, root_side:
        app_side.sendall(request.encode())
        trigger_service.serve_connection(root_side, settings)
        return decode_reply(app_side.recv(1 << 18).strip())


def test_a_check_from_the_page_ends_within_its_deadline_however_many_files_it_takes(
    device: Settings, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page waits a bounded time for the trigger's answer. Each file here arrives well
    # within its own bounds, but the index and its Packages together overrun the check's.
    monkeypatch.setattr(trigger_service, "CHECK_DEADLINE_S", 1.0)
    monkeypatch.setattr(trigger_service, "is_running", lambda: False)
    github.stall_downloads(0.6)
    started = time.monotonic()
    reply = _ask_trigger(device, TriggerRequest(Action.CHECK))
    elapsed = time.monotonic() - started
    assert (reply.ok, reply.error) == (False, "failed")
    assert "timed out: a check may take 1 s in all" in reply.message
    assert elapsed < 2.0
    assert read_available(device) is None  # the page keeps showing the last good check

    github.stall_downloads(0)  # the lock was let go: the next check goes through
    assert _ask_trigger(device, TriggerRequest(Action.CHECK)).ok
    assert read_available(device) is not None


def test_fetch_downloads_only_the_packages_that_change(
    tmp_path: Path,
    github: FakeGitHub,
    repo_a: Repository,
    repo_b: Repository,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only picohub is behind: web, firmware and the keyring are at release B already.
    hub = hub_settings(
        tmp_path,
        repo_a.directory / KEYRING,
        monkeypatch,
        picohub=repo_a.version,
        **{name: repo_b.version for name in RELEASE_PACKAGES if name != "picohub"},
    )
    hub.update_config.write_text(
        f"[github]\ndownload_url = {github.download_base}\napi_url = {github.api_url}\n"
    )
    assert main(["fetch"]) == ExitCode.OK
    debs = [r.path.rsplit("/", 1)[1] for r in github.requests_log if r.path.endswith(".deb")]
    assert [name.split("_")[0] for name in debs] == ["picohub"]
    cached = hub.cache_dir / "releases" / repo_b.version
    assert [path.name for path in cached.glob("*.deb")] == debs


def test_a_fetch_stopped_with_ctrl_c_is_recorded_as_failed(
    device: Settings, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pressed_ctrl_c(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # as Python raises it while the packages download

    monkeypatch.setattr(cli, "fetch", pressed_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        main(["fetch"])
    status = read_status(device.update_status)
    assert (status.phase, status.message) == (Phase.FAILED, "the fetch was interrupted")


def _phased(build: Build, signer: Signer, where: Path, phase: int) -> Repository:
    return write_repository(build.debs, where, signer, version=build.version, phase=phase)


def test_a_halted_release_is_said_exits_0_and_can_still_be_fetched_by_version(
    device: Settings,
    github: FakeGitHub,
    release_b: Build,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setenv("PICOHUB_MACHINE_ID", str(tmp_path / "machine-id"))
    _serve_only(github, _phased(release_b, signer, tmp_path / "halted", 0))
    assert main(["check"]) == ExitCode.OK
    said = capsys.readouterr().out
    assert f"release {release_b.version} is available" in said
    assert "it is phased: the release is halted (phased at 0%); this hub's turn comes at" in said
    answer = read_available(device)
    assert answer is not None and answer.update_available and not answer.offered_here
    assert answer.phasing is not None and answer.phasing.percentage == 0
    # A person's choice is not phased.
    assert main(["fetch", release_b.version]) == ExitCode.OK


def test_a_hub_without_a_machine_id_takes_a_phased_release_only_at_100_percent(
    device: Settings,
    github: FakeGitHub,
    release_b: Build,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PICOHUB_MACHINE_ID", str(tmp_path / "missing"))
    _serve_only(github, _phased(release_b, signer, tmp_path / "at99", 99))
    assert main(["check"]) == ExitCode.OK
    said = capsys.readouterr().out
    assert "not this hub's turn yet (bucket 99, the release is at 99%)" in said
    assert "this hub's turn comes at 100% (no /etc/machine-id: the last bucket)" in said
    _serve_only(github, _phased(release_b, signer, tmp_path / "at100", 100))
    assert main(["check"]) == ExitCode.UPDATE_AVAILABLE
