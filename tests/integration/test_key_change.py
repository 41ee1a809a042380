"""A change of release key: during the changeover the release tool signs with the outgoing
and the incoming key (both secret keys in $PICOHUB_SIGNING_KEY), and pins both in the
keyring it ships. A hub that knows either key verifies that release (picohub's gpgv check
and real apt alike); a release signed by the new key alone is refused by a hub that knows
only the old one, with what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.repository import INRELEASE, RepositoryError, verify_repository
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import Signer, signer_from_environment
from tests.conftest import need
from tests.integration.repo_fixtures import make_signer, served
from tests.integration.test_apt_repository import PrivateApt


def _secret(signer: Signer) -> str:
    armoured: str = signer.gpg.export_keys(signer.fingerprint, secret=True, expect_passphrase=False)
    return armoured


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, Signer]:
    """The outgoing key (K1) and the incoming one (K2)."""
    base = tmp_path_factory.mktemp("keys")
    return make_signer(base / "k1"), make_signer(base / "k2")


@pytest.fixture(scope="module")
def changeover(
    keys: tuple[Signer, Signer], monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Signer]:
    """The release tool's signer with both secret keys in the CI variable."""
    old, new = keys
    monkeypatch_module.setenv("PICOHUB_SIGNING_KEY", _secret(old) + _secret(new))
    with signer_from_environment() as signer:
        yield signer


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def both_signed(
    release_a: Build, changeover: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    return write_repository(
        release_a.debs,
        tmp_path_factory.mktemp("changeover") / "repo",
        changeover,
        version=release_a.version,
    )


def _keyring(signer: Signer, path: Path) -> Path:
    path.write_bytes(signer.public_key(armor=False))
    return path


def test_the_changeover_signs_with_both_keys_the_older_first(
    keys: tuple[Signer, Signer], changeover: Signer
) -> None:
    old, new = keys
    assert changeover.fingerprints == (old.fingerprint, new.fingerprint)


def test_a_hub_that_knows_either_key_verifies_the_changeover_release(
    keys: tuple[Signer, Signer], both_signed: Repository, tmp_path: Path
) -> None:
    for signer in keys:
        keyring = _keyring(signer, tmp_path / f"{signer.fingerprint}.gpg")
        verified = verify_repository(both_signed.directory, keyring)
        assert verified.release.fingerprint == signer.fingerprint
    # The keyring the changeover release pins (in picohub) holds both keys.
    verify_repository(both_signed.directory, both_signed.directory / KEYRING)


def test_a_release_signed_by_the_new_key_alone_tells_an_old_hub_what_to_do(
    release_a: Build, keys: tuple[Signer, Signer], tmp_path: Path
) -> None:
    old, new = keys
    after = write_repository(release_a.debs, tmp_path / "after", new, version=release_a.version)
    with pytest.raises(RepositoryError) as refused:
        verify_repository(after.directory, _keyring(old, tmp_path / "old.gpg"))
    message = str(refused.value)
    assert message.startswith(f"{INRELEASE} is not signed by a key in ")
    assert f"only by {new.fingerprint}" in message
    assert "install the release that brought the new key first" in message
    # The old key, once removed from the keyring, is refused.
    before = write_repository(release_a.debs, tmp_path / "before", old, version=release_a.version)
    with pytest.raises(RepositoryError, match=f"only by {old.fingerprint}"):
        verify_repository(before.directory, _keyring(new, tmp_path / "new.gpg"))


def test_a_tampered_changeover_release_is_refused(
    keys: tuple[Signer, Signer], both_signed: Repository, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in both_signed.directory.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    text = (copy / INRELEASE).read_text()
    (copy / INRELEASE).write_text(text.replace("Version: ", "Version: 9", 1))
    with pytest.raises(RepositoryError, match="is not signed by a key in"):
        verify_repository(copy, _keyring(keys[0], tmp_path / "old.gpg"))


def test_apt_takes_the_changeover_release_with_either_key(
    keys: tuple[Signer, Signer], both_signed: Repository, tmp_path: Path
) -> None:
    need(os.geteuid() == 0, "apt-get needs root, even in a private apt root")
    with served(both_signed.directory) as url:
        for signer in keys:
            keyring = _keyring(signer, tmp_path / f"{signer.fingerprint}.gpg")
            apt = PrivateApt(tmp_path / f"apt-{signer.fingerprint}", url, keyring)
            update = apt("update")
            assert update.returncode == 0, update.stdout + update.stderr
            assert apt("download", "picohub").returncode == 0
