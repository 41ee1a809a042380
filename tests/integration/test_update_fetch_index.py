"""Fetching the signed index as the device does: conditionally (ETag, date), replaced by
rename, bounded, against the fake GitHub and odd servers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from picohub.update.http import (
    DownloadError,
    Limits,
    RateLimited,
    fetch_conditional,
)
from tests.fakegithub import FakeGitHub
from tests.integration import fetch_servers
from tests.integration.fetch_servers import (
    IN_RELEASE,
    LIMITS,
    latest,
    statuses,
)

github = fetch_servers.github  # the fixtures
session = fetch_servers.session


def test_an_unchanged_index_answers_304_to_its_etag(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    first = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    assert first.status == "fetched" and first.path == target
    assert target.read_bytes() == IN_RELEASE and first.size == len(IN_RELEASE)
    assert first.etag == f'"{hashlib.sha256(IN_RELEASE).hexdigest()}"'
    before = target.stat().st_mtime_ns

    again = fetch_conditional(
        session, latest(github, "InRelease"), target, limits=LIMITS, etag=first.etag
    )
    assert again.status == "not-modified" and again.path is None and again.size == 0
    assert again.etag == first.etag
    assert target.stat().st_mtime_ns == before and target.read_bytes() == IN_RELEASE
    assert statuses(github) == [200, 304]


def test_an_unchanged_index_answers_304_to_its_date(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    first = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    assert first.last_modified is not None

    again = fetch_conditional(
        session,
        latest(github, "InRelease"),
        target,
        limits=LIMITS,
        last_modified=first.last_modified,
    )
    assert again.status == "not-modified"
    assert again.last_modified == first.last_modified
    assert statuses(github) == [200, 304]


def test_validators_are_not_sent_for_a_file_we_no_longer_have(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    etag = f'"{hashlib.sha256(IN_RELEASE).hexdigest()}"'
    fetched = fetch_conditional(
        session, latest(github, "InRelease"), tmp_path / "InRelease", limits=LIMITS, etag=etag
    )
    assert fetched.status == "fetched" and statuses(github) == [200]


def test_a_new_index_replaces_the_old_one_by_rename(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    old = fetch_conditional(session, latest(github, "InRelease"), target, limits=LIMITS)
    newer = b"-----BEGIN PGP SIGNED MESSAGE-----\nVersion: 1.1.0\n" * 40
    github.add_release("v1.1.0", {"InRelease": newer})
    replaced_by: list[tuple[str, str]] = []
    real_replace = Path.replace

    def watch(self: Path, other: Any) -> Any:
        replaced_by.append((self.parent.name, self.name))
        assert Path(other).read_bytes() == IN_RELEASE  # the old file until the very rename
        return real_replace(self, other)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "replace", watch)
        fetched = fetch_conditional(
            session, latest(github, "InRelease"), target, limits=LIMITS, etag=old.etag
        )

    assert fetched.status == "fetched" and target.read_bytes() == newer
    assert fetched.etag == f'"{hashlib.sha256(newer).hexdigest()}"'
    [(directory, temporary)] = replaced_by
    assert directory == tmp_path.name and temporary.startswith(".InRelease.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["InRelease"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_a_failed_fetch_leaves_the_old_index_and_no_temporary(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    target = tmp_path / "InRelease"
    target.write_bytes(b"the previous index")
    github.stall_downloads(30)
    with pytest.raises(DownloadError, match=r"timed out: no data for 0\.5 s"):
        fetch_conditional(
            session,
            latest(github, "InRelease"),
            target,
            limits=Limits(max_bytes=1 << 20, read_timeout=0.5),
        )
    assert target.read_bytes() == b"the previous index"
    assert [path.name for path in tmp_path.iterdir()] == ["InRelease"]


def test_an_endless_index_is_cut_at_the_byte_cap(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    github.endless_download("InRelease")
    with pytest.raises(DownloadError, match="larger than the limit of 65536 bytes"):
        fetch_conditional(
            session, latest(github, "InRelease"), tmp_path / "InRelease", limits=Limits(65536)
        )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_index_names_the_url(
    github: FakeGitHub, session: requests.Session, tmp_path: Path
) -> None:
    url = latest(github, "Nothing")
    with pytest.raises(DownloadError, match="answered 404") as raised:
        fetch_conditional(session, url, tmp_path / "Nothing", limits=LIMITS)
    assert url in raised.value.message and not isinstance(raised.value, RateLimited)
