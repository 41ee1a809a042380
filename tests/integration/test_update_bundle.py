"""Making an offline bundle with ``picohub-update bundle``: the signed index and the
packages, flat and the same for the same release; a tampered cache is not bundled."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.repository import INRELEASE
from picohub.settings import Settings
from picohub.update.bundle import write_bundle
from picohub.update.cli import main
from picohub_release.repository import KEYRING, Repository
from tests.integration import bundle_fixtures
from tests.integration.bundle_fixtures import (
    INDEX,
    deb_of,
    members,
)

bundle_b = bundle_fixtures.bundle_b  # the fixtures
device = bundle_fixtures.device
repo_b = bundle_fixtures.repo_b


def test_a_bundle_holds_the_signed_index_and_the_packages_flat(
    bundle_b: Path, repo_b: Repository
) -> None:
    debs = sorted(path.name for path in repo_b.directory.glob("*.deb"))
    names = members(bundle_b)
    assert names[:3] == [INRELEASE, *INDEX] and sorted(names[3:]) == debs
    with tarfile.open(bundle_b) as archive:
        for member in archive.getmembers():
            assert member.isreg() and "/" not in member.name
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            assert data == (repo_b.directory / member.name).read_bytes()
    assert sorted(path.name for path in bundle_b.parent.iterdir()) == [bundle_b.name]


def test_a_bundle_from_a_release_directory_leaves_out_what_is_not_signed(
    repo_b: Repository, repository: Repository, tmp_path: Path
) -> None:
    made = write_bundle(repo_b.directory, repository.directory / KEYRING, tmp_path / "b.tar")
    names = members(made.path)
    assert made.version == repo_b.version and tuple(names) == made.members
    assert names[:3] == [INRELEASE, *INDEX] and len(names) == 7
    for unsigned in ("Release", "Release.gpg", KEYRING, "SHA256SUMS"):
        assert unsigned not in names


def test_the_same_release_gives_the_same_bundle(
    repo_b: Repository, repository: Repository, tmp_path: Path
) -> None:
    keyring = repository.directory / KEYRING
    one = write_bundle(repo_b.directory, keyring, tmp_path / "one.tar").path
    two = write_bundle(repo_b.directory, keyring, tmp_path / "two.tar").path
    assert one.read_bytes() == two.read_bytes()


def test_a_tampered_cache_is_not_bundled(
    device: Settings,
    repository: Repository,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deb = deb_of(repository, "picohub-web")
    cached = device.cache_dir / "releases" / repository.version / deb.name
    cached.write_bytes(bytes(deb.stat().st_size))
    assert main(["bundle", repository.version, str(tmp_path / "b.tar")]) == ExitCode.FAILURE
    assert "does not match the SHA-256 in the signed index" in capsys.readouterr().err
    assert not (tmp_path / "b.tar").exists()
    assert not list(tmp_path.glob(".b.tar.*"))
