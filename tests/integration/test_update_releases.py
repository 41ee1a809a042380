"""``picohub-update check`` with the API: the pre-release channel, release notes, the token
and rate limits, against the fake GitHub with real signed repositories of three releases
(A installed on the device; B the latest stable release; C a newer pre-release)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from picohub import logs
from picohub.errors import ExitCode
from picohub.settings import Settings
from picohub.update.cli import main
from picohub.update.config import Channel, UpdateConfig
from picohub.update.http import RateLimited, open_session
from picohub.update.releases import PER_PAGE, ReleasesApi, check_channel
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository
from picohub_release.signing import Signer
from tests.fakegithub import FakeGitHub
from tests.integration.repo_fixtures import hub_settings, make_repository

TOKEN = "ghp_test-token-1234"
NOTES_B = "## B\n\n- the stable fix"
NOTES_C = "## C\n\n- the pre-release feature"


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


@pytest.fixture(scope="module")
def repo_c(
    release_c: Build, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    return make_repository(release_c, tmp_path_factory.mktemp("c") / "repo", signer)


def _assets(repository: Repository) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in repository.assets}


@pytest.fixture
def github(repo_a: Repository, repo_b: Repository, repo_c: Repository) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_release(f"v{repo_a.version}", _assets(repo_a), body="## A")
        fake.add_release(f"v{repo_b.version}", _assets(repo_b), body=NOTES_B)
        fake.add_release(f"v{repo_c.version}", _assets(repo_c), prerelease=True, body=NOTES_C)
        # Newer still, and never to be chosen: a draft (listed only to an authorised
        # caller; its assets cannot be had) and a tag that is not a picohub release.
        fake.add_release("v99.0.0", draft=True)
        fake.add_release("firmware-99", prerelease=True)
        yield fake


@pytest.fixture
def device(
    tmp_path: Path, repo_a: Repository, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A hub with release A installed, trusting the release key; no update.conf yet."""
    installed = dict.fromkeys(("picohub", "picohub-web", "picohub-firmware"), repo_a.version)
    return hub_settings(tmp_path, repo_a.directory / KEYRING, monkeypatch, **installed)


def _configure(
    device: Settings, github: FakeGitHub, channel: Channel, *, token: bool
) -> UpdateConfig:
    """Write update.conf as an admin would; the same settings as an UpdateConfig."""
    token_file = device.update_config.with_name("github-token") if token else None
    lines = [
        "[github]",
        f"download_url = {github.download_base}",
        f"api_url = {github.api_url}",
        "[update]",
        f"channel = {channel}",
    ]
    if token_file is not None:
        token_file.write_text(TOKEN + "\n")
        lines.insert(3, f"token_file = {token_file}")
    device.update_config.write_text("\n".join(lines) + "\n")
    return UpdateConfig(
        download_url=github.download_base,
        api_url=github.api_url,
        channel=channel,
        token_file=token_file,
    )


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every log record, the updater's and urllib3's, in caplog (also under main())."""
    logs.configure()  # main() configures nothing more once this has run...
    monkeypatch.setattr(logging.getLogger("picohub"), "propagate", True)  # ...and caplog sees it
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="picohub"):
        yield


def _api(github: FakeGitHub) -> list[tuple[str, int]]:
    prefix = f"/api/repos/{github.owner}/{github.repo}/releases"
    return [
        (r.path.removeprefix(prefix) or "/", r.status)
        for r in github.requests_log
        if r.kind == "api"
    ]


def _check_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["check", "--json"]) == ExitCode.UPDATE_AVAILABLE
    answer: dict[str, object] = json.loads(capsys.readouterr().out)
    return answer


@pytest.mark.parametrize("token", [False, True])
def test_the_prerelease_channel_checks_the_newest_prerelease_with_its_notes(
    device: Settings,
    github: FakeGitHub,
    repo_c: Repository,
    capsys: pytest.CaptureFixture[str],
    token: bool,
) -> None:
    _configure(device, github, Channel.PRERELEASE, token=token)
    answer = _check_json(capsys)
    assert (answer["version"], answer["notes"]) == (repo_c.version, NOTES_C)
    # One API call, the list's first page: its notes need no second call.
    [listed] = [r for r in github.requests_log if r.kind == "api"]
    assert (listed.path, listed.query, listed.status) == (
        f"/api/repos/{github.owner}/{github.repo}/releases",
        f"per_page={PER_PAGE}",
        200,
    )
    inrelease = [r.path for r in github.requests_log if r.path.endswith("/InRelease")]
    assert inrelease == [f"/picohub/picohub/releases/download/v{repo_c.version}/InRelease"]


def test_the_stable_channel_ignores_the_prerelease_and_lists_nothing(
    device: Settings, github: FakeGitHub, repo_b: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(device, github, Channel.STABLE, token=False)
    answer = _check_json(capsys)
    assert (answer["version"], answer["notes"]) == (repo_b.version, NOTES_B)
    # The latest release's InRelease asset says which release; the API gives only notes.
    assert _api(github) == [(f"/tags/v{repo_b.version}", 200)]


def test_the_notes_are_shown_after_the_changes(
    device: Settings, github: FakeGitHub, repo_b: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(device, github, Channel.STABLE, token=False)
    assert main(["check"]) == ExitCode.UPDATE_AVAILABLE
    out = capsys.readouterr().out
    assert out.startswith(f"release {repo_b.version} is available: picohub ")
    assert out.endswith(f"\n\nrelease notes:\n{NOTES_B}\n")


def test_an_up_to_date_stable_check_makes_no_api_call(
    device: Settings, github: FakeGitHub, repo_a: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(device, github, Channel.STABLE, token=True)
    with github.lock:  # A, installed, is the latest release
        github.releases[:] = [r for r in github.releases if r.tag_name == f"v{repo_a.version}"]
    assert main(["check", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["notes"] is None
    assert _api(github) == []


def test_a_check_with_nothing_new_is_a_free_304_when_authorised(
    device: Settings, github: FakeGitHub, repo_c: Repository
) -> None:
    config = _configure(device, github, Channel.PRERELEASE, token=True)
    with open_session() as session:
        first = check_channel(config, device, session)
        # The first check downloaded the index, and the list (on GitHub too) carries each
        # asset's download count: its ETag changed. The second check downloads nothing.
        check_channel(config, device, session)
        quota = github.rate_limit_remaining(authorized=True)
        third = check_channel(config, device, session)
    assert [status for _path, status in _api(github)] == [200, 200, 304]
    assert github.rate_limit_remaining(authorized=True) == quota
    assert (third.version, third.changes, third.notes) == (first.version, first.changes, NOTES_C)
    assert third.not_modified


def test_the_token_goes_to_the_api_only_as_a_bearer_and_into_no_log(
    device: Settings,
    github: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
    logged: None,
) -> None:
    config = _configure(device, github, Channel.PRERELEASE, token=True)
    sent: dict[str, set[str | None]] = {}

    def record(response: requests.Response, *args: object, **kwargs: object) -> None:
        kind = "api" if "/api/" in str(response.url) else "download"
        sent.setdefault(kind, set()).add(response.request.headers.get("Authorization"))

    with open_session() as session:
        session.hooks["response"].append(record)
        check_channel(config, device, session)
    assert sent == {"api": {f"Bearer {TOKEN}"}, "download": {None}}
    assert {r.authorized for r in github.requests_log if r.kind == "api"} == {True}
    assert "/releases" in caplog.text  # requests were logged...
    assert TOKEN not in caplog.text  # ...the token was not
    assert not list((device.cache_dir / "api").glob(f"*{TOKEN}*"))
    assert (device.cache_dir / "api").stat().st_mode & 0o777 == 0o700


def test_without_a_token_file_no_authorization_is_sent(
    device: Settings, github: FakeGitHub, repo_c: Repository
) -> None:
    config = _configure(device, github, Channel.PRERELEASE, token=False)
    with open_session() as session:
        assert check_channel(config, device, session).version == repo_c.version
    assert {r.authorized for r in github.requests_log} == {False}


def test_an_unreadable_token_file_is_a_configuration_error(
    device: Settings, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _configure(device, github, Channel.PRERELEASE, token=True)
    assert config.token_file is not None
    config.token_file.unlink()
    assert main(["check"]) == ExitCode.USAGE
    assert f"cannot read the token file {config.token_file}" in capsys.readouterr().err
    assert github.requests_log == []


def test_a_rate_limited_list_is_an_error_naming_when_to_retry(
    device: Settings, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(device, github, Channel.PRERELEASE, token=False)
    github.set_rate_limit(remaining=0, reset_in=1800)
    reset = datetime.fromtimestamp(int(github.now() + 1800), UTC)
    assert main(["check"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "answered 403: rate limit reached" in err
    assert f"retry after {reset:%Y-%m-%d %H:%M:%S} UTC" in err
    assert [r.path for r in github.requests_log if r.kind == "download"] == []


def test_a_429_with_retry_after_says_when(device: Settings, github: FakeGitHub) -> None:
    config = _configure(device, github, Channel.PRERELEASE, token=True)
    github.set_rate_limit(remaining=0, retry_after=120, status=429)
    before = datetime.now(UTC)
    with open_session() as session, pytest.raises(RateLimited) as raised:
        check_channel(config, device, session)
    assert raised.value.retry_at is not None
    assert before + timedelta(seconds=119) <= raised.value.retry_at
    assert raised.value.retry_at <= datetime.now(UTC) + timedelta(seconds=121)
    assert "answered 429: rate limit reached; retry after" in raised.value.message


def test_notes_that_cannot_be_had_do_not_fail_the_check(
    device: Settings,
    github: FakeGitHub,
    repo_b: Repository,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    logged: None,
) -> None:
    _configure(device, github, Channel.STABLE, token=False)
    github.set_rate_limit(remaining=0, reset_in=600)
    reset = datetime.fromtimestamp(int(github.now() + 600), UTC)
    answer = _check_json(capsys)
    assert (answer["version"], answer["notes"]) == (repo_b.version, None)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"the release notes of v{repo_b.version} are not available: ")
    assert f"rate limit reached; retry after {reset:%Y-%m-%d %H:%M:%S} UTC" in warning


def test_the_token_does_not_follow_a_redirect_to_another_host(tmp_path: Path) -> None:
    """GitHub answers a renamed repository with a redirect; the token stays with the host
    it was meant for (here 127.0.0.1 sends us to localhost, another host)."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            if self.headers["Host"].startswith("127.0.0.1"):
                self.send_response(301)
                self.send_header("Location", f"http://localhost:{port}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = ReleasesApi(f"http://127.0.0.1:{port}", "o", "r", tmp_path / "api", token=TOKEN)
        with open_session() as session:
            assert api.list_releases(session) == ()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert seen == [f"Bearer {TOKEN}", None]
