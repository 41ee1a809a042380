"""Applying an offline bundle with real signed repositories and the pinned keyring: opened
and verified on another hub, refused (with the cache left as it was) when signed by
another key, tampered with, older than what is installed, or incomplete.

apt is not run here (the system test does that): the install step is replaced by a
recorder, so these tests see exactly what would be installed and what rolled back to."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.repository import INRELEASE, RepositoryError
from picohub.schema import SCHEMA_VERSION
from picohub.settings import Settings
from picohub.update.bundle import BundleError, write_bundle
from picohub.update.bundle_apply import apply_bundle
from picohub.update.cache import ReleaseCache
from picohub.update.cli import main
from picohub.update.config import UpdateConfig
from picohub.update.journal import Journal, Kind, Result
from picohub.update.status import Phase, read_status
from picohub.web.database import migrate
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository
from tests.integration import bundle_fixtures
from tests.integration.bundle_fixtures import (
    PACKAGES,
    Installs,
    cache_release,
    deb_of,
    members,
    rewritten,
    snapshot,
)
from tests.integration.repo_fixtures import hub_settings, make_repository, make_signer

bundle_b = bundle_fixtures.bundle_b  # the fixtures
device = bundle_fixtures.device
installs = bundle_fixtures.installs
repo_b = bundle_fixtures.repo_b


def test_a_bundle_is_verified_and_its_release_moved_into_the_cache(
    device: Settings,
    bundle_b: Path,
    repo_b: Repository,
    repository: Repository,
    installs: Installs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICOHUB_UPDATE_IN_UNIT", "1")
    assert main(["apply", "--bundle", str(bundle_b)]) == ExitCode.OK

    [(fetched, packages, installed)] = installs.calls
    assert installed == repository.version and packages == list(PACKAGES)
    cached = device.cache_dir / "releases" / repo_b.version
    assert (fetched.version, fetched.directory) == (repo_b.version, cached)
    assert sorted(path.name for path in fetched.debs) == sorted(
        path.name for path in repo_b.directory.glob("*.deb")
    )
    for name in members(bundle_b):
        assert (cached / name).read_bytes() == (repo_b.directory / name).read_bytes()
    # The rollback target: the installed release, kept in the cache, verified again.
    previous = ReleaseCache(device).load(repository.version, PACKAGES)
    assert previous.directory == device.cache_dir / "releases" / repository.version
    assert len(previous.debs) == len(PACKAGES)
    # Nothing else left behind (but the cache's lock); the bundle itself is untouched.
    assert sorted(path.name for path in device.cache_dir.iterdir()) == [".lock", "releases"]
    assert bundle_b.exists()


def test_without_the_installed_release_in_the_cache_there_is_no_rollback(
    device: Settings,
    bundle_b: Path,
    repository: Repository,
    installs: Installs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shutil.rmtree(device.cache_dir / "releases" / repository.version)
    assert apply_bundle(UpdateConfig(), device, bundle_b) == ExitCode.OK
    assert len(installs.calls) == 1
    assert f"no rollback possible: release {repository.version}" in caplog.text


def test_unsigned_extras_in_a_bundle_are_ignored_and_not_kept(
    device: Settings,
    bundle_b: Path,
    repo_b: Repository,
    installs: Installs,
    tmp_path: Path,
) -> None:
    # A hand-made bundle with the whole release folder in it: the key and sums too.
    extras = {name: (repo_b.directory / name).read_bytes() for name in (KEYRING, "SHA256SUMS")}
    with tarfile.open(bundle_b, "a") as archive:
        for name, data in extras.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert apply_bundle(UpdateConfig(), device, bundle_b) == ExitCode.OK
    cached = device.cache_dir / "releases" / repo_b.version
    assert not (cached / KEYRING).exists() and not (cached / "SHA256SUMS").exists()
    assert len(installs.calls) == 1


def _refused(
    device: Settings, bundle: Path, installs: Installs, error: type[Exception], match: str
) -> None:
    """Applying ``bundle`` fails with ``error``; nothing installed, the cache as it was,
    the failure recorded."""
    before = snapshot(device.cache_dir)
    with pytest.raises(error, match=match) as caught:
        apply_bundle(UpdateConfig(), device, bundle)
    assert installs.calls == []
    assert snapshot(device.cache_dir) == before
    status = read_status(device.update_status)
    assert status.phase is Phase.FAILED
    assert status.message == f"nothing was changed: {caught.value}"


def test_a_bundle_signed_by_another_key_is_refused(
    device: Settings, repo_b: Repository, installs: Installs, tmp_path: Path
) -> None:
    other = make_signer(tmp_path / "other-key")
    foreign = make_repository(
        Build(repo_b.version, tuple(repo_b.directory.glob("*.deb"))), tmp_path / "foreign", other
    )
    bundle = write_bundle(foreign.directory, foreign.directory / KEYRING, tmp_path / "f.tar")
    _refused(device, bundle.path, installs, RepositoryError, "InRelease is not signed by a key in")


def test_a_tampered_package_in_a_bundle_is_refused_and_not_cached(
    device: Settings, bundle_b: Path, repo_b: Repository, installs: Installs, tmp_path: Path
) -> None:
    deb = deb_of(repo_b, "picohub")
    data = bytearray(deb.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = rewritten(bundle_b, tmp_path / "tampered.tar", {deb.name: bytes(data)})
    _refused(
        device, tampered, installs, RepositoryError, "does not match the SHA-256 in the signed"
    )
    assert not (device.cache_dir / "releases" / repo_b.version).exists()


def test_a_tampered_index_in_a_bundle_is_refused(
    device: Settings, bundle_b: Path, repository: Repository, installs: Installs, tmp_path: Path
) -> None:
    # B's signed InRelease with A's (also signed, but other) Packages.
    packages = (repository.directory / "Packages").read_bytes()
    mixed = rewritten(bundle_b, tmp_path / "mixed.tar", {"Packages": packages})
    _refused(device, mixed, installs, RepositoryError, "Packages")


def test_a_bundle_without_its_index_is_refused(
    device: Settings, bundle_b: Path, installs: Installs, tmp_path: Path
) -> None:
    bare = rewritten(bundle_b, tmp_path / "bare.tar", {INRELEASE: None})
    _refused(device, bare, installs, BundleError, "is not a picohub bundle: it has no InRelease")


@pytest.mark.parametrize("damage", ["truncated", "not-a-tar", "symlink"])
def test_a_damaged_bundle_is_refused(
    device: Settings, bundle_b: Path, installs: Installs, tmp_path: Path, damage: str
) -> None:
    target = tmp_path / "damaged.tar"
    if damage == "truncated":
        target.write_bytes(bundle_b.read_bytes()[: bundle_b.stat().st_size // 2])
        match = "is truncated or damaged after its member"
    elif damage == "not-a-tar":
        target.write_text("hello\n" * 200)
        match = "is not a tar file"
    else:
        shutil.copyfile(bundle_b, target)
        with tarfile.open(target, "a") as archive:
            link = tarfile.TarInfo("evil")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
            archive.addfile(link)
        match = "'evil' is a symbolic link, not a regular file"
    _refused(device, target, installs, BundleError, match)


def test_an_older_bundle_is_refused(
    tmp_path: Path,
    repository: Repository,
    repo_b: Repository,
    installs: Installs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hub on B, given a bundle of A (signed, valid, and old: a replay).
    keyring = repository.directory / KEYRING
    hub = hub_settings(
        tmp_path / "hub", keyring, monkeypatch, **dict.fromkeys(PACKAGES, repo_b.version)
    )
    cache_release(hub.cache_dir, repo_b, PACKAGES)
    old = write_bundle(repository.directory, keyring, tmp_path / "a.tar")
    _refused(hub, old.path, installs, BundleError, f"older than the installed {repo_b.version}")


def test_a_bundle_of_the_installed_release_changes_nothing(
    device: Settings, repository: Repository, installs: Installs, tmp_path: Path
) -> None:
    same = write_bundle(repository.directory, device.archive_keyring, tmp_path / "a.tar")
    before = snapshot(device.cache_dir)
    assert apply_bundle(UpdateConfig(), device, same.path) == ExitCode.OK
    assert installs.calls == [] and snapshot(device.cache_dir) == before
    status = read_status(device.update_status)
    assert status.phase is Phase.DONE and "changes nothing installed here" in status.message


def test_a_bundle_without_a_package_the_hub_needs_is_refused(
    device: Settings, repo_b: Repository, installs: Installs, tmp_path: Path
) -> None:
    # Made on a hub that has picohub only: this hub has picohub-web and -firmware too.
    other = tmp_path / "other"
    cache_release(other, repo_b, ("picohub",))
    partial = write_bundle(
        other / "releases" / repo_b.version, device.archive_keyring, tmp_path / "p.tar"
    )
    assert len(partial.members) == 4
    _refused(device, partial.path, installs, BundleError, "the bundle has no picohub-web")


def test_a_refusal_in_the_unit_is_an_error_message_and_exit_code(
    device: Settings,
    bundle_b: Path,
    repo_b: Repository,
    installs: Installs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PICOHUB_UPDATE_IN_UNIT", "1")
    deb = deb_of(repo_b, "picohub-firmware")
    tampered = rewritten(bundle_b, tmp_path / "t.tar", {deb.name: bytes(deb.stat().st_size)})
    assert main(["apply", "--bundle", str(tampered)]) == ExitCode.FAILURE
    assert f"error: {deb.name} does not match the SHA-256" in capsys.readouterr().err
    assert installs.calls == []


def test_a_stale_scratch_folder_is_cleared(
    device: Settings, bundle_b: Path, installs: Installs
) -> None:
    stale = device.cache_dir / ".bundle-left-by-a-power-cut"
    stale.mkdir()
    (stale / "InRelease").write_text("half")
    assert apply_bundle(UpdateConfig(), device, bundle_b) == ExitCode.OK
    assert not stale.exists()


def _uploaded(device: Settings, bundle: Path) -> Path:
    """``bundle`` as the update trigger leaves an upload from the web page."""
    device.incoming_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = device.incoming_dir / "bundle-0123456789abcdef.tar"
    shutil.copyfile(bundle, taken)
    return taken


def test_an_uploaded_bundle_is_removed_once_applied(
    device: Settings, bundle_b: Path, installs: Installs
) -> None:
    # The cache keeps releases and nothing else: the upload is not kept beside them.
    taken = _uploaded(device, bundle_b)
    assert apply_bundle(UpdateConfig(), device, taken) == ExitCode.OK
    assert len(installs.calls) == 1
    assert not taken.exists()
    assert bundle_b.exists()  # a bundle from anywhere else (a USB stick) is the user's


def test_a_refused_upload_is_removed_too(
    device: Settings, bundle_b: Path, repo_b: Repository, installs: Installs, tmp_path: Path
) -> None:
    deb = deb_of(repo_b, "picohub")
    tampered = rewritten(bundle_b, tmp_path / "tampered.tar", {deb.name: b"not a deb"})
    taken = _uploaded(device, tampered)
    with pytest.raises(RepositoryError):
        apply_bundle(UpdateConfig(), device, taken)
    assert installs.calls == []
    assert not taken.exists()
    assert tampered.exists()


def test_the_database_is_saved_before_the_install_in_the_journal(
    device: Settings, bundle_b: Path, repository: Repository, installs: Installs
) -> None:
    device.state_dir.mkdir(parents=True)
    migrate(device.database)
    stale = device.update_snapshots / "an-older-transaction.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from the transaction before")
    assert apply_bundle(UpdateConfig(), device, bundle_b) == ExitCode.OK
    txn = Journal(device).read()
    assert txn is not None and txn.result is Result.DONE and txn.kind is Kind.BUNDLE
    assert txn.snapshot is not None and txn.snapshot.schema == SCHEMA_VERSION
    assert txn.snapshot_release == repository.version  # taken under the installed release
    # One snapshot at a time: this transaction's.
    assert sorted(device.update_snapshots.iterdir()) == [txn.snapshot.path]
