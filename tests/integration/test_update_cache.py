"""The release cache reads back only what the pinned key signed: a cached release is
verified again on every load, and the cache's layout is the one its module gives."""

from __future__ import annotations

import shutil

import pytest

from picohub.errors import PicohubError
from picohub.repository import INRELEASE, RepositoryError
from picohub.settings import Settings
from picohub.update.cache import ReleaseCache
from picohub_release.repository import Repository
from tests.integration import bundle_fixtures
from tests.integration.bundle_fixtures import PACKAGES, cache_release

device = bundle_fixtures.device  # a hub with release A installed and cached
repo_b = bundle_fixtures.repo_b


def test_a_cached_release_loads_verified_with_its_packages(
    device: Settings, repository: Repository
) -> None:
    cache = ReleaseCache(device)
    loaded = cache.load(repository.version, PACKAGES)
    assert loaded.directory == device.cache_dir / "releases" / repository.version
    assert sorted(loaded.package_versions()) == sorted(PACKAGES)
    assert cache.versions() == [repository.version]


def test_a_tampered_package_is_refused(device: Settings, repository: Repository) -> None:
    deb = next((device.cache_dir / "releases" / repository.version).glob("picohub_*.deb"))
    deb.write_bytes(deb.read_bytes() + b"!")
    with pytest.raises(RepositoryError, match="the signed index says"):
        ReleaseCache(device).load(repository.version)


def test_another_releases_index_under_this_version_is_refused(
    device: Settings, repository: Repository, repo_b: Repository
) -> None:
    # A signed index is no proof of which folder it belongs in.
    folder = device.cache_dir / "releases" / repository.version
    for name in (INRELEASE, "Packages", "Packages.gz"):
        shutil.copyfile(repo_b.directory / name, folder / name)
    for deb in folder.glob("*.deb"):
        deb.unlink()
    with pytest.raises(RepositoryError, match="of another release"):
        ReleaseCache(device).load(repository.version)


def test_a_release_without_a_package_asked_for_is_refused(
    device: Settings, repo_b: Repository
) -> None:
    cache_release(device.cache_dir, repo_b, ("picohub",))
    cache = ReleaseCache(device)
    assert cache.load(repo_b.version, ["picohub"]).version == repo_b.version
    with pytest.raises(PicohubError, match="no picohub-web"):
        cache.load(repo_b.version, ["picohub", "picohub-web"])


def test_the_newest_older_release_is_the_rollback_target(
    device: Settings, repository: Repository, repo_b: Repository
) -> None:
    cache_release(device.cache_dir, repo_b, PACKAGES)
    cache = ReleaseCache(device)
    assert cache.versions() == [repository.version, repo_b.version]
    assert cache.newest_older_than(repo_b.version) == repository.version
    assert cache.newest_older_than(repository.version) is None
    assert cache.newest_older_than(None) is None


def test_a_version_that_is_not_plain_never_becomes_a_path(device: Settings) -> None:
    cache = ReleaseCache(device)
    for bad in ("../etc", "1.0/../../x", "", "v1.0", "1.0 "):
        with pytest.raises(RepositoryError, match="not a plain version"):
            cache.release_dir(bad)
        assert not cache.has(bad)
    assert cache.index_dir(None).name == "latest"
    assert cache.index_dir("v1.2.3").name == "v1.2.3"
