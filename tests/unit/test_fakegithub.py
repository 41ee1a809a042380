"""The fake GitHub itself: the behaviour of the real one that later tests rely on."""

from __future__ import annotations

import email.utils
import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakegithub import FakeGitHub

TOKEN = "fake-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IN_RELEASE = b"-----BEGIN PGP SIGNED MESSAGE-----\nOrigin: picohub\n" * 20
SOURCE = Path(__file__).resolve().parents[2]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        yield fake


def releases_url(github: FakeGitHub) -> str:
    return f"{github.api_url}/repos/{github.owner}/{github.repo}/releases"


def download_url(github: FakeGitHub, tag: str, name: str) -> str:
    return f"{github.download_base}/{github.owner}/{github.repo}/releases/download/{tag}/{name}"


def latest_download(github: FakeGitHub, name: str) -> str:
    return f"{github.download_base}/{github.owner}/{github.repo}/releases/latest/download/{name}"


def get(url: str, **options: object) -> requests.Response:
    return requests.get(url, timeout=10, **options)  # type: ignore[arg-type]


def test_the_releases_list_answers_304_to_its_etag(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    first = get(releases_url(github))
    etag = first.headers["ETag"]

    again = get(releases_url(github), headers={"If-None-Match": etag})
    authorized = get(releases_url(github), headers={**AUTH, "If-None-Match": etag})

    assert first.status_code == 200 and first.json()[0]["tag_name"] == "v1.0.0"
    assert again.status_code == 304 and again.content == b""
    # The same body (no drafts here) for an authorised caller: the same ETag.
    assert authorized.status_code == 304
    assert first.headers["X-RateLimit-Resource"] == "core"
    assert first.headers["X-RateLimit-Limit"] == "60"
    # A 304 costs an anonymous caller quota, an authorised one none.
    assert int(again.headers["X-RateLimit-Remaining"]) == 58
    assert again.headers["X-RateLimit-Used"] == "2"
    assert authorized.headers["X-RateLimit-Remaining"] == "5000"
    assert github.rate_limit_remaining(authorized=True) == 5000


def test_a_changed_list_has_a_new_etag(github: FakeGitHub) -> None:
    github.add_release("v1.0.0")
    etag = get(releases_url(github)).headers["ETag"]
    github.add_release("v1.0.1")

    answer = get(releases_url(github), headers={"If-None-Match": etag})

    assert answer.status_code == 200
    assert [release["tag_name"] for release in answer.json()] == ["v1.0.1", "v1.0.0"]


def test_drafts_are_listed_only_to_an_authorised_caller(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    draft = github.add_release("v1.1.0", {"InRelease": b"draft"}, draft=True)

    anonymous = get(releases_url(github)).json()
    authorized = get(releases_url(github), headers=AUTH).json()

    assert [release["tag_name"] for release in anonymous] == ["v1.0.0"]
    assert [release["tag_name"] for release in authorized] == ["v1.1.0", "v1.0.0"]
    assert authorized[0]["draft"] is True and authorized[0]["published_at"] is None
    # Never found by tag (GitHub: published releases only), by id only when authorised.
    assert get(f"{releases_url(github)}/tags/v1.1.0", headers=AUTH).status_code == 404
    assert get(f"{releases_url(github)}/tags/v1.0.0").status_code == 200
    assert get(f"{releases_url(github)}/{draft.id}").status_code == 404
    assert get(f"{releases_url(github)}/{draft.id}", headers=AUTH).status_code == 200
    # Nor downloaded anonymously.
    assert get(download_url(github, "v1.1.0", "InRelease")).status_code == 404
    assert get(download_url(github, "v1.1.0", "InRelease"), headers=AUTH).content == b"draft"


def test_latest_is_the_newest_published_non_prerelease(github: FakeGitHub) -> None:
    assert get(f"{releases_url(github)}/latest").status_code == 404
    github.add_release("v1.0.0", {"InRelease": b"one"})
    github.add_release("v1.1.0", {"InRelease": b"pre"}, prerelease=True)
    github.add_release("v1.2.0", {"InRelease": b"draft"}, draft=True)

    latest = get(f"{releases_url(github)}/latest", headers=AUTH)

    assert latest.json()["tag_name"] == "v1.0.0"
    assert get(latest_download(github, "InRelease")).content == b"one"


def test_release_and_asset_shapes(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})

    release = get(f"{releases_url(github)}/tags/v1.0.0").json()

    asset = release["assets"][0]
    assert release["upload_url"] == (
        f"{github.upload_base}/repos/picohub/picohub/releases/{release['id']}/assets{{?name,label}}"
    )
    assert release["html_url"].endswith("/picohub/picohub/releases/tag/v1.0.0")
    assert asset["digest"] == "sha256:" + hashlib.sha256(IN_RELEASE).hexdigest()
    assert asset["size"] == len(IN_RELEASE) and asset["state"] == "uploaded"
    assert asset["browser_download_url"] == download_url(github, "v1.0.0", "InRelease")
    assert get(asset["browser_download_url"]).content == IN_RELEASE


def test_pages(github: FakeGitHub) -> None:
    for number in range(3):
        github.add_release(f"v1.0.{number}")

    second = get(releases_url(github), params={"per_page": 2, "page": 2})
    first = get(releases_url(github), params={"per_page": 2})

    assert [release["tag_name"] for release in first.json()] == ["v1.0.2", "v1.0.1"]
    assert [release["tag_name"] for release in second.json()] == ["v1.0.0"]
    assert first.links["next"]["url"].endswith("per_page=2&page=2")
    assert "next" not in second.links


def test_latest_download_of_inrelease_is_conditional(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    url = latest_download(github, "InRelease")
    remaining = github.rate_limit_remaining(authorized=False)

    first = get(url)
    by_etag = get(url, headers={"If-None-Match": first.headers["ETag"]})
    by_date = get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    stale = get(url, headers={"If-None-Match": '"0000"'})

    assert first.status_code == 200 and first.content == IN_RELEASE
    assert first.headers["ETag"] == f'"{hashlib.sha256(IN_RELEASE).hexdigest()}"'
    assert first.headers["Content-Length"] == str(len(IN_RELEASE))
    assert first.headers["Accept-Ranges"] == "bytes"
    assert email.utils.parsedate_to_datetime(first.headers["Last-Modified"]) is not None
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_etag.headers["ETag"] == first.headers["ETag"]
    assert by_date.status_code == 304
    assert stale.status_code == 200
    # Downloads are not API calls.
    assert github.rate_limit_remaining(authorized=False) == remaining


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=2-5", 2, 6),
        ("bytes=10-", 10, len(IN_RELEASE)),
        ("bytes=-4", len(IN_RELEASE) - 4, len(IN_RELEASE)),
    ],
)
def test_ranges(github: FakeGitHub, header: str, start: int, end: int) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})

    answer = get(download_url(github, "v1.0.0", "InRelease"), headers={"Range": header})

    assert answer.status_code == 206
    assert answer.content == IN_RELEASE[start:end]
    assert answer.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(IN_RELEASE)}"


def test_an_unsatisfiable_range_is_416(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})

    answer = get(
        download_url(github, "v1.0.0", "InRelease"),
        headers={"Range": f"bytes={len(IN_RELEASE)}-"},
    )

    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(IN_RELEASE)}"


def test_redirected_downloads(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    github.redirect_downloads = True

    answer = get(download_url(github, "v1.0.0", "InRelease"))

    assert answer.status_code == 200 and answer.content == IN_RELEASE
    assert answer.history[0].status_code == 302
    assert "/_objects/" in answer.url


def test_a_second_release_for_a_tag_is_refused(github: FakeGitHub) -> None:
    github.add_release("v1.0.0")

    answer = requests.post(
        releases_url(github), json={"tag_name": "v1.0.0"}, headers=AUTH, timeout=10
    )

    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"
    assert answer.json()["errors"] == [
        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
    ]


def test_writes_need_a_valid_token(github: FakeGitHub) -> None:
    anonymous = requests.post(releases_url(github), json={"tag_name": "v1"}, timeout=10)
    wrong = requests.post(
        releases_url(github),
        json={"tag_name": "v1"},
        headers={"Authorization": "token wrong"},
        timeout=10,
    )
    wrong_read = get(releases_url(github), headers={"Authorization": "Bearer wrong"})

    assert anonymous.status_code == 401
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    assert wrong_read.status_code == 401
    assert github.releases == []


def create_draft(github: FakeGitHub) -> dict[str, object]:
    answer = requests.post(
        releases_url(github), json={"tag_name": "v1.0.0", "draft": True}, headers=AUTH, timeout=10
    )
    assert answer.status_code == 201
    release: dict[str, object] = answer.json()
    return release


def upload(release: dict[str, object], name: str, data: bytes) -> requests.Response:
    url = str(release["upload_url"]).removesuffix("{?name,label}")
    headers = {**AUTH, "Content-Type": "application/octet-stream"}
    return requests.post(url, params={"name": name}, data=data, headers=headers, timeout=10)


def test_uploads_and_publishing(github: FakeGitHub) -> None:
    release = create_draft(github)

    uploaded = upload(release, "picohub_1.0~rc1_all.deb", b"deb")
    duplicate = upload(release, "picohub_1.0.rc1_all.deb", b"other")
    published = requests.patch(str(release["url"]), json={"draft": False}, headers=AUTH, timeout=10)

    assert uploaded.status_code == 201
    assert uploaded.json()["name"] == "picohub_1.0.rc1_all.deb"  # renamed, as GitHub does
    assert uploaded.json()["digest"] == "sha256:" + hashlib.sha256(b"deb").hexdigest()
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["code"] == "already_exists"
    assert published.json()["draft"] is False and published.json()["published_at"]
    deleted = requests.delete(str(uploaded.json()["url"]), headers=AUTH, timeout=10)
    assert deleted.status_code == 204
    assert github.releases[0].assets == []


def test_a_short_upload_body_is_400(github: FakeGitHub) -> None:
    release = create_draft(github)
    url = requests.utils.urlparse(str(release["upload_url"]).removesuffix("{?name,label}"))
    with socket.create_connection((github.host, github.port), timeout=10) as conn:
        conn.sendall(
            f"POST {url.path}?name=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nshort".encode()
        )
        conn.shutdown(socket.SHUT_WR)
        answer = conn.recv(4096)

    assert answer.startswith(b"HTTP/1.1 400")
    assert github.releases[0].assets == []


def test_an_injected_upload_failure_happens_once(github: FakeGitHub) -> None:
    release = create_draft(github)
    github.fail_uploads_after(1)

    statuses = [upload(release, name, b"x").status_code for name in ("a", "b", "c")]

    assert statuses == [201, 500, 201]
    assert [asset.name for asset in github.releases[0].assets] == ["a", "c"]


def test_an_exhausted_rate_limit(github: FakeGitHub) -> None:
    github.set_rate_limit(remaining=0, reset_in=10)

    limited = get(releases_url(github))
    github.set_rate_limit(remaining=0, reset_in=10, retry_after=7, status=429)
    with_retry_after = get(releases_url(github), headers=AUTH)
    github.advance(11)
    after_reset = get(releases_url(github))

    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded for")
    assert "Retry-After" not in limited.headers
    assert with_retry_after.status_code == 429 and with_retry_after.headers["Retry-After"] == "7"
    assert after_reset.status_code == 200
    assert after_reset.headers["X-RateLimit-Remaining"] == "59"


def test_a_stalled_download_times_out_the_reader(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    github.stall_downloads(30)

    with requests.get(latest_download(github, "InRelease"), stream=True, timeout=0.5) as answer:
        assert answer.status_code == 200  # the headers came
        with pytest.raises(requests.ConnectionError, match="timed out"):
            b"".join(answer.iter_content(1024))


def test_an_endless_download_has_no_length_and_no_end(github: FakeGitHub) -> None:
    github.add_release("v1.0.0", {"InRelease": IN_RELEASE})
    github.endless_download("InRelease")

    with requests.get(latest_download(github, "InRelease"), stream=True, timeout=10) as answer:
        received = 0
        for chunk in answer.iter_content(65536):
            received += len(chunk)
            if received > 4 * 1024 * 1024:
                break

    assert "Content-Length" not in answer.headers
    assert received > 4 * 1024 * 1024


def test_it_runs_as_a_process_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    command = [sys.executable, "-m", "tests.fakegithub", "--port", "0", "--token", TOKEN]
    with subprocess.Popen(command, cwd=SOURCE, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            base = proc.stdout.readline().strip()
            answer = get(f"{base}/api/repos/picohub/picohub/releases", headers=AUTH)
            assert answer.status_code == 200 and answer.json() == []
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert base.startswith("http://127.0.0.1:")
