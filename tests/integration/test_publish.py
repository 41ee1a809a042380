"""Publishing a release against the fake GitHub: draft first, idempotent, never a half release."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from picohub.errors import PicohubError, UsageError
from picohub_release.github import GitHubClient, GitHubRepo
from picohub_release.publish import AssetInfo, Release, content_type, publish_release
from tests.fakegithub import FakeGitHub, LoggedRequest, ReleaseRecord

TOKEN = "ghp_fakeTOKENforPublishTests0123456789"
TAG = "v1.2.3"
NOTES = "* Faster updates.\n* Fewer bugs."
NAMES = (
    "picohub_1.2.3_all.deb",
    "picohub-web_1.2.3_all.deb",
    "picohub-firmware_1.2.3_all.deb",
    "Packages",
    "Packages.gz",
    "Release",
    "InRelease",
    "Release.gpg",
    "SHA256SUMS",
    "picohub-archive-keyring.gpg",
    "picohub-archive-keyring.asc",
)
WRITES = ("POST", "PATCH", "DELETE")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def repo(github: FakeGitHub) -> GitHubRepo:
    return GitHubRepo(github.owner, github.repo, api_url=github.api_url, token=TOKEN)


def write_assets(directory: Path, variant: str = "") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, name in enumerate(NAMES):
        path = directory / name
        path.write_bytes(f"{name} {variant}\n".encode() * (50 + number * 40))
        paths.append(path)
    return paths


@pytest.fixture
def assets(tmp_path: Path) -> list[Path]:
    return write_assets(tmp_path / "repo")


def digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def publish(repo: GitHubRepo, assets: list[Path], tag: str = TAG, **options: Any) -> Release:
    return publish_release(
        repo, tag=tag, title=f"picohub {tag}", notes=NOTES, assets=assets, **options
    )


def writes(log: list[LoggedRequest]) -> list[LoggedRequest]:
    return [entry for entry in log if entry.method in WRITES]


def uploads(log: list[LoggedRequest]) -> list[LoggedRequest]:
    return [entry for entry in log if entry.kind == "upload"]


def assert_complete(github: FakeGitHub, assets: list[Path]) -> ReleaseRecord:
    """Exactly one release, published, holding exactly these files."""
    assert len(github.releases) == 1
    release = github.releases[0]
    assert release.tag_name == TAG and not release.draft and release.published_at is not None
    names = [asset.name for asset in release.assets]
    assert sorted(names) == sorted(path.name for path in assets)  # and no duplicates
    for path in assets:
        stored = release.asset(path.name)
        assert stored is not None
        assert stored.data == path.read_bytes()
        assert stored.digest == digest(path)
    return release


class Sleeper:
    """An injected sleep that records the waits and moves the fake's clock instead."""

    def __init__(self, github: FakeGitHub) -> None:
        self.github = github
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.github.advance(seconds)


def test_a_release_is_uploaded_as_a_draft_and_then_published(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    draft_during_upload: list[bool] = []
    github.on_upload = lambda release, asset: draft_during_upload.append(release.draft)

    release = publish_release(
        repo, tag=TAG, title="picohub 1.2.3", notes=NOTES, assets=assets, prerelease=False
    )

    stored = assert_complete(github, assets)
    assert draft_during_upload == [True] * len(assets)
    assert stored.name == "picohub 1.2.3" and stored.body == NOTES and not stored.prerelease
    assert not release.draft and release.tag == TAG and release.id == stored.id
    assert release.html_url.endswith(f"/releases/tag/{TAG}")
    assert release.assets == tuple(
        sorted(
            (AssetInfo(path.name, path.stat().st_size, digest(path)) for path in assets),
            key=lambda info: info.name,
        )
    )
    # Created as a draft, every upload before the one PATCH that publishes.
    changes = writes(github.requests_log)
    assert changes[0].path.endswith("/releases") and changes[0].method == "POST"
    assert [entry.method for entry in changes[-1:]] == ["PATCH"]
    assert len(uploads(changes)) == len(assets)
    assert all(entry.authorized for entry in github.requests_log)
    keyring = stored.asset("picohub-archive-keyring.gpg")
    deb = stored.asset("picohub_1.2.3_all.deb")
    assert keyring is not None and keyring.content_type == "application/pgp-keys"
    assert deb is not None and deb.content_type == "application/vnd.debian.binary-package"


def test_publishing_the_same_release_again_changes_nothing(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    first = publish(repo, assets)
    published_at = github.releases[0].published_at
    github.requests_log.clear()

    again = publish(repo, assets)

    assert again == first
    assert writes(github.requests_log) == []
    assert [entry.method for entry in github.requests_log] == ["GET"]
    assert github.releases[0].published_at == published_at
    assert_complete(github, assets)


def test_a_failed_upload_leaves_a_draft_that_a_rerun_completes(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.fail_uploads_after(2)

    with pytest.raises(PicohubError, match="500"):
        publish(repo, assets)

    assert len(github.releases) == 1
    draft = github.releases[0]
    assert draft.draft and draft.published_at is None
    assert len(draft.assets) == 2
    github.requests_log.clear()

    publish(repo, assets)

    assert_complete(github, assets)
    assert len(uploads(github.requests_log)) == len(assets) - 2
    assert not any(entry.method == "DELETE" for entry in github.requests_log)
    assert not any(
        entry.path.endswith("/releases") and entry.method == "POST" for entry in github.requests_log
    )


def test_a_stale_asset_in_the_draft_is_replaced_and_strays_removed(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.add_release(
        TAG, {"Packages": b"stale index\n", "leftover.txt": b"from an older attempt\n"}, draft=True
    )

    publish(repo, assets)

    release = assert_complete(github, assets)
    packages = release.asset("Packages")
    assert packages is not None and packages.data != b"stale index\n"
    assert len([entry for entry in github.requests_log if entry.method == "DELETE"]) == 2


def test_extra_drafts_for_the_tag_are_removed(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.add_release(TAG, {}, draft=True)
    github.add_release(TAG, {"Release": (assets[5]).read_bytes()}, draft=True)

    publish(repo, assets)

    assert_complete(github, assets)


def test_a_published_release_with_other_assets_is_refused(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path], tmp_path: Path
) -> None:
    publish(repo, assets)
    github.requests_log.clear()
    rebuilt = write_assets(tmp_path / "rebuilt", variant="rebuilt")

    with pytest.raises(PicohubError) as caught:
        publish(repo, rebuilt)

    assert "already published" in caught.value.message
    assert "Packages differs" in caught.value.message
    assert caught.value.hint is not None and "bump the version" in caught.value.hint
    assert writes(github.requests_log) == []
    assert_complete(github, assets)


def test_a_published_release_missing_an_asset_is_refused(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    publish(repo, assets[:-1])

    with pytest.raises(PicohubError, match=f"{assets[-1].name} is missing"):
        publish(repo, assets)


def test_a_rate_limit_is_waited_out(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.set_rate_limit(remaining=0, reset_in=2, authorized=True)
    sleeper = Sleeper(github)

    publish(repo, assets, sleep=sleeper)

    assert len(sleeper.slept) == 1 and 1 <= sleeper.slept[0] <= 4
    assert github.requests_log[0].status == 403
    assert_complete(github, assets)


def test_a_retry_after_answer_is_waited_out(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.set_rate_limit(remaining=0, reset_in=5, retry_after=5, status=429, authorized=True)
    sleeper = Sleeper(github)

    publish(repo, assets, sleep=sleeper)

    assert sleeper.slept == [5.0]
    assert_complete(github, assets)


def test_a_rate_limit_beyond_the_bound_names_the_reset_time(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.set_rate_limit(remaining=0, reset_in=3600, authorized=True)
    answer = requests.get(
        f"{github.api_url}/repos/{github.owner}/{github.repo}/releases",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    reset = datetime.fromtimestamp(int(answer.headers["X-RateLimit-Reset"]), UTC)
    sleeper = Sleeper(github)

    with pytest.raises(PicohubError) as caught:
        publish(repo, assets, sleep=sleeper, max_wait=120)

    assert answer.status_code == 403
    assert sleeper.slept == []
    assert "rate limit" in caught.value.message
    assert reset.strftime("%Y-%m-%d %H:%M:%S UTC") in caught.value.message
    assert caught.value.hint is not None and "retry after" in caught.value.hint
    assert github.releases == []


def test_waits_add_up_to_at_most_max_wait(github: FakeGitHub, repo: GitHubRepo) -> None:
    github.set_rate_limit(remaining=0, reset_in=100, retry_after=50, authorized=True)
    slept: list[float] = []  # a sleep that does not move the clock: the limit stays

    with pytest.raises(PicohubError, match="rate limit"):
        GitHubClient(repo, sleep=slept.append, max_wait=120).list_releases()

    assert slept == [50.0, 50.0]


def test_the_token_never_shows(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    messages = []

    publish(repo, assets)
    github.set_rate_limit(remaining=0, reset_in=3600, authorized=True)
    with pytest.raises(PicohubError) as rate_limited:
        publish(repo, write_assets(assets[0].parent.parent / "other", "other"), max_wait=0)
    messages.append(str(rate_limited.value))
    wrong = GitHubRepo(github.owner, github.repo, api_url=github.api_url, token=TOKEN + "x")
    with pytest.raises(PicohubError) as bad_token:
        publish(wrong, assets)
    messages.append(str(bad_token.value))

    assert "publishing release" in caplog.text  # the steps are logged...
    assert TOKEN not in caplog.text  # ...and the token is not
    for text in (*messages, repr(repo), repr(wrong), repr(GitHubClient(repo))):
        assert TOKEN not in text
    assert "token=" not in repr(repo)


def test_a_wrong_token_is_a_clear_error(github: FakeGitHub, assets: list[Path]) -> None:
    wrong = GitHubRepo(github.owner, github.repo, api_url=github.api_url, token=TOKEN[::-1])

    with pytest.raises(PicohubError) as caught:
        publish(wrong, assets)

    assert "401" in caught.value.message and "Bad credentials" in caught.value.message
    assert "/releases" in caught.value.message
    assert caught.value.hint is not None and "token" in caught.value.hint
    assert github.releases == []


def test_publishing_needs_a_token(github: FakeGitHub, assets: list[Path]) -> None:
    anonymous = GitHubRepo(github.owner, github.repo, api_url=github.api_url)

    with pytest.raises(UsageError, match="token"):
        publish(anonymous, assets)

    assert github.requests_log == []


@pytest.mark.parametrize("name", ["picohub_1.2.3~rc1_all.deb", "picohub_1:1.2_all.deb", ".hidden"])
def test_an_asset_name_github_would_rename_is_refused(
    github: FakeGitHub, repo: GitHubRepo, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")

    with pytest.raises(UsageError, match="rename"):
        publish(repo, [path])

    assert github.requests_log == []


def test_two_assets_with_one_name_are_refused(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path], tmp_path: Path
) -> None:
    other = write_assets(tmp_path / "other")

    with pytest.raises(UsageError, match="two assets"):
        publish(repo, [assets[0], other[0]])


def latest_tag(github: FakeGitHub) -> str | None:
    """What the hubs follow: the tag behind .../releases/latest/download/."""
    answer = requests.get(
        f"{github.download_base}/{github.owner}/{github.repo}/releases/latest/download/InRelease",
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.status_code
    latest = github.latest()
    assert latest is not None
    stored = latest.asset("InRelease")
    assert stored is not None and stored.data == answer.content
    return latest.tag_name


def test_a_hotfix_of_an_older_line_published_later_does_not_become_latest(
    github: FakeGitHub, repo: GitHubRepo, tmp_path: Path
) -> None:
    publish(repo, write_assets(tmp_path / "new", "1.3.0"), tag="v1.3.0")
    assert latest_tag(github) == "v1.3.0"

    publish(repo, write_assets(tmp_path / "old", "1.2.9"), tag="v1.2.9")

    # GitHub's default would make v1.2.9 latest: every hub would refuse it as a downgrade.
    assert latest_tag(github) == "v1.3.0"
    publish(repo, write_assets(tmp_path / "next", "1.3.1"), tag="v1.3.1")
    assert latest_tag(github) == "v1.3.1"
    assert [release.tag_name for release in github.releases if not release.draft] == [
        "v1.3.0",
        "v1.2.9",
        "v1.3.1",
    ]


def test_a_prerelease_never_becomes_latest(
    github: FakeGitHub, repo: GitHubRepo, tmp_path: Path
) -> None:
    publish(repo, write_assets(tmp_path / "stable", "1.3.0"), tag="v1.3.0")

    publish(repo, write_assets(tmp_path / "rc", "1.4.0-rc1"), tag="v1.4.0-rc1", prerelease=True)

    assert latest_tag(github) == "v1.3.0"


def test_the_fake_makes_a_published_release_latest_by_default_as_github_does(
    github: FakeGitHub, repo: GitHubRepo
) -> None:
    client = GitHubClient(repo)
    client.create_release(tag="v2.0.0", name="2", body="", draft=False, prerelease=False)
    older = client.create_release(tag="v1.0.0", name="1", body="", draft=True, prerelease=False)
    github.add_release("v0.9.0")  # seeded: GitHub's legacy choice would be the newest

    client.update_release(int(older["id"]), {"draft": False})

    latest = github.latest()
    assert latest is not None and latest.tag_name == "v1.0.0"


def test_a_tag_burnt_by_a_deleted_immutable_release_is_named_in_full(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.immutable_releases = True
    first = publish(repo, assets)
    assert github.releases[0].immutable
    GitHubClient(repo).delete_release(first.id)

    with pytest.raises(PicohubError) as caught:
        publish(repo, assets)

    assert "422" in caught.value.message
    assert "tag_name was used by an immutable release" in caught.value.message
    assert caught.value.hint is not None and "release a new version" in caught.value.hint
    assert github.releases == []


def test_an_immutable_release_published_again_with_the_same_assets_is_a_no_op(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.immutable_releases = True
    first = publish(repo, assets)
    github.requests_log.clear()

    assert publish(repo, assets) == first
    assert writes(github.requests_log) == []


def test_a_digest_still_null_right_after_upload_is_read_again(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.delay_digests(2)  # the upload's answer and the first read again
    sleeper = Sleeper(github)

    publish(repo, assets, sleep=sleeper)

    assert_complete(github, assets)
    assert sleeper.slept == [1.0, 2.0] * len(assets)


def test_a_digest_that_never_comes_leaves_the_release_a_draft(
    github: FakeGitHub, repo: GitHubRepo, assets: list[Path]
) -> None:
    github.delay_digests(100)
    sleeper = Sleeper(github)

    with pytest.raises(PicohubError, match=r"no digest for .* after 5 reads") as caught:
        publish(repo, assets, sleep=sleeper)

    assert caught.value.hint is not None and "run the publication again" in caught.value.hint
    assert sleeper.slept == [1.0, 2.0, 4.0, 8.0]
    assert len(github.releases) == 1 and github.releases[0].draft


def test_content_types() -> None:
    assert content_type("picohub_1.0_all.deb") == "application/vnd.debian.binary-package"
    assert content_type("Packages.gz") == "application/gzip"
    assert content_type("Release.gpg") == "application/pgp-signature"
    assert content_type("InRelease") == "text/plain"
    assert content_type("picohub-archive-keyring.asc") == "application/pgp-keys"
    assert content_type("firmware.uf2") == "application/octet-stream"
